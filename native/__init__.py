"""The chapter on NumPy arrays, with the heavy loops in C kernels (cffi), or in NumPy
where the C extension was not built (``native.kernels.simd_path()`` says which).

Same API as ``pure`` — the chapter's functions with the chapter's shapes
(``help(pure)`` lists them): init_network, forward, cross_entropy, backward,
sgd_update, numerical_gradient, train. The validated kernel
wrappers are in ``native.kernels``; MNIST in ``native.data``; the trainer is
``python -m native.train``.
"""
import sys

from ._backend import KernelBuildError, one_blas_thread_for_commands

if sys.argv[:1] == ["-m"]:      # `python -m native.…` is starting (see the note below)
    one_blas_thread_for_commands()

# Ctrl-C while `python -m native.…` starts (importing NumPy can take a second): one line,
# not a traceback. NumPy turns a KeyboardInterrupt during its import into an ImportError, and
# after this package come the command module's own imports: the interrupt is held from here
# until the command's main block runs inside its try (pure.checks.exit_with releases it).
# (argv[0] is "-m" only while -m looks for the module: an `import native` in a program is
# left alone.)
class _HoldCtrlC:
    """A SIGINT handler that counts Ctrl-C instead of raising it (pure.checks.release_ctrl_c)."""
    holds_ctrl_c = True

    def __init__(self):
        self.previous, self.held = None, 0

    def __call__(self, *_):
        self.held += 1


_starting = sys.argv[:1] == ["-m"]
_hold = _HoldCtrlC()
if _starting:
    import signal as _signal
    try:
        _hold.previous = _signal.signal(_signal.SIGINT, _hold)
    except ValueError:          # not the main thread: signals are not ours to hold
        pass


def _end_start_up(message, code):
    """Leave `python -m native.…` before the command runs: one line, Ctrl-C ignored from here
    (not left held: Python's shutdown puts a handler of its own back to the system default,
    and a Ctrl-C then would end the process by the signal)."""
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    sys.stderr.write(message)
    raise SystemExit(code)


try:
    from .network import (backward, cross_entropy, forward, init_network,  # noqa: F401
                          numerical_gradient, sgd_update, train)
except KernelBuildError as e:
    # `python -m native.…` with a C build that cannot serve: the fix in one line, no traceback.
    if _starting:
        _end_start_up(f"error: {e}\n", 1)
    raise
except KeyboardInterrupt:
    if _starting:
        _end_start_up("\ninterrupted while starting; nothing was done\n", 130)
    raise
if _hold.held:
    _end_start_up("\ninterrupted while starting; nothing was done\n", 130)

__all__ = ["init_network", "forward", "cross_entropy", "backward", "sgd_update",
           "numerical_gradient", "train"]
