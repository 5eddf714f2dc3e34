"""Which kernels ``native.kernels`` runs: the C extension, or the NumPy backend.

- ``BACKPROP_NUMPY_ONLY=1`` in the environment: the NumPy backend, even where the C
  extension is built (the same variable at install time skips building it; setup.py).
- No ``native._kernels`` at all (the install found no working C compiler): the NumPy
  backend, and ``simd_path()`` says so — the way MarkupSafe and PyYAML keep their
  C speed-ups optional.
- A ``native._kernels`` that is there but cannot serve — out of date with the C
  sources next to it, built for another Python, missing a library — is an error
  (KernelBuildError), never a quiet switch to the slower backend: the user believes
  the C kernels run. ``python -m native.…`` prints it as one line (native/__init__.py).
"""
import glob
import hashlib
import importlib.util
import os
import sys

NUMPY_ONLY_ENV = "BACKPROP_NUMPY_ONLY"
_HERE = os.path.dirname(os.path.abspath(__file__))
_FIX = (f"run `python -m pip install -e .` in the project root to rebuild it, "
        f"or set {NUMPY_ONLY_ENV}=1 to use the NumPy backend")


class KernelBuildError(ImportError):
    """native._kernels exists but cannot be used; the message says how to fix it."""


def _check_build(ffi, lib):
    """The compiled module must come from the C sources next to it: each native/csrc file
    on disk must have the SHA-256 recorded at build time (see build_ffi.source_hashes);
    files absent on disk (an install without them) are not compared."""
    try:
        recorded = ffi.string(lib.bp_build_hash()).decode()
    except AttributeError:
        raise KernelBuildError(f"native._kernels is out of date (it records no source hashes): {_FIX}") from None
    built = dict(item.split("=", 1) for item in recorded.split(";") if item)
    csrc = os.path.join(_HERE, "csrc")
    changed = []
    for path in sorted(glob.glob(os.path.join(csrc, "*.[ch]")) + glob.glob(os.path.join(csrc, "*.inc"))):
        with open(path, "rb") as f:
            if built.get(os.path.basename(path)) != hashlib.sha256(f.read()).hexdigest()[:16]:
                changed.append(os.path.basename(path))
    if changed:
        raise KernelBuildError(f"native._kernels is out of date (changed or new since the last build: "
                               f"{', '.join(changed)}): {_FIX}")


def load():
    """(ffi, lib, note): the backend's ffi and lib, and "" for C or the NumPy backend's
    reason, in the words simd_path() appends to "numpy"."""
    if os.environ.get(NUMPY_ONLY_ENV, "") not in ("", "0"):
        from ._numpy_backend import ffi, lib
        return ffi, lib, f" ({NUMPY_ONLY_ENV}={os.environ[NUMPY_ONLY_ENV]})"
    try:
        from ._kernels import ffi, lib
    except ModuleNotFoundError as e:
        if e.name != __package__ + "._kernels":      # it is there, but needs a module that is not
            raise KernelBuildError(f"native._kernels cannot be loaded ({e}): {_FIX}") from None
        others = sorted(os.path.basename(p) for p in glob.glob(os.path.join(_HERE, "_kernels.*"))
                        if p.endswith((".so", ".pyd", ".dylib")))
        if others:      # a build this Python does not load: another version's, or a debug build
            raise KernelBuildError(f"native/{others[0]} is not a module this Python can load "
                                   f"(built for another Python?): {_FIX}") from None
        from ._numpy_backend import ffi, lib
        return ffi, lib, " (no C extension: it was not built; docs/platforms.md says how)"
    except ImportError as e:
        raise KernelBuildError(f"native._kernels cannot be loaded ({e}): {_FIX}") from None
    _check_build(ffi, lib)
    return ffi, lib, ""


BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread_for_commands():
    """For `python -m native.…` on the NumPy backend: NumPy's BLAS on one thread, as the C
    kernels run by default (the trainer's --threads 1), unless the user set one of
    BLAS_THREAD_VARS. BLAS's own thread pool is slower on the chapter's small products
    (64x784 by 784x64): 2 MNIST epochs took 9.3 s against 1.6 s on one thread (2-core
    Xeon, 2026-12-05). It must run before NumPy is imported; a program that imports
    native itself keeps its own settings (this is called only for the commands)."""
    if "numpy" in sys.modules or any(v in os.environ for v in BLAS_THREAD_VARS):
        return
    if (os.environ.get(NUMPY_ONLY_ENV, "") not in ("", "0")
            or importlib.util.find_spec(__package__ + "._kernels") is None):
        for v in BLAS_THREAD_VARS:
            os.environ[v] = "1"
