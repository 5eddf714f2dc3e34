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
_starting = sys.argv[:1] == ["-m"]
if _starting:
    from pure import checks as _checks
    _checks.hold_ctrl_c()
try:
    from .network import (backward, cross_entropy, forward, init_network,  # noqa: F401
                          numerical_gradient, sgd_update, train)
except KernelBuildError as e:
    # `python -m native.…` with a C build that cannot serve: the fix in one line, no traceback.
    if _starting:
        sys.stderr.write(f"error: {e}\n")
        raise SystemExit(1) from None
    raise
except KeyboardInterrupt:
    if _starting:
        _checks.hold_ctrl_c()       # (held already; a second one may not cut the exit short)
        sys.stderr.write("\ninterrupted while starting; nothing was done\n")
        raise SystemExit(130) from None
    raise
if _starting and _checks.ctrl_c_held():
    sys.stderr.write("\ninterrupted while starting; nothing was done\n")
    raise SystemExit(130)

__all__ = ["init_network", "forward", "cross_entropy", "backward", "sgd_update",
           "numerical_gradient", "train"]
