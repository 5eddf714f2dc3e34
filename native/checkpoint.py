"""Checkpoints: the network, where training stands, and the run's history, in one .npz file.

Written atomically (a temporary file in the same folder, fsync, rename), so a
crash or Ctrl-C mid-write leaves the previous checkpoint intact. Read without
pickle; zip CRCs catch a corrupt file, the metadata is checked as strictly as
the command line checks the same values, and every array is checked against
it. Each member's size is known from the metadata before anything is
decompressed, so a small crafted file cannot inflate to gigabytes.

Version 2 (this one) stores layer l as ``W<l>``/``b<l>``, numbered like the
chapter (W1, b1 is the first layer), plus the run's history (``history_*``).
Version-1 files (``w0``/``b0``…, no history) still load, with an empty history.
"""

import json
import math
import numbers
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .atomic import replace_atomically

FORMAT = "backprop-ch5 checkpoint"
VERSION = 2
MAX_LAYERS = 64                    # native.engine's limit
MAX_META_BYTES = 1 << 20           # the JSON metadata is a few hundred bytes
MAX_RATIO = 20                     # a compressed member's largest plausible inflation
NPY_HEADER_MAX = 4096              # an .npy header is 128 bytes or a little more
DATASETS = ("mnist", "fashion")
# What a run can produce bounds what a file may claim (checked in Python integers,
# which cannot wrap): the trainer refuses the same values on its command line.
MAX_TRAIN, MAX_TEST = 60_000, 10_000   # both datasets' training and test sets (checksummed)
MAX_EPOCHS = 10_000
MAX_LR = 1e4                           # --lr 100 already diverges at once
MAX_BIG = 10 ** 9                      # batch size, limit: far beyond any data set here
MAX_WIDTH = 2 ** 31 - 1
MAX_LOSS = float(np.finfo(np.float32).max)   # a finite float32 loss; the trainer stops far below
MAX_SECONDS = 1e7                      # one epoch: 116 days

# The run's history (contract C1): name -> dtype. batch_loss has one entry per
# mini-batch; the others one per epoch.
HISTORY = {"batch_loss": np.float64, "epoch_batches": np.int64, "epoch_loss": np.float64,
           "test_accuracy": np.float64, "lr": np.float64, "seconds": np.float64}
PER_EPOCH = [k for k in HISTORY if k != "batch_loss"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, corrupt, or for another network."""


def empty_history():
    return {k: np.zeros(0, dtype=dt) for k, dt in HISTORY.items()}


@dataclass
class Checkpoint:
    weights: list
    biases: list
    epoch: int            # epochs completed
    lr: float             # learning rate for the next epoch (already decayed)
    seed: int
    config: dict = field(default_factory=dict)   # every setting that decides the run
    history: dict = field(default_factory=empty_history)   # see HISTORY; per epoch since the first

    @property
    def sizes(self):
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    @property
    def dtype(self):
        return self.weights[0].dtype


# --- values, checked as the command line checks them --------------------------------

def _int(name, v, minimum, maximum=None):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum \
            or (maximum is not None and v > maximum):
        bound = f"in [{minimum}, {maximum}]" if maximum is not None else f"≥ {minimum}"
        raise ValueError(f"{name} must be an integer {bound}, got {v!r}")
    return int(v)


def _positive_real(name, v, upper=None):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0 \
            or (upper is not None and v > upper):
        bound = f"in (0, {upper}]" if upper is not None else "a finite number > 0"
        raise ValueError(f"{name} must be {bound}, got {v!r}")
    return float(v)


def check_config(config, sizes=None, dtype=None, seed=None):
    """The run's settings as the trainer's command line would accept them; ValueError if not.

    Keys a version-1 file lacks (first_layer, limit, engine, sizes…) may be absent."""
    if not isinstance(config, dict):
        raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
    c = dict(config)
    for key, top in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BIG)):
        if key in c:
            c[key] = _int(f"config {key}", c[key], 1, top)
    if "history_start" in c:
        c["history_start"] = _int("config history_start", c["history_start"], 0, MAX_EPOCHS)
    for key in ("lr0",):
        if key in c:
            c[key] = _positive_real(f"config {key}", c[key], upper=MAX_LR)
    if "decay" in c:
        c["decay"] = _positive_real("config decay", c["decay"], upper=1)
    if "dataset" in c and c["dataset"] not in DATASETS:
        raise ValueError(f"config dataset must be one of {', '.join(DATASETS)}, got {c['dataset']!r}")
    if "first_layer" in c and c["first_layer"] not in ("sparse", "dense"):
        raise ValueError(f"config first_layer must be 'sparse' or 'dense', got {c['first_layer']!r}")
    if "engine" in c and c["engine"] not in ("native", "pure"):
        raise ValueError(f"config engine must be 'native' or 'pure', got {c['engine']!r}")
    if c.get("limit") is not None:
        c["limit"] = _int("config limit", c["limit"], 1, MAX_BIG)
    if "seed" in c:
        c["seed"] = _int("config seed", c["seed"], 0, 2 ** 63 - 1)
        if seed is not None and c["seed"] != seed:
            raise ValueError(f"config seed {c['seed']} differs from the checkpoint's seed {seed}")
    if "sizes" in c:
        if not isinstance(c["sizes"], list) or any(isinstance(n, bool) or not isinstance(n, int)
                                                   for n in c["sizes"]) or c["sizes"] != sizes:
            raise ValueError(f"config sizes {c['sizes']!r} differ from the arrays' {sizes}")
    if "dtype" in c and dtype is not None and c["dtype"] != str(dtype):
        raise ValueError(f"config dtype {c['dtype']!r} differs from the arrays' {dtype}")
    return c


def _check_history(history, epoch, config=None):
    """Every number bounded by what the run could have produced, in Python integers:
    per-epoch arrays of one common length ≤ epoch, no more batches an epoch than the
    data and batch size allow, batch_loss as long as their sum, each epoch's loss the
    mean of its batches' losses, accuracies counts of the test samples."""
    config = config or {}
    n = len(history["epoch_batches"])
    for k in PER_EPOCH:
        if history[k].shape != (n,):
            raise ValueError(f"history {k} has {history[k].shape[0]} entries, epoch_batches {n}")
    if n > epoch:
        raise ValueError(f"history covers {n} epochs, but the checkpoint holds only {epoch}")
    if "history_start" in config and config["history_start"] + n != epoch:
        raise ValueError(f"history covers {n} epochs from config history_start "
                         f"{config['history_start']}, but the checkpoint holds {epoch}")
    batches = [int(b) for b in history["epoch_batches"].tolist()]
    n_train = min(config.get("limit") or MAX_TRAIN, MAX_TRAIN)
    most = -(-n_train // config["batch_size"]) if "batch_size" in config else MAX_TRAIN
    for b in batches:
        if not 1 <= b <= most:
            raise ValueError(f"history epoch_batches must be in [1, {most}] per epoch "
                             f"({n_train:,} samples at most, batch size "
                             f"{config.get('batch_size', 1)}), got {b}")
    if sum(batches) != history["batch_loss"].shape[0]:
        raise ValueError(f"history batch_loss has {history['batch_loss'].shape[0]} entries, "
                         f"epoch_batches says {sum(batches)}")
    for k in ("batch_loss", "epoch_loss", "lr", "seconds", "test_accuracy"):
        if not np.isfinite(history[k]).all():
            raise ValueError(f"history {k} holds NaN or inf")
    for k, lo, hi in (("batch_loss", 0, MAX_LOSS), ("epoch_loss", 0, MAX_LOSS),
                      ("seconds", 0, MAX_SECONDS), ("test_accuracy", 0, 1)):
        a = history[k]
        if a.size and (a.min() < lo or a.max() > hi):
            raise ValueError(f"history {k} must lie in [{lo}, {hi:g}], got values in "
                             f"[{a.min():g}, {a.max():g}]")
    lr = history["lr"]
    if lr.size and (lr.min() <= 0 or lr.max() > MAX_LR):
        raise ValueError(f"history lr must lie in (0, {MAX_LR:g}], got values in "
                         f"[{lr.min():g}, {lr.max():g}]")
    if n:
        ends = np.cumsum(np.array(batches, dtype=np.int64))[:-1]      # sums checked above
        means = np.array([part.mean() for part in np.split(history["batch_loss"], ends)])
        if not np.allclose(means, history["epoch_loss"], rtol=1e-9, atol=0):
            i = int(np.argmax(~np.isclose(means, history["epoch_loss"], rtol=1e-9, atol=0)))
            raise ValueError(f"history epoch_loss[{i}] is {history['epoch_loss'][i]:g}, but the "
                             f"mean of that epoch's batch losses is {means[i]:g}")
        n_test = min(config.get("limit") or MAX_TEST, MAX_TEST) if "limit" in config else None
        if n_test is not None:
            correct = history["test_accuracy"] * n_test
            if not np.allclose(correct, np.round(correct), rtol=0, atol=1e-6):
                raise ValueError(f"history test_accuracy is not a count of {n_test:,} test samples")


# --- writing --------------------------------------------------------------------------

def _tmp_prefix(path):
    # The writer's pid is in the name, so a later run can tell a temporary file
    # left by a killed run (its pid is gone) from one being written right now.
    return f"{os.path.basename(path)}.{os.getpid()}."


_TMP_RE = re.compile(r"\.(\d+)\.[^.]*\.tmp$")


def remove_stale_temporaries(path):
    """Deletes temporary files of `path` that killed runs left behind; returns their names."""
    folder, base = os.path.split(os.path.abspath(path))
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(base + "."):
            continue
        m = _TMP_RE.search(name[len(base):])
        if not m or name[len(base):].count(".") != 3:
            continue
        pid = int(m.group(1))
        try:
            os.kill(pid, 0)
            alive = pid != 0
        except ProcessLookupError:
            alive = False
        except (PermissionError, OverflowError, OSError):
            alive = True        # someone else's process: not ours to judge
        if not alive:
            try:
                os.unlink(os.path.join(folder, name))
                removed.append(name)
            except OSError:
                pass
    return removed


def check_target(path, overwrite=False, resuming_from=None, needed_bytes=0, flag="--save"):
    """Refuses a --save target before any training: returns an error message, or None.

    Fine: nothing there, or a regular file we may replace (overwrite=True, or the
    checkpoint being resumed), in an existing folder where a file can be created
    and `needed_bytes` fit. Refused: directories, device nodes, FIFOs, sockets
    (even for root, who could replace /dev/null), read-only or missing folders,
    and an existing checkpoint of another run (unless overwrite)."""
    path = os.fspath(path)
    if path == "" or path.endswith(os.sep):
        return f"{flag} {path!r}: expected a file name, got a folder name"
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    if os.path.lexists(path):
        try:
            st = os.stat(real)
        except OSError as e:
            return f"{flag} {path}: cannot be examined ({e.strerror})"
        import stat
        if stat.S_ISDIR(st.st_mode):
            return f"{flag} {path} is a folder; expected a file name inside it"
        if not stat.S_ISREG(st.st_mode):
            return (f"{flag} {path} is a special file (device, pipe or socket), not a regular file: "
                    "choose a file name")
        same = False
        if resuming_from is not None:
            try:
                same = os.path.samefile(path, resuming_from)
            except OSError:
                same = False
        if not (overwrite or same):
            return (f"{flag} {path} already exists: a new run would overwrite it. Resume it with "
                    f"--resume {path}, choose another file, or pass --overwrite")
    if not os.path.isdir(folder):   # not made: a typo must not create folders (at / even)
        return (f"{flag} {path}: folder {folder} does not exist; create it first "
                f"(mkdir -p {folder}) or choose another path")
    remove_stale_temporaries(real)
    try:   # the real test: create (and remove) a file where the checkpoint will be written
        fd, probe = tempfile.mkstemp(dir=folder, prefix=_tmp_prefix(real), suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"{flag} {path}: cannot write in {folder} ({e.strerror})"
    try:
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
        if needed_bytes and free < needed_bytes:
            return (f"{flag} {path}: {free / 2**20:,.1f} MiB free in {folder}, a checkpoint "
                    f"needs about {needed_bytes / 2**20:,.1f} MiB")
    except (OSError, AttributeError):
        pass
    return None


def estimated_bytes(sizes, dtype, n_batches=0):
    """About how large a checkpoint of this network and history will be."""
    n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    return n * np.dtype(dtype).itemsize + 8 * n_batches + 64 * 1024


def save(path, ckpt):
    """Writes `ckpt` to `path` atomically (refusing to replace anything but a regular file)."""
    import stat
    real = os.path.realpath(path)
    if os.path.lexists(real) and not stat.S_ISREG(os.stat(real).st_mode):
        raise OSError(f"{path} is not a regular file; a checkpoint will not replace it")
    history = {k: np.ascontiguousarray(ckpt.history.get(k, np.zeros(0)), dtype=dt)
               for k, dt in HISTORY.items()}
    meta = {"format": FORMAT, "version": VERSION, "sizes": ckpt.sizes, "dtype": str(ckpt.dtype),
            "epoch": int(ckpt.epoch), "lr": float(ckpt.lr), "seed": int(ckpt.seed),
            "config": ckpt.config,
            "history_lengths": {k: int(v.shape[0]) for k, v in history.items()}}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for i, (w, b) in enumerate(zip(ckpt.weights, ckpt.biases)):
        arrays[f"W{i + 1}"] = np.asarray(w)
        arrays[f"b{i + 1}"] = np.asarray(b)
    for k, v in history.items():
        arrays[f"history_{k}"] = v
    folder = os.path.dirname(real)
    replace_atomically(real, lambda f: np.savez(f, **arrays), prefix=_tmp_prefix(real))
    try:   # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# --- reading --------------------------------------------------------------------------

def _read_member(zf, name, shape, dtype):
    """One .npy member of exactly this shape and dtype (shape None: any 1-D length up
    to MAX_META_BYTES). Its declared sizes are checked before any byte is inflated."""
    dtype = np.dtype(dtype)
    try:
        info = zf.getinfo(name + ".npy")
    except KeyError:
        raise ValueError(f"array {name} is missing") from None
    limit = (MAX_META_BYTES if shape is None else math.prod(shape) * dtype.itemsize) + NPY_HEADER_MAX
    if info.file_size > limit:
        raise ValueError(f"array {name} declares {info.file_size:,} bytes, at most {limit:,} expected")
    # save() stores members uncompressed; a compressed one may not promise more than a
    # modest ratio (a 1.5 MB file must not become gigabytes of history).
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise ValueError(f"array {name}: stored member with inconsistent sizes")
    elif info.file_size > MAX_RATIO * info.compress_size + NPY_HEADER_MAX:
        raise ValueError(f"array {name} would inflate {info.file_size / max(info.compress_size, 1):,.0f}-fold "
                         f"(a checkpoint's arrays compress at most {MAX_RATIO}-fold)")
    # zipfile stops at the declared size and checks the CRC at the end: nothing inflates past it.
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"array {name} has .npy version {version}, expected 1.0 or 2.0")
        if got_dtype != dtype or fortran or (shape is not None and got_shape != tuple(shape)) \
                or (shape is None and len(got_shape) != 1):
            want = f"{dtype} {tuple(shape)}" if shape is not None else f"1-D {dtype}"
            raise ValueError(f"array {name} is {got_dtype} {got_shape}"
                             f"{' (Fortran order)' if fortran else ''}, expected {want}")
        nbytes = math.prod(got_shape) * dtype.itemsize
        if nbytes > limit:
            raise ValueError(f"array {name} is larger than expected")
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):     # reading to the end checks the CRC
            raise ValueError(f"array {name} has {len(data)} data bytes, its header says {nbytes}")
    return np.frombuffer(data, dtype=dtype).reshape(got_shape).copy()


def load(path):
    """Reads and checks a checkpoint; raises CheckpointError saying what is wrong."""
    import stat
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError
        if not stat.S_ISREG(mode):      # a FIFO would block the read forever
            raise CheckpointError(f"checkpoint {path} is a special file (device, pipe or socket), "
                                  "not a checkpoint file")
        with zipfile.ZipFile(path) as zf:
            return _load(zf, path)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path}: no such file (looked for "
                              f"{os.path.abspath(path)})") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a folder, not a checkpoint file") from None
    except PermissionError:
        raise CheckpointError(f"checkpoint {path}: permission denied") from None
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError,
            TypeError, UnicodeDecodeError, NotImplementedError, RuntimeError, OverflowError,
            MemoryError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint: {e}") from None


def _load(zf, path):
    meta_raw = _read_member(zf, "meta", None, np.uint8)
    meta = json.loads(meta_raw.tobytes().decode())
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"format is {got!r}, expected {FORMAT!r}")
    version = meta.get("version")
    if version not in (1, 2) or isinstance(version, bool):
        raise ValueError(f"version {version!r}, this program reads 1 and 2")
    sizes = meta["sizes"]
    if not isinstance(sizes, list) or not 2 <= len(sizes) <= MAX_LAYERS + 1:
        raise ValueError(f"sizes {sizes!r} do not describe a network of 1 to {MAX_LAYERS} layers")
    sizes = [_int("sizes", n, 1, MAX_WIDTH) for n in sizes]
    if not isinstance(meta["dtype"], str) or meta["dtype"] not in ("float32", "float64"):
        raise ValueError(f"dtype is {meta['dtype']}, expected float32 or float64")
    dtype = np.dtype(meta["dtype"])
    epoch = _int("epoch", meta["epoch"], 0, MAX_EPOCHS)
    seed = _int("seed", meta["seed"], 0, 2 ** 63 - 1)
    lr = _positive_real("lr", meta["lr"], upper=MAX_LR)
    config = check_config(meta.get("config", {}), sizes, dtype, seed)
    if "epochs" in config and epoch > config["epochs"]:
        raise ValueError(f"epoch {epoch} is past the run's own end (config epochs "
                         f"{config['epochs']})")

    names = {"meta.npy"}
    L = len(sizes) - 1
    w_name = (lambda i: f"w{i}") if version == 1 else (lambda i: f"W{i + 1}")
    b_name = (lambda i: f"b{i}") if version == 1 else (lambda i: f"b{i + 1}")
    weights, biases = [], []
    for i in range(L):
        shape_w, shape_b = (sizes[i], sizes[i + 1]), (1, sizes[i + 1])
        for name, shape, out in ((w_name(i), shape_w, weights), (b_name(i), shape_b, biases)):
            a = _read_member(zf, name, shape, dtype)
            if not np.isfinite(a).all():
                raise ValueError(f"array {name} (layer {i + 1}) holds NaN or inf")
            out.append(a)
            names.add(name + ".npy")
    history = empty_history()
    if version == 2:
        lengths = meta.get("history_lengths")
        if not isinstance(lengths, dict) or set(lengths) != set(HISTORY):
            raise ValueError(f"history_lengths must name {sorted(HISTORY)}")
        n_epochs = _int("history_lengths epoch_batches", lengths["epoch_batches"], 0)
        if n_epochs > epoch:
            raise ValueError(f"history covers {n_epochs} epochs, but the checkpoint holds only {epoch}")
        for k in PER_EPOCH + ["batch_loss"]:    # batch_loss last: its length is then known
            n = _int(f"history_lengths {k}", lengths[k], 0)
            want = n_epochs if k != "batch_loss" else sum(map(int, history["epoch_batches"].tolist()))
            if n != want:
                raise ValueError(f"history {k} has {n} entries, expected {want}")
            history[k] = _read_member(zf, f"history_{k}", (n,), HISTORY[k])
            names.add(f"history_{k}.npy")
        _check_history(history, epoch, config)
    extra = sorted(set(zf.namelist()) - names)
    if extra:
        raise ValueError(f"unexpected members {extra}")
    return Checkpoint(weights=weights, biases=biases, epoch=epoch, lr=lr, seed=seed,
                      config=config, history=history)
