"""Where the files live on this machine: the cache, and reading a folder of them.

The cache is ``$XDG_CACHE_HOME/backprop-ch5/<dataset>`` (default
``~/.cache/...``). Any folder of the four files (the cache, or one the user
names) is read the same way: each file plain or gzipped, each verified
against its canonical SHA-256 on every load.

Verification is not cached: hashing the 55 MB of MNIST costs about 0.05 s,
the same order as reading it, so every load re-hashes every file rather
than trusting a size+mtime stamp that in-place corruption could fool.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional

from .checksums import FILE_NAMES, read_verified
from .errors import DataError

CACHE_APP = "backprop-ch5"
CACHE_SUBDIR = {"mnist": "mnist", "fashion": "fashion-mnist"}
ALIASES = {"mnist": "mnist", "fashion": "fashion", "fashion-mnist": "fashion",
           "fashion_mnist": "fashion", "fmnist": "fashion"}


def canonical(name: str) -> str:
    """'mnist' or 'fashion' for any accepted spelling of a dataset's name."""
    try:
        return ALIASES[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown dataset {name!r}: use 'mnist' or "
                         f"'fashion'") from None


def default_cache_dir(dataset: str = "mnist") -> Path:
    """``$XDG_CACHE_HOME/backprop-ch5/<dataset>``, default ``~/.cache/...``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG spec asks."""
    subdir = CACHE_SUBDIR[canonical(dataset)]
    base = os.environ.get("XDG_CACHE_HOME", "")
    if base and os.path.isabs(base):
        return Path(base) / CACHE_APP / subdir
    if os.name == "posix" and "HOME" in os.environ and not os.path.isabs(os.environ["HOME"]):
        # HOME="" would make the cache /.cache: a folder at the root nobody asked for
        raise DataError(f"cannot find a home directory for the cache: HOME is "
                        f"{os.environ['HOME']!r}, not an absolute path; set HOME or "
                        "XDG_CACHE_HOME to an absolute path")
    try:
        home = Path.home()
    except (RuntimeError, KeyError, OSError):  # no HOME and no passwd entry
        raise DataError("cannot find a home directory for the cache: set "
                        "XDG_CACHE_HOME to an absolute path") from None
    return home / ".cache" / CACHE_APP / subdir


def dir_state(directory: Path, what: str, fix: str = "") -> str:
    """'missing', 'not a directory' or 'ok' for ``directory``. A directory
    that exists but cannot be looked into (permissions, a name too long, a
    loop of links) raises a one-line ``DataError`` naming it, ``what`` it is,
    and ``fix``."""
    def refuse(exc: OSError):
        raise DataError(f"{what} {directory} cannot be read: "
                        f"{exc.strerror or exc}{fix}") from None
    try:
        st = os.stat(directory)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as exc:
        refuse(exc)
    if not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    try:  # the files are found by name: that needs search permission
        os.stat(directory / FILE_NAMES[0])
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        refuse(exc)
    return "ok"


def find_file(directory: Path, file_name: str) -> Optional[Path]:
    """``directory/file_name`` or its ``.gz``, whichever is a regular file."""
    for candidate in (directory / file_name, directory / (file_name + ".gz")):
        try:
            st = os.stat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise DataError(f"{candidate}: cannot be read: "
                            f"{exc.strerror or exc}") from None
        if stat.S_ISREG(st.st_mode):
            return candidate
    return None


def read_dir(directory: Path, dataset: str, names=FILE_NAMES) -> tuple[dict, dict]:
    """Try each file of ``names`` in ``directory``.

    Returns ``(arrays, problems)``: the arrays that passed, keyed by file
    name, and for the others a short reason ("missing", or the DataError).
    """
    arrays, problems = {}, {}
    for file_name in names:
        try:
            path = find_file(directory, file_name)
            if path is None:
                problems[file_name] = "missing"
                continue
            arrays[file_name] = read_verified(path, file_name, dataset)
        except DataError as exc:
            problems[file_name] = exc
    return arrays, problems


def describe(problems: dict, sep: str = "; ") -> str:
    """'missing a, b; <error naming c>' for the problems found by read_dir."""
    missing = [n for n, p in problems.items() if isinstance(p, str)]
    parts = [f"missing {', '.join(missing)}"] if missing else []
    parts += [str(p) for p in problems.values() if not isinstance(p, str)]
    return sep.join(parts)
