"""Atomic file replacement: write a temporary file in the target's folder, fsync it,
rename it over the target. A crash or Ctrl-C mid-write leaves the old file whole,
and the temporary file is removed on any failure. Checkpoints, --results files
and pictures are all written this way."""

import os
import tempfile


def replace_atomically(path, write, *, binary=True, prefix=None, mode=None):
    """Calls write(f) on a temporary file next to `path`, then renames it to `path`.

    prefix: the temporary file's name prefix (default: "<name>."); mode: permission
    bits to give the file (mkstemp's are 0600)."""
    folder = os.path.dirname(os.path.abspath(path))
    if prefix is None:
        prefix = os.path.basename(path) + "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
