"""The IDX file format: read (plain or gzipped) and write uint8 IDX files.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the elements in C order. MNIST and
Fashion-MNIST use only type 0x08 (unsigned byte), the only one read here.

The header says how many bytes the body must have, so the reader knows the
size before it reads the body: it allocates once, refuses a length that does
not match, and (with ``max_bytes``) refuses a header that claims more than the
caller expects before a byte of a gzipped body is inflated.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import DataError, IdxFormatError

IDX_DTYPE_UINT8 = 0x08
GZIP_MAGIC = b"\x1f\x8b"
# Trailing bytes after the body are counted up to this many, then the
# reader stops: a gzipped tail is never inflated further than that.
TRAILING_COUNT_LIMIT = 1 << 20


def open_maybe_gzip(path: Path):
    """``(stream, raw)``: a binary stream of the file's uncompressed bytes (gzip
    detected by content) and the raw file to close."""
    f = open(path, "rb")
    try:
        head = f.read(2)
        f.seek(0)
    except OSError:
        f.close()
        raise
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=f, mode="rb"), f
    return f, f


def _read_exact(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _known_size(stream) -> Optional[int]:
    """The total size of an uncompressed stream when it is cheap to know."""
    if isinstance(stream, io.BytesIO):
        return len(stream.getbuffer())
    if isinstance(stream, io.BufferedReader):
        try:
            return os.fstat(stream.fileno()).st_size
        except (OSError, ValueError):
            return None
    return None


def dims_text(dims) -> str:
    return "×".join(str(d) for d in dims)


def read_idx_stream(stream, name: str, hasher=None,
                    max_bytes: Optional[int] = None) -> np.ndarray:
    """Parse one IDX file from ``stream``; feed every byte to ``hasher``.

    The body is read straight into the array's own buffer: one allocation,
    no copy. A header claiming more than ``max_bytes`` in all is refused
    before anything is allocated or inflated.
    """
    try:
        magic = _read_exact(stream, 4)
        if len(magic) < 4:
            raise IdxFormatError(f"{name}: too short for an IDX header "
                                 f"({len(magic)} bytes)")
        if magic[0] != 0 or magic[1] != 0:
            raise IdxFormatError(
                f"{name}: bad magic number 0x{magic.hex()} (an IDX file starts "
                f"with 0x0000 then a type code and the number of dimensions)")
        if magic[2] != IDX_DTYPE_UINT8:
            raise IdxFormatError(
                f"{name}: element type code 0x{magic[2]:02x} is not supported "
                f"(only 0x08 = unsigned byte)")
        ndim = magic[3]
        if ndim == 0:
            raise IdxFormatError(f"{name}: IDX header declares 0 dimensions")
        raw_dims = _read_exact(stream, 4 * ndim)
        header_size = 4 + 4 * ndim
        if len(raw_dims) < 4 * ndim:
            raise IdxFormatError(
                f"{name}: header declares {ndim} dimensions, needs {header_size} "
                f"bytes, file has {4 + len(raw_dims)}")
        dims = tuple(int.from_bytes(raw_dims[4 * i:4 * i + 4], "big")
                     for i in range(ndim))
        body_size = 1
        for d in dims:
            body_size *= d
        expected = header_size + body_size
        if max_bytes is not None and expected > max_bytes:
            raise IdxFormatError(
                f"{name}: header claims {dims_text(dims)} = {expected} bytes, "
                f"but this file has at most {max_bytes}; not reading further")
        size = _known_size(stream)
        if size is not None and size != expected:  # say so before allocating
            what = "truncated" if size < expected else \
                f"{size - expected} trailing bytes"
            raise IdxFormatError(
                f"{name}: expected {expected} bytes for {dims_text(dims)}, "
                f"got {size} ({what})")
        try:
            buf = np.empty(expected, dtype=np.uint8)
        except (MemoryError, ValueError):
            raise IdxFormatError(
                f"{name}: header claims {dims_text(dims)} = {expected} bytes, "
                f"more than can be allocated") from None
        buf[:4] = np.frombuffer(magic, np.uint8)
        buf[4:header_size] = np.frombuffer(raw_dims, np.uint8)
        got = header_size
        view = memoryview(buf)
        while got < expected:
            n = stream.readinto(view[got:])
            if not n:
                break
            got += n
        if got < expected:
            raise IdxFormatError(
                f"{name}: expected {expected} bytes for {dims_text(dims)}, "
                f"got {got} (truncated)")
        extra = 0
        while extra <= TRAILING_COUNT_LIMIT:
            chunk = stream.read(TRAILING_COUNT_LIMIT + 1 - extra)
            if not chunk:
                break
            extra += len(chunk)
        if extra:
            count = (f"{expected + extra}" if extra <= TRAILING_COUNT_LIMIT
                     else f"more than {expected + TRAILING_COUNT_LIMIT}")
            tail = (f"{extra}" if extra <= TRAILING_COUNT_LIMIT
                    else f"more than {TRAILING_COUNT_LIMIT}")
            raise IdxFormatError(
                f"{name}: expected {expected} bytes for {dims_text(dims)}, "
                f"got {count} ({tail} trailing bytes)")
    except (EOFError, OSError, zlib.error) as exc:  # broken gzip stream
        raise IdxFormatError(f"{name}: cannot be read: {exc}") from exc
    if hasher is not None:
        hasher.update(view)
    return buf[header_size:].reshape(dims)


def check_labels(arr: np.ndarray, name: str, num_classes: int) -> None:
    bad = np.flatnonzero(arr >= num_classes)
    if bad.size:
        i = int(bad[0])
        raise IdxFormatError(
            f"{name}: label {int(arr.flat[i])} at index {i} is out of range "
            f"0..{num_classes - 1} ({bad.size} bad labels in all)")


def read_idx(source, *, num_classes: Optional[int] = None,
             max_bytes: Optional[int] = None) -> np.ndarray:
    """Read an IDX file (uint8 elements only) into a NumPy array.

    ``source`` is a path (str or PathLike) or the file's bytes; gzip is
    detected from the content, so ``.gz`` files and gzipped bytes work too.
    The magic number, the element type, the dimensions and the exact length
    (header + product of dimensions) are checked; any mismatch raises
    ``IdxFormatError`` (a ``DataError`` and a ``ValueError``) naming the file
    and what is wrong. With ``num_classes``, every value must lie in
    ``0..num_classes-1`` (labels). With ``max_bytes``, a header claiming a
    larger file is refused before the body is read (a gzip bomb stays
    unopened).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = "<bytes>"
        stream = io.BytesIO(data)
        if data[:2] == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream, mode="rb")
        arr = read_idx_stream(stream, name, max_bytes=max_bytes)
    else:
        path = Path(os.fspath(source))
        name = str(path)
        try:
            stream, raw = open_maybe_gzip(path)
        except OSError as exc:
            raise DataError(f"{name}: cannot open: {exc.strerror or exc}") from exc
        with raw:
            arr = read_idx_stream(stream, name, max_bytes=max_bytes)
    if num_classes is not None:
        check_labels(arr, name, num_classes)
    return arr


def idx_chunks(*parts: np.ndarray):
    """The IDX encoding of uint8 arrays stacked along their first axis: the
    header, then each part's C-order bytes. Taking the parts separately
    spares a concatenated copy (47 MB for MNIST's training images)."""
    inner = parts[0].shape[1:]
    if any(p.dtype != np.uint8 or p.shape[1:] != inner for p in parts):
        raise ValueError("IDX parts must be uint8 arrays of the same inner shape")
    shape = (sum(p.shape[0] for p in parts),) + inner
    yield bytes([0, 0, IDX_DTYPE_UINT8, len(shape)]) + b"".join(
        int(d).to_bytes(4, "big") for d in shape)
    for p in parts:
        yield memoryview(np.ascontiguousarray(p)).cast("B")
