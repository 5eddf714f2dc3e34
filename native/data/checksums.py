"""What the files must be, and writing them so that only verified bytes land.

Every route ends in the same four canonical IDX files, each checked by the
SHA-256 of its *uncompressed* bytes (the tables below). A file is written
under a temporary name in its destination folder and renamed only after its
checksum passes, so a half-written file never sits under a final name.

The canonical sizes are known too, and every reader and writer here stops at
them: a gzipped file (or a download) that would inflate past its canonical
size is refused there, not after inflating it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .errors import ChecksumError, DataError, IdxFormatError
from .idx import check_labels, dims_text, open_maybe_gzip, read_idx_stream

FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# SHA-256 of the uncompressed canonical MNIST files. The package-index route
# reproduces all four byte for byte.
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

# Uncompressed sizes in bytes, the same for both datasets (60,000 + 10,000
# images of 28×28): header + body. No canonical file is larger, so no
# reader needs to inflate more than this.
CANONICAL_SIZE = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}

SHA256 = {"mnist": MNIST_SHA256, "fashion": FASHION_SHA256}
PRETTY = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
NUM_CLASSES = 10


def _other_dataset_with(digest: str, dataset: str) -> Optional[str]:
    for other, table in SHA256.items():
        if other != dataset and digest in table.values():
            return PRETTY[other]
    return None


def read_verified(path: Path, file_name: str, dataset: str) -> np.ndarray:
    """Read ``path`` as the canonical ``file_name`` of ``dataset``: structure,
    size at most the canonical one, SHA-256 of the uncompressed bytes, and
    (for label files) the label range. The array comes back read-only."""
    hasher = hashlib.sha256()
    try:
        stream, raw = open_maybe_gzip(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    with raw:
        arr = read_idx_stream(stream, str(path), hasher,
                              max_bytes=CANONICAL_SIZE[file_name])
    digest = hasher.hexdigest()
    expected = SHA256[dataset][file_name]
    if digest != expected:
        other = _other_dataset_with(digest, dataset)
        hint = f" (that is {other}'s {file_name})" if other else ""
        raise ChecksumError(
            f"{path}: SHA-256 of the uncompressed bytes is {digest}, expected "
            f"{expected}{hint}")
    kind_images = "-images-" in file_name
    if kind_images and (arr.ndim != 3 or arr.shape[1:] != (28, 28)):
        raise IdxFormatError(f"{path}: expected N×28×28 images, got "
                             f"{dims_text(arr.shape)}")
    if not kind_images:
        if arr.ndim != 1:
            raise IdxFormatError(f"{path}: expected a 1-D label vector, got "
                                 f"{dims_text(arr.shape)}")
        check_labels(arr, str(path), NUM_CLASSES)
    arr.flags.writeable = False
    return arr


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def atomic_write(dest: Path, chunks: Iterable, expected_sha256: Optional[str],
                 max_bytes: Optional[int] = None) -> None:
    """Write ``chunks`` (bytes-like) to ``dest`` via a temporary file in the
    same folder, hashing as it goes; rename onto ``dest`` only if the SHA-256
    equals ``expected_sha256``. More than ``max_bytes`` bytes are refused as
    soon as they arrive (the source is closed, not drained). On any failure
    the temporary file is removed and ``dest`` is left as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name next to dest; "xb" never clobbers and, unlike
    # mkstemp's 0600, gives the file the usual permissions (umask).
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        hasher = hashlib.sha256()
        written = 0
        with open(tmp, "xb") as f:
            for chunk in chunks:
                written += len(chunk) if isinstance(chunk, bytes) else memoryview(chunk).nbytes
                if max_bytes is not None and written > max_bytes:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
                    raise ChecksumError(
                        f"{dest.name}: the source holds more than the "
                        f"{max_bytes} bytes of the canonical file; stopped there")
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
        except OSError:  # never there, or the folder refuses: keep the first error
            pass
        raise


def remove_stale_parts(directory: Path, max_age: float = 24 * 3600) -> None:
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
