"""cffi builder for native._kernels (out-of-line API mode).

Every ``native/csrc/*.h`` is handed verbatim to ``cdef`` (so headers hold plain
declarations only; private headers are ``*.inc``) and every ``native/csrc/*.c`` is
compiled into the module, so a new kernel file needs no change here.  ``pip install -e .``
runs this through setup.py's ``cffi_modules``; ``python build_ffi.py`` builds in place
for quick iteration.

Flags, per compiler family (compiler_family(); see docs/platforms.md):
  GCC and clang: -O3 -std=c99 -fno-trapping-math -ffp-contract=off.  -fno-trapping-math
    lets the compiler vectorize loops with a select (ReLU'); -ffp-contract=off keeps
    a*b + c two roundings in the plain C (clang would fuse it by default, GCC does not
    in ISO C mode), so every compiler computes the same bits; the SIMD kernels write
    their fused multiply-adds out as intrinsics.  Never -ffast-math (it would flip
    flush-to-zero for the whole process).  OpenMP (-fopenmp, compile and link) if a quick
    probe compiles and links an OpenMP program and BACKPROP_NO_OPENMP is unset.
  MSVC (cl.exe, clang-cl): /O2 /std:c11 (restrict, _Pragma); contraction is off by
    default there.  OpenMP (/openmp) only with BACKPROP_OPENMP=1: it needs
    vcomp140.dll, which python.org's CPython does not ship.
The SIMD code is selected at run time inside the C code (native/csrc/kernels_select.c),
so the build itself is portable.  The SHA-256 of each C source is compiled in
(bp_build_hash); native/kernels.py compares them with the sources on disk and asks for a
rebuild when one differs.
"""
import glob
import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile

import cffi

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(ROOT, "native", "csrc")


def _rel(path):
    """Path relative to ROOT: setuptools runs from ROOT, and compile(tmpdir=ROOT) chdirs there."""
    return os.path.relpath(path, ROOT)


def source_hashes(csrc=CSRC):
    """'name=sha256[:16];...' over native/csrc/*.c, *.h, *.inc (native/kernels.py parses it)."""
    items = []
    for path in sorted(glob.glob(os.path.join(csrc, "*.[ch]")) + glob.glob(os.path.join(csrc, "*.inc"))):
        with open(path, "rb") as f:
            items.append("%s=%s" % (os.path.basename(path), hashlib.sha256(f.read()).hexdigest()[:16]))
    return ";".join(items)


def _cc():
    """The C compiler setuptools will run: $CC, else Python's own (sysconfig), as a list."""
    return (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()


def compiler_family():
    """'msvc' (cl.exe or clang-cl: MSVC's flags), 'clang' or 'gcc' (any other cc)."""
    cc = os.environ.get("CC")
    if not cc:
        if os.name == "nt":          # setuptools builds with MSVC on Windows unless told otherwise
            return "msvc"
        cc = " ".join(_cc())
    name = os.path.basename(cc.split()[0]).lower()
    if name in ("cl", "cl.exe", "clang-cl", "clang-cl.exe"):
        return "msvc"
    try:
        out = subprocess.run(cc.split() + ["--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return "clang" if "clang" in out.lower() or "clang" in name else "gcc"


def _openmp_flags(family):
    """The OpenMP flag for compile and link, or [] (see the module docstring)."""
    if os.environ.get("BACKPROP_NO_OPENMP", "").strip().lower() not in ("", "0", "false", "no"):
        return []
    if family == "msvc":
        return ["/openmp"] if os.environ.get("BACKPROP_OPENMP") == "1" else []
    code = "#include <omp.h>\nint main(void){int n=0;\n#pragma omp parallel\n{n=omp_get_num_threads();}\nreturn n<1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        try:
            r = subprocess.run(_cc() + ["-fopenmp", src, "-o", os.path.join(tmp, "probe")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return []
    return ["-fopenmp"] if r.returncode == 0 else []


FLAGS = {
    "gcc": ["-O3", "-std=c99", "-fno-trapping-math", "-ffp-contract=off"],
    "clang": ["-O3", "-std=c99", "-fno-trapping-math", "-ffp-contract=off"],
    "msvc": ["/O2", "/std:c11"],
}


headers = sorted(glob.glob(os.path.join(CSRC, "*.h")))
sources = sorted(glob.glob(os.path.join(CSRC, "*.c")))
family = compiler_family()
omp = _openmp_flags(family)
HASHES = source_hashes()

ffibuilder = cffi.FFI()
ffibuilder.cdef("\n".join(open(h, encoding="utf-8").read() for h in headers)
                + "\nconst char *bp_build_hash(void);\n")
ffibuilder.set_source(
    "native._kernels",
    "".join('#include "%s"\n' % os.path.basename(h) for h in headers)
    + 'static const char *bp_build_hash(void) { return "%s"; }\n' % HASHES,
    sources=[_rel(s) for s in sources],
    include_dirs=[_rel(CSRC)],
    extra_compile_args=FLAGS[family] + omp,
    extra_link_args=omp if family != "msvc" else [],
)

if __name__ == "__main__":
    # Build in place, for quick iteration: native/_kernels*.so next to native/kernels.py.
    # cffi's C code defines Py_LIMITED_API (except on debug builds and Windows), and
    # `pip install -e .` names the module _kernels.abi3.so; this build is renamed to
    # the same name, so the two ways never leave two modules that shadow each other.
    # cffi's compile() reads pyproject.toml through setuptools, whose checks of the
    # `license = "MIT"` form need setuptools 77; an older one fails with a page of
    # schema errors. (pip install -e . builds in its own environment and is not affected.)
    import setuptools
    _st = tuple(int(x) if x.isdigit() else 0 for x in setuptools.__version__.split(".")[:2])
    if _st < (77, 0):
        sys.exit(f"build_ffi.py needs setuptools >= 77 (pyproject.toml's license field), found "
                 f"{setuptools.__version__}: python -m pip install -U 'setuptools>=77'")
    print("compiler:", family, "| openmp:", "yes" if omp else "no", "| sources:", ", ".join(os.path.basename(s) for s in sources))
    built = os.path.abspath(ffibuilder.compile(tmpdir=ROOT, verbose="-v" in sys.argv))
    if os.name == "posix" and sys.implementation.name == "cpython" and not hasattr(sys, "gettotalrefcount"):
        final = os.path.join(ROOT, "native", "_kernels.abi3.so")
        os.replace(built, final)
        built = final
    for other in glob.glob(os.path.join(ROOT, "native", "_kernels.*.so")):
        if os.path.abspath(other) != built:
            os.remove(other)
    print("built", os.path.relpath(built, ROOT))
