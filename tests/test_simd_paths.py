"""The native API, kernel, sparse and cross-implementation tests on every SIMD path this
CPU can run, not only the default one, and on the NumPy backend (BACKPROP_NUMPY_ONLY=1,
what an install without a C compiler runs; tests/conftest.py skips its C_ONLY claims there).

Each path other than this run's own is selected in a fresh process (the choice is made
once per process, from BACKPROP_FORCE_GENERIC / BACKPROP_NO_AVX512 and the CPU), which
runs those test files whole under BACKPROP_EXPECT_PATH=<path> (tests/conftest.py refuses
to start on any other path). A path the CPU lacks is skipped, saying so.
"""
import os
import subprocess
import sys

import pytest

from native import kernels as kern

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_FILES = ["tests/test_kernels.py", "tests/test_sparse.py", "tests/test_cross_impl.py"]
# how each path is asked for; the CPU decides whether it is granted
PATH_ENV = {
    "generic": {"BACKPROP_FORCE_GENERIC": "1"},
    "avx2-fma": {"BACKPROP_NO_AVX512": "1"},
    "avx512": {},
    "neon": {},
    "numpy": {"BACKPROP_NUMPY_ONLY": "1"},
}


def clean_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    if os.environ.get("BACKPROP_REQUIRE_REGISTRY"):
        env["BACKPROP_REQUIRE_REGISTRY"] = os.environ["BACKPROP_REQUIRE_REGISTRY"]
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def path_granted(path):
    """The path a fresh process runs when `path` is asked for."""
    r = subprocess.run([sys.executable, "-c", "from native import kernels as k; print(k.simd_path())"],
                       cwd=ROOT, env=clean_env(PATH_ENV[path]), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.parametrize("path", list(PATH_ENV))
def test_native_tests_pass_on_every_simd_path_the_cpu_runs(path):
    granted = path_granted(path).split(" (")[0]      # "numpy (why)" -> "numpy"
    if path == "numpy":
        assert granted == "numpy", "BACKPROP_NUMPY_ONLY=1 must give the NumPy backend"
    elif kern.BACKEND == "numpy":
        pytest.skip(f"no C extension in this install: {kern.simd_path()}")
    elif path == "generic":
        assert granted == "generic", "BACKPROP_FORCE_GENERIC=1 must give the portable path"
    elif granted != path:
        pytest.skip(f"this CPU (or build) has no {path} path: asking for it gives {granted}")
    if path == kern.simd_path().split(" (")[0] and not any(k.startswith("BACKPROP_") and k != "BACKPROP_REQUIRE_REGISTRY"
                                            for k in os.environ):
        pytest.skip(f"{path} is this run's own path: the suite itself runs these files on it")
    cmd = [sys.executable, "-m", "pytest", *TEST_FILES, "-q", "-x", "-p", "no:cacheprovider"]
    r = subprocess.run(cmd, cwd=ROOT, env=clean_env({**PATH_ENV[path], "BACKPROP_EXPECT_PATH": path}),
                       capture_output=True, text=True, timeout=1800)
    tail = "\n".join(r.stdout.splitlines()[-15:]) + r.stderr[-2000:]
    assert r.returncode == 0, f"on the {path} path:\n{tail}"
    assert " passed" in r.stdout and " failed" not in r.stdout, tail
