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
import subprocess
import sys
import venv
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
                          capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert _warnings(log) == []
    wheel, = dist.glob("*.whl")
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
