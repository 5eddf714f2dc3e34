"""MNIST's IDX files read with the standard library only (gzip, struct), for pure/'s exercise 2.

The IDX format (Y. LeCun): a big-endian header — magic number (0x00000803 for
images, 0x00000801 for labels), then the size of each dimension as a 32-bit
integer — followed by the bytes. Images are 28×28 unsigned bytes, row by row;
labels are one byte each.

The files come from `python -m native.data` (which downloads and checks them)
or any folder holding the four files, gzipped or not. Only as many bytes as the
header announces are read, and the header may announce no more than MNIST has:
a small crafted .gz cannot inflate to gigabytes here.
"""

import gzip
import os
import struct

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000)}


class MnistFileError(Exception):
    """The files are missing or not MNIST's IDX files; the message says which and why."""


def default_folders():
    """Where to look: BACKPROP_DATA_DIR, then the cache that `python -m native.data` fills."""
    folders = []
    if os.environ.get("BACKPROP_DATA_DIR"):
        folders.append(os.environ["BACKPROP_DATA_DIR"])
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not (base and os.path.isabs(base)):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    folders.append(os.path.join(base, "backprop-ch5", "mnist"))
    return folders


def _find(folders, name):
    for folder in folders:
        for candidate in (name, name + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
    raise MnistFileError(
        f"{name} not found in {' or '.join(folders)}: run `python -m native.data` once to fetch "
        "MNIST, or pass --data-dir DIR with the four IDX files (gzipped or not)")


def _read_idx(path, magic, dims, max_count):
    """(count, bytes) of an IDX file whose trailing dimensions must equal `dims`."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            header = f.read(4 + 4 * (1 + len(dims)))
            if len(header) < 8 or struct.unpack(">I", header[:4])[0] != magic:
                raise MnistFileError(f"{path} is not an IDX file of this kind (magic number)")
            count, *rest = struct.unpack(f">{1 + len(dims)}I", header[4:])
            if tuple(rest) != dims or count > max_count:
                raise MnistFileError(f"{path} holds {count} items of shape {tuple(rest)}, expected at "
                                     f"most {max_count} of shape {dims}")
            size = 1
            for d in dims:
                size *= d
            data = f.read(count * size)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise MnistFileError(f"{path} cannot be read: {e}") from None
    if len(data) != count * size:
        raise MnistFileError(f"{path} is truncated: {len(data)} of {count * size} bytes")
    return count, data


def load(split="train", limit=None, folders=None):
    """(images, labels) of the first `limit` samples of `split` ("train" or "test").

    images: a list of rows of 784 pixel values scaled to [0, 1] (the chapter's X);
    labels: a list of ints 0–9."""
    images_name, labels_name, max_count = FILES[split]
    folders = list(folders) if folders else default_folders()
    n, pixels = _read_idx(_find(folders, images_name), 0x803, (28, 28), max_count)
    m, labels = _read_idx(_find(folders, labels_name), 0x801, (), max_count)
    if n != m:
        raise MnistFileError(f"{split}: {n} images but {m} labels")
    if limit is not None:
        n = min(n, limit)
    X = [[p / 255.0 for p in pixels[i * 784:(i + 1) * 784]] for i in range(n)]
    y = list(labels[:n])
    if any(v > 9 for v in y):
        raise MnistFileError(f"{split} labels hold values above 9: not MNIST")
    return X, y
