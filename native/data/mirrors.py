"""Source 3: the public MNIST mirrors, over HTTPS with a short timeout.

Each file is fetched as ``name.gz``, inflated as it streams in, hashed and
written under a temporary name; it is renamed into the cache only when its
SHA-256 is the canonical one. Inflating stops at the file's canonical size,
so a mirror serving a decompression bomb costs a few megabytes, not gigabytes.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Optional

from .checksums import CANONICAL_SIZE, SHA256, atomic_write
from .errors import DataError, SourceUnavailable
from .progress import Progress

MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
MIRROR_TIMEOUT = 10.0  # seconds, per connect and per read
INFLATE_CHUNK = 1 << 20  # most bytes one decompress call may produce


def download_gz_chunks(url: str, progress, timeout: float,
                       max_bytes: Optional[int] = None):
    """Yield the *uncompressed* bytes of the gzip file at ``url``, streaming.

    Past ``max_bytes`` uncompressed bytes it raises ``DataError`` at once:
    each decompress call is bounded, so no more than ``INFLATE_CHUNK`` bytes
    beyond the limit are ever produced.
    """
    req = urllib.request.Request(url, headers={"User-Agent": "backprop-ch5"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        bar = Progress(f"downloading {url}", int(length) if length else None,
                       progress)
        unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        done = inflated = 0
        try:
            while True:
                block = resp.read(1 << 16)
                if not block:
                    break
                done += len(block)
                bar.update(done)
                while block:
                    out = unzip.decompress(block, INFLATE_CHUNK)
                    block = unzip.unconsumed_tail
                    inflated += len(out)
                    if max_bytes is not None and inflated > max_bytes:
                        raise DataError(
                            f"{url}: inflates to more than the {max_bytes} bytes "
                            f"of the canonical file; stopped there")
                    if out:
                        yield out
                    if unzip.eof:
                        break
        finally:
            bar.close()
        tail = unzip.flush()
        if tail:
            yield tail
        if not unzip.eof:
            raise DataError(f"{url}: gzip stream ended early ({done} bytes)")
        if length and done != int(length):
            raise DataError(f"{url}: got {done} of {length} bytes")


def fetch(dest_dir: Path, names, dataset: str, progress,
          timeout: float = None) -> None:
    """Fetch each of ``names`` (as ``name.gz``) from the first mirror that
    serves a file with the right checksum; write it verified into
    ``dest_dir``. A mirror that cannot be reached is not asked again."""
    if timeout is None:
        timeout = MIRROR_TIMEOUT
    dead: dict = {}
    for file_name in names:
        expected = SHA256[dataset][file_name]
        failures = [f"{base}: not asked again after {reason}"
                    for base, reason in dead.items()]
        for base in MIRRORS:
            if base in dead:
                continue
            url = base + file_name + ".gz"
            limit = CANONICAL_SIZE[file_name]
            try:
                atomic_write(dest_dir / file_name,
                             download_gz_chunks(url, progress, timeout, limit),
                             expected, limit)
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
