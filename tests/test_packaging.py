"""Packaging: what a wheel or sdist of this tree carries.

The fast test checks the configuration itself, offline: every folder of
shipped files under pure/ and native/ is in pyproject's ``packages`` list (a
folder left out is either missing from the wheel, as native/data would be, or
makes setuptools warn on every build, as native/csrc did).

The full check builds the sdist and the wheel with ``python -m build`` and
trains with the wheel installed into a fresh virtual environment, outside the
source tree. It needs the package index (build isolation fetches setuptools
and cffi) and several minutes of compiling on a busy 2-core machine, so it
runs only when BACKPROP_BUILD_TEST=1 (CI sets it).
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _configured_packages():
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    with open(ROOT / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)
    return config, set(config["tool"]["setuptools"]["packages"])


def _package_folders():
    """Dotted names of the folders under pure/ and native/ that hold files a
    user gets (Python modules, C sources)."""
    found = set()
    for top in ("pure", "native"):
        for folder, dirs, files in os.walk(ROOT / top):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
            if any(f.endswith((".py", ".c", ".h", ".inc")) for f in files):
                found.add(".".join(Path(folder).relative_to(ROOT).parts))
    return found


def test_every_folder_of_shipped_files_is_in_the_packages_list():
    config, listed = _configured_packages()
    folders = _package_folders()
    assert {"pure", "native", "native.data", "native.csrc"} <= folders
    assert folders - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - folders == set(), "these listed packages do not exist"
    # the C sources ship with the wheel (native/kernels.py checks a build against them)
    data = config["tool"]["setuptools"]["package-data"]["native.csrc"]
    assert sorted(data) == ["*.c", "*.h", "*.inc"]


def _warnings(log: str):
    """Build output lines that warn about something (PYTHONDONTWRITEBYTECODE's
    note is about the environment, not the project)."""
    return [line for line in log.splitlines()
            if "warn" in line.lower() and "byte-compiling is disabled" not in line]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("BACKPROP_BUILD_TEST") != "1",
                    reason="builds sdist + wheel (package index, minutes of compiling): "
                           "set BACKPROP_BUILD_TEST=1")
def test_sdist_and_wheel_build_without_warnings_and_the_wheel_trains_outside_the_tree(tmp_path):
    if importlib.util.find_spec("build") is None:
        pytest.fail("BACKPROP_BUILD_TEST=1 needs the build frontend: python -m pip install build")
    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                          env={**os.environ, "BACKPROP_REQUIRE_C": "1"},   # no NumPy-only wheel here
                          capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert _warnings(log) == []
    wheel, = dist.glob("*.whl")
    # the stable ABI: one wheel for every CPython >= 3.10, the extension inside
    assert "-cp310-abi3-" in wheel.name, wheel.name
    with zipfile.ZipFile(wheel) as z:
        assert "native/_kernels.abi3.so" in z.namelist() or "native/_kernels.pyd" in z.namelist()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=900)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([str(python), "-m", "native.train", "--epochs", "1"],
                         cwd=outside, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("done: 1 epoch in ")
    where = subprocess.run([str(python), "-c", "import native.data; print(native.data.__file__)"],
                           cwd=outside, env=env, capture_output=True, text=True, check=True)
    assert str(env_dir) in where.stdout  # the installed copy, not the source tree


def test_build_ffi_names_the_setuptools_it_needs_instead_of_a_schema_error(tmp_path):
    """`python build_ffi.py` with setuptools older than 77 (which rejects pyproject's
    license form with a page of schema errors) stops first with one line that says
    what to install. Nothing is compiled: the check comes before the build."""
    code = ("import setuptools, runpy, sys; setuptools.__version__ = '65.5.0'; "
            f"sys.argv = ['build_ffi.py']; runpy.run_path({str(ROOT / 'build_ffi.py')!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 1
    assert "needs setuptools >= 77" in proc.stderr and "found 65.5.0" in proc.stderr
    assert "pip install -U 'setuptools>=77'" in proc.stderr
    assert "compiler:" not in proc.stdout      # stopped before the build started


def _source_copy(tmp_path):
    """The project's files without build products (an in-place native/_kernels*.so would
    otherwise ride along), as a fresh clone has them."""
    skip = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__",
                                  "_kernels*.so", "_kernels*.pyd", ".pytest_cache", "*.npz")
    shutil.copytree(ROOT, tmp_path / "src", ignore=skip)
    return tmp_path / "src"


@pytest.mark.skipif(os.environ.get("BACKPROP_BUILD_TEST") != "1",
                    reason="builds wheels through pip (package index): set BACKPROP_BUILD_TEST=1")
@pytest.mark.parametrize("env,warning,built", [
    ({"CC": "/bin/false"}, "no working C compiler (/bin/false", "-cp310-abi3-"),
    ({"BACKPROP_NUMPY_ONLY": "1"}, "BACKPROP_NUMPY_ONLY is set", "-py3-none-any"),
])
def test_without_a_c_compiler_the_build_succeeds_with_one_warning_and_no_extension(tmp_path, env, warning,
                                                                                    built):
    """CC=/bin/false (what a machine without a compiler amounts to) or BACKPROP_NUMPY_ONLY=1:
    the wheel builds, carries no extension, and the log has one warning saying what is
    missing, the cost and how to get a compiler on each OS. BACKPROP_REQUIRE_C=1 makes the
    missing compiler fatal instead."""
    src = _source_copy(tmp_path)
    base = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_") and k != "CC"}
    cmd = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(tmp_path / "dist"), str(src)]
    proc = subprocess.run(cmd, env={**base, **env}, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert log.count("WARNING: backprop-ch5 installed WITHOUT its C kernels") == 1, log[-3000:]
    assert warning in log
    for how in ("Build Tools for Visual Studio", "xcode-select --install", "build-essential",
                "python -m pip install -e .", "2.5-2.7x slower"):
        assert how in log
    wheel, = (tmp_path / "dist").glob("*.whl")
    assert built in wheel.name
    with zipfile.ZipFile(wheel) as z:
        assert not [n for n in z.namelist() if "_kernels" in n]
    if "CC" in env:
        proc = subprocess.run(cmd, env={**base, **env, "BACKPROP_REQUIRE_C": "1"}, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode != 0
