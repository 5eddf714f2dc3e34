# Everything declarative lives in pyproject.toml; setup.py exists because cffi's
# setuptools hook is configured through the cffi_modules keyword, and because the C
# extension is optional: where no C compiler works the install still succeeds, prints
# one warning, and native.kernels runs its NumPy backend (native/_backend.py).
#   BACKPROP_NUMPY_ONLY=1  build no C extension (the NumPy backend; a pure-Python wheel)
#   BACKPROP_REQUIRE_C=1   a failed C build fails the install (wheel builders, CI)
import os
import re
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.errors import CCompilerError, ExecError, PlatformError

NUMPY_ONLY = os.environ.get("BACKPROP_NUMPY_ONLY", "") not in ("", "0")
REQUIRE_C = os.environ.get("BACKPROP_REQUIRE_C", "") not in ("", "0")

WARNING = """
======================================================================
WARNING: backprop-ch5 installed WITHOUT its C kernels: {why}
  Everything still works (training, pictures, gradient checks) on the
  NumPy backend, with the same results up to rounding; a training epoch
  is 2.5-2.7x slower (float32 MNIST epoch, Intel Xeon, 2026-12-05:
  benchmarks/bench_numpy_backend.py). `python -c "import native.kernels
  as k; print(k.simd_path())"` says which backend runs.
  To get the C kernels, install a C compiler:
    Windows:        "Build Tools for Visual Studio" (C++ build tools)
    macOS:          xcode-select --install
    Debian/Ubuntu:  sudo apt-get install build-essential
  then reinstall from the project folder:  python -m pip install -e .
  (an sdist install: add --no-cache-dir --force-reinstall, or pip reuses
  this build). BACKPROP_NUMPY_ONLY=1 skips the C build on purpose.
======================================================================
"""


class optional_build_ext(build_ext):
    """build_ext whose C extension may fail to build: one warning instead of an error, and
    nothing of it copied or installed (native/_backend.py then loads the NumPy backend)."""

    failed = ()

    def run(self):
        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError) as e:   # e.g. MSVC not found
            self._without_c(e, self.extensions)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except (CCompilerError, ExecError, PlatformError) as e:
            self._without_c(e, [ext])

    def _without_c(self, error, exts):
        if REQUIRE_C:
            raise error
        self.failed = tuple(self.failed) + tuple(e.name for e in exts)
        cc = getattr(getattr(self, "compiler", None), "compiler_so", None) or ["the C compiler"]
        msg = " ".join(str(error).split())
        status = re.search(r"exit (?:status|code) (-?\d+)", msg)
        detail = (f"{cc[0]} failed with exit status {status.group(1)}" if status
                  else msg if len(msg) < 120 else msg[:120] + "...")   # e.g. MSVC is not installed
        why = f"no working C compiler ({detail})"
        sys.stderr.write(WARNING.format(why=why))
        sys.stderr.flush()

    def _built(self):
        return [e for e in self.extensions if e.name not in self.failed]

    def copy_extensions_to_source(self):       # pip install -e .: the in-place copy
        everything, self.extensions = self.extensions, self._built()
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = everything

    def get_outputs(self):
        everything, self.extensions = self.extensions, self._built()
        try:
            return super().get_outputs()
        finally:
            self.extensions = everything

    def get_output_mapping(self):
        everything, self.extensions = self.extensions, self._built()
        try:
            return super().get_output_mapping()
        finally:
            self.extensions = everything


class numpy_only_build_py(build_py):
    def run(self):
        super().run()
        sys.stderr.write(WARNING.format(why="BACKPROP_NUMPY_ONLY is set"))


if NUMPY_ONLY:
    setup(cmdclass={"build_py": numpy_only_build_py})
else:
    # cffi marks the extension py_limited_api; the wheel tag says so: cp310-abi3, one wheel
    # for every CPython >= 3.10 (native/_kernels.abi3.so).
    setup(cffi_modules=["build_ffi.py:ffibuilder"],
          cmdclass={"build_ext": optional_build_ext},
          options={"bdist_wheel": {"py_limited_api": "cp310"}})
