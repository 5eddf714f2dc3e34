"""The IDX reader: the format, its lengths, gzip, labels, and the sizes it refuses."""

import gzip

import numpy as np
import pytest

from test_data_support import (  # noqa: F401  (fixtures are used by name)
    InflationMeter, data, fake_mnist, gzip_bomb, idx_bytes, idx_header, isolated_environment,
    sha, write_dir)


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
# Decompression bombs: the reader knows the size before it inflates
# ----------------------------------------------------------------------------

def test_a_header_claiming_more_than_max_bytes_is_refused_before_the_body_is_inflated(
        monkeypatch):
    # 2 GiB of content in about 2 MB of gzip; the header says so honestly.
    bomb = gzip_bomb(idx_header(2_739_147, 28, 28), 2_147_491_264)
    meter = InflationMeter(monkeypatch, limit=1 << 20)
    with pytest.raises(data.IdxFormatError,
                       match=r"header claims 2739147×28×28 = 2147491264 bytes, "
                             r"but this file has at most 7840016"):
        data.read_idx(bomb, max_bytes=7_840_016)
    assert meter.inflated == 16  # the header, nothing more


def test_trailing_bytes_after_the_body_are_counted_only_up_to_a_limit(monkeypatch):
    # A well-formed 5-label file followed by 2 GiB of zeros, gzipped.
    bomb = gzip_bomb(idx_bytes(np.arange(5)), 2 << 30)
    meter = InflationMeter(monkeypatch, limit=4 << 20)
    with pytest.raises(data.IdxFormatError,
                       match=r"expected 13 bytes for 5, got more than 1048589 "
                             r"\(more than 1048576 trailing bytes\)"):
        data.read_idx(bomb)
    assert meter.inflated <= 13 + (1 << 20) + 1
