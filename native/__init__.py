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
# not a traceback. NumPy turns a KeyboardInterrupt during its import into an ImportError,
# so the interrupt is held until the imports are done. (argv[0] is "-m" only while -m
# looks for the module: an `import native` in a program is left alone.)
_held, _previous = [], None
if sys.argv[:1] == ["-m"]:
    import signal as _signal
    try:
        _previous = _signal.signal(_signal.SIGINT, lambda *_: _held.append(1))
    except ValueError:          # not the main thread
        pass
try:
    from .network import (backward, cross_entropy, forward, init_network,  # noqa: F401
                          numerical_gradient, sgd_update, train)
except KernelBuildError as e:
    # `python -m native.…` with a C build that cannot serve: the fix in one line, no traceback.
    if sys.argv[:1] == ["-m"]:
        sys.stderr.write(f"error: {e}\n")
        raise SystemExit(1) from None
    raise
except KeyboardInterrupt:
    if sys.argv[:1] == ["-m"]:
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
        _previous = None
        sys.stderr.write("\ninterrupted while starting; nothing was done\n")
        raise SystemExit(130) from None
    raise
finally:
    if _previous is not None:       # after a Ctrl-C, a second one may not cut the exit short
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN if _held else _previous)
if _held:
    sys.stderr.write("\ninterrupted while starting; nothing was done\n")
    raise SystemExit(130)

__all__ = ["init_network", "forward", "cross_entropy", "backward", "sgd_update",
           "numerical_gradient", "train"]
