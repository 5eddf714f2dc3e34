"""Shared helpers of the tests/test_data_*.py files (no tests of its own):
the data package and its modules, tiny synthetic IDX files, a fake MNIST
whose hashes stand in for the canonical ones, and fake sources.

No data test touches the user's real cache: every test module imports the
autouse fixture ``isolated_environment``, which points XDG_CACHE_HOME at a
temporary folder and clears the BACKPROP_* variables.
"""

import gzip
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_PACKAGE = ROOT / "native" / "data"


def _import_data_package():
    # native/__init__.py imports the compiled C extension; native.data needs
    # only NumPy, so fall back to loading the package from its folder if the
    # package import fails (e.g. extension not built yet).
    try:
        import native.data as package
        return package
    except ImportError:
        spec = importlib.util.spec_from_file_location(
            "native_data_standalone", DATA_PACKAGE / "__init__.py",
            submodule_search_locations=[str(DATA_PACKAGE)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = package
        spec.loader.exec_module(package)
        return package


data = _import_data_package()


def _module(name):
    return importlib.import_module(f"{data.__name__}.{name}")


idx = _module("idx")
checksums = _module("checksums")
cache = _module("cache")
sources = _module("sources")
mirrors = _module("mirrors")
unpickle = _module("unpickle")
registry = _module("registry")
debian = _module("debian")
cli = _module("__main__")

NAMES = data.FILE_NAMES


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Never read or write the real cache; no inherited BACKPROP_* settings."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for var in ("BACKPROP_DATA_DIR", "BACKPROP_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def idx_bytes(arr, type_code=0x08):
    arr = np.asarray(arr)
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def synthetic_files(seed=0, n_train=6, n_test=4):
    """Four small MNIST-shaped IDX files, as {name: raw bytes}."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, n_train)),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
        "t10k-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, n_test)),
    }


def sha(raw):
    return hashlib.sha256(raw).hexdigest()


@pytest.fixture
def fake_mnist(monkeypatch):
    """Synthetic files whose hashes stand in for MNIST's canonical ones."""
    files = synthetic_files()
    for name, raw in files.items():
        monkeypatch.setitem(data.MNIST_SHA256, name, sha(raw))
    return files


def write_dir(directory, files, gz=False):
    directory.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)
    return directory


class FakeSource:
    """Stands in for a network route: writes the given files through the real
    atomic writer, and counts its calls."""

    def __init__(self, files, fail=None):
        self.files, self.fail, self.calls = files, fail, []

    def __call__(self, dest_dir, names, dataset, progress):
        self.calls.append(list(names))
        if self.fail:
            raise self.fail
        for name in names:
            checksums.atomic_write(Path(dest_dir) / name, [self.files[name]],
                                   checksums.SHA256[dataset][name])


def forbid(label):
    def fetch(*args, **kwargs):
        raise AssertionError(f"{label} must not be asked")
    return fetch


def assert_same_arrays(ds, files):
    def arr(name):
        return data.read_idx(files[name])
    np.testing.assert_array_equal(ds.train_images,
                                  arr("train-images-idx3-ubyte").reshape(-1, 784))
    np.testing.assert_array_equal(ds.train_labels, arr("train-labels-idx1-ubyte"))
    np.testing.assert_array_equal(ds.test_images,
                                  arr("t10k-images-idx3-ubyte").reshape(-1, 784))
    np.testing.assert_array_equal(ds.test_labels, arr("t10k-labels-idx1-ubyte"))


def gzip_bomb(header: bytes, total: int, member: int = 32 << 20) -> bytes:
    """A gzip file whose content is ``header`` then zeros, ``total`` bytes in
    all, in about total/1000 bytes: members of ``member`` zeros each, compressed
    once and repeated (a gzip reader reads concatenated members as one file)."""
    zeros = gzip.compress(b"\0" * member, compresslevel=9)
    first = gzip.compress(header)
    count, rest = divmod(total - len(header), member)
    return first + zeros * count + gzip.compress(b"\0" * rest)


def idx_header(*dims) -> bytes:
    return bytes([0, 0, 8, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)


class InflationMeter:
    """Counts the bytes every gzip.GzipFile hands out and fails the test once
    they pass ``limit``. Each read is capped at 1 MiB, so a reader that would
    inflate a bomb is stopped after ``limit`` bytes, not after gigabytes (the
    readers loop on short reads, as they must)."""

    def __init__(self, monkeypatch, limit):
        self.limit, self.inflated = limit, 0
        real_read = gzip.GzipFile.read

        def read(stream, size=-1):
            if size is None or size < 0 or size > 1 << 20:
                size = 1 << 20
            out = real_read(stream, size)
            self.inflated += len(out)
            if self.inflated > self.limit:
                raise AssertionError(f"inflated more than {self.limit} bytes")
            return out

        monkeypatch.setattr(gzip.GzipFile, "read", read)
