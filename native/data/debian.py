"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist``.

``apt-get install dataset-fashion-mnist`` puts the four ``.gz`` files in
``/usr/share/datasets/fashion-mnist/``; they are decompressed into the cache
once (verified, and never inflated past their canonical sizes).
"""

from __future__ import annotations

import zlib
from pathlib import Path

from .cache import dir_state, find_file
from .checksums import CANONICAL_SIZE, SHA256, atomic_write
from .errors import DataError, SourceUnavailable
from .idx import open_maybe_gzip

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_APT = "apt-get install dataset-fashion-mnist"


def uncompressed_chunks(path: Path):
    """The uncompressed bytes of ``path`` (gzipped or not), in 1 MB blocks."""
    stream, raw = open_maybe_gzip(path)
    with raw:
        try:
            for block in iter(lambda: stream.read(1 << 20), b""):
                yield block
        except (EOFError, zlib.error) as exc:  # a truncated or broken .gz
            raise DataError(f"{path}: cannot be read: {exc}") from exc


def fetch(dest_dir: Path, names, dataset: str, progress,
          system_dir: Path = None) -> None:
    """Copy the files of ``names`` from the Debian package's folder into
    ``dest_dir``, decompressed and verified."""
    system_dir = FASHION_SYSTEM_DIR if system_dir is None else system_dir
    if dir_state(system_dir, "the Debian package's folder") != "ok":
        raise SourceUnavailable(f"{system_dir} does not exist (install it with "
                                f"`{FASHION_APT}`)")
    for file_name in names:
        src = find_file(system_dir, file_name)
        if src is None:
            raise SourceUnavailable(f"{system_dir} has no {file_name}[.gz]")
        atomic_write(dest_dir / file_name, uncompressed_chunks(src),
                     SHA256[dataset][file_name], CANONICAL_SIZE[file_name])
