"""``python -m native.train``: the chapter's exercise 2 at full size — train on MNIST.

The logic lives here rather than in ``native/train.py`` so that importing it
never shadows the ``native.train`` function (a submodule import would rebind
that package attribute).

An epoch runs in pieces of whole mini-batches, each about a quarter of a
second: between pieces the trainer shows progress and Ctrl-C is answered, so
neither waits for a long epoch to end. The pieces change nothing: the same
batches in the same order, the same arithmetic (a test checks the bits).
"""

import argparse
import contextlib
import json
import math
import os
import shlex
import signal
import sys
import threading
import time

import numpy as np

from . import checkpoint as ckpt_mod
from .checkpoint import Checkpoint, CheckpointError
from .atomic import TargetBusy, TargetLock, replace_atomically
from .streams import point_at_devnull

CHAPTER = dict(sizes=[784, 64, 32, 10], epochs=10, batch_size=64, lr=0.1, decay=0.95, seed=0,
               dtype="float32", dataset="mnist")
PURE_DEFAULT_LIMIT = 1000
# --first-layer auto: the sparse first layer below this fraction of nonzero
# pixels. Measured here: MNIST (19 %) 1.4-1.6x faster sparse, Fashion-MNIST (50 %)
# 1.5x slower; the two costs cross near 30 %.
SPARSE_MAX_DENSITY = 0.3
MAX_SEED = 2 ** 63 - 1
MAX_EPOCHS, MAX_LR = ckpt_mod.MAX_EPOCHS, ckpt_mod.MAX_LR   # what a checkpoint may hold
DIVERGED_LOSS = 100.0   # nats: the right class at probability e^-100; ln 10 ≈ 2.3 is a guess
MAX_THREADS, MAX_LAYERS = 256, 64       # the C loop's limits (train.c)
PIECE_SECONDS = 0.3                     # one piece of an epoch: Ctrl-C and progress wait at most this
LOSS_SAMPLES = 10_000                   # samples for the loss before training (fewer for wide nets)


class UsageError(Exception):
    """A setting the run cannot use; exit code 2 and one line."""


def default_threads():
    """One: on the shared 2-core machine we measure on, a second thread gained
    between −10 % and +20 % from run to run (README, Performance), and a busy
    second core makes it much slower. --threads 2 turns it on."""
    return 1


def _backend_name():
    """The kernels' backend as --help shows it: a SIMD path of the C kernels, or numpy (…)."""
    from . import kernels
    path = kernels.simd_path()
    return path if path.startswith("numpy") else f"C kernels, {path} path"


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m native.train",
        description="Train the chapter's MLP (784→64→32→10, ReLU, softmax + cross-entropy, "
                    f"mini-batch SGD with per-epoch lr decay) on MNIST with the native core (this install: "
                    f"{_backend_name()}), "
                    "printing the loss before training and one line per epoch (its loss is the "
                    "mean of the epoch's mini-batch losses). Defaults are the chapter's.",
        epilog="Data: --data-dir/BACKPROP_DATA_DIR, then the cache, then the public mirrors, "
               "then the package index (see `python -m native.data --help`). "
               "With --resume, every setting that shapes the run (sizes, seed, dtype, engine, "
               "first layer, limit, batch size, decay, dataset, epochs) comes from the checkpoint "
               "unless given again. The checkpoint also keeps the run's history (the loss of "
               "every mini-batch, per-epoch loss, test accuracy, lr and seconds).")
    a = p.add_argument
    a("--sizes", type=int, nargs="+", metavar="N", help="layer widths (default: 784 64 32 10)")
    a("--epochs", type=int, help=f"total epochs to reach, counting resumed ones, at most {MAX_EPOCHS} "
      "(default: 10)")
    a("--batch-size", type=int, help="mini-batch size (default: 64)")
    a("--lr", type=float, help="initial learning rate η (default: 0.1); with --resume, the rate "
      "for the next epoch instead of the checkpoint's")
    a("--decay", type=float, help="per-epoch decay: lr ← lr·decay (default: 0.95)")
    a("--seed", type=int, help="seed for the initial weights and every epoch's order (default: 0)")
    a("--dtype", choices=["float32", "float64"], help="float type of the native engine (default: float32)")
    a("--dataset", choices=["mnist", "fashion"], help="mnist, or fashion (Fashion-MNIST from "
      "the Debian package dataset-fashion-mnist) (default: mnist)")
    a("--data-dir", metavar="DIR", help="a folder holding the four IDX files (gzipped or not)")
    a("--offline", action="store_true",
      help="use only --data-dir and the cache: no mirrors, no package index")
    a("--engine", choices=["native", "pure"],
      help=f"native ({_backend_name()}, the full data) or pure (the plain-Python code of pure/, "
           f"on --limit samples, default {PURE_DEFAULT_LIMIT}) (default: native)")
    a("--limit", type=int, metavar="N", help="use only the first N training and N test samples")
    a("--first-layer", choices=["auto", "sparse", "dense"],
      help="run the first layer on the nonzero pixels only (sparse) or as dense GEMMs; auto: "
           f"sparse when under {100 * SPARSE_MAX_DENSITY:.0f} %% of the training pixels are nonzero "
           "(MNIST: 19 %%, Fashion-MNIST: 50 %%). Same arithmetic up to rounding order "
           "(default: auto)")
    a("--threads", type=int, help=f"threads for the native engine's C loop, 1 to {MAX_THREADS} "
      f"(default: {default_threads()}; a second thread pays only on a quiet machine)")
    a("--save", metavar="PATH", help="write a checkpoint after every epoch (atomically); an "
      "existing file is refused unless it is the --resume file or --overwrite is given")
    a("--overwrite", action="store_true", help="let a new run replace an existing --save or "
      "--results file")
    a("--resume", metavar="PATH", help="continue from a checkpoint; the new epochs are saved "
      "back into it unless --save names another file")
    a("--results", metavar="PATH", help="also write the run's settings and results as JSON "
      "(atomically, after every epoch: per-epoch loss, test accuracy and seconds, the final "
      "accuracy, total training seconds — for benchmark tables); an existing file is replaced "
      "only if it is such a results file or --overwrite is given, never the checkpoint")
    a("--no-progress", action="store_true", help="no progress lines within epochs")
    return p


# --- runners: one piece of an epoch at a time -------------------------------------------------

class NativeRunner:
    """The C engine: one call per piece of an epoch, on the uint8 pixels."""

    def __init__(self, weights, biases, batch_size, threads, first_layer="auto"):
        from .engine import Engine
        self.engine = Engine(weights, biases, batch_size=batch_size, threads=threads)
        self.weights, self.biases = weights, biases
        self.first_layer = first_layer

    def use_sparse(self, images):
        """Whether the first layer runs sparse on these (training) images."""
        if self.first_layer != "auto":
            return self.first_layer == "sparse"
        return np.count_nonzero(images) < SPARSE_MAX_DENSITY * images.size

    def prepare(self, images, sparse):
        """The images as the engine will read them: SparseImages (built once), or as they are."""
        from .engine import SparseImages
        return SparseImages(images) if sparse else images

    def prepare_test(self, images, labels, sparse, piece=2048):
        """The test set in pieces, so that a long prediction pass also answers Ctrl-C."""
        return [(self.prepare(images[i:i + piece], sparse), labels[i:i + piece])
                for i in range(0, len(images), piece)]

    def train_piece(self, images, labels, order, lr, batch_losses):
        self.engine.train_epoch(images, labels, order, lr, batch_losses=batch_losses)

    def correct(self, images, labels):
        return int(np.count_nonzero(self.engine.predict(images) == labels))

    def state(self):
        return [w.copy() for w in self.weights], [b.copy() for b in self.biases]


class PureRunner:
    """pure/'s own functions, the §5.7 loop written out: slow, and readable."""

    def __init__(self, weights, biases, batch_size):
        import pure
        self.pure = pure
        self.weights = [w.tolist() for w in weights]
        self.biases = [b.tolist() for b in biases]
        self.batch_size = batch_size
        self._cache = {}

    def prepare(self, images, sparse):
        return images

    def prepare_test(self, images, labels, sparse, piece=200):
        return [(images[i:i + piece], labels[i:i + piece]) for i in range(0, len(images), piece)]

    def _lists(self, images, labels):
        key = id(images)
        if key not in self._cache:
            n_out = len(self.biases[-1][0])
            X = (images / 255.0).tolist()
            Y = [[1.0 if k == y else 0.0 for k in range(n_out)] for y in labels.tolist()]
            self._cache[key] = (images, X, Y)      # keeps `images` alive: its id stays unique
        return self._cache[key][1:]

    def train_piece(self, images, labels, order, lr, batch_losses):
        p, (X, Y) = self.pure, self._lists(images, labels)
        for k, start in enumerate(range(0, len(order), self.batch_size)):
            idx = order[start:start + self.batch_size].tolist()
            X_batch, y_batch = [X[i] for i in idx], [Y[i] for i in idx]
            activations, pre_activations = p.forward(X_batch, self.weights, self.biases)
            batch_losses[k] = p.cross_entropy(activations[-1], y_batch)
            grad_w, grad_b = p.backward(activations, pre_activations, self.weights, y_batch)
            p.sgd_update(self.weights, self.biases, grad_w, grad_b, lr)

    def correct(self, images, labels):
        X, _ = self._lists(images, labels)
        activations, _ = self.pure.forward(X, self.weights, self.biases)
        pred = [max(range(len(row)), key=row.__getitem__) for row in activations[-1]]
        return sum(int(a == b) for a, b in zip(pred, labels.tolist()))

    def state(self):
        return ([np.array(w, dtype=np.float64) for w in self.weights],
                [np.array(b, dtype=np.float64) for b in self.biases])


def run_epoch(runner, images, labels, order, lr, batch_size, progress=None, clock=time.perf_counter):
    """One epoch in pieces of whole mini-batches; returns the array of its batch losses.

    The first piece is one batch; later pieces are sized from the measured speed to
    last about PIECE_SECONDS (growing at most 64-fold from one piece to the next).
    Ctrl-C (KeyboardInterrupt) arrives between pieces."""
    n_batches = -(-len(order) // batch_size)
    losses = np.empty(n_batches, dtype=np.float64)
    done, per_piece, t0 = 0, 1, clock()
    while done < n_batches:
        k = min(per_piece, n_batches - done)
        piece = order[done * batch_size:(done + k) * batch_size]
        runner.train_piece(images, labels, piece, lr, losses[done:done + k])
        done += k
        elapsed = clock() - t0
        # (each call costs a fixed ~3 ms for the sparse set's check: few, large pieces)
        per_piece = max(1, min(64 * per_piece, int(PIECE_SECONDS * done / max(elapsed, 1e-9))))
        if progress is not None:
            progress.update(min(done * batch_size, len(order)), float(losses[:done].mean()))
    return losses


def accuracy(runner, test_pieces):
    correct = total = 0
    for images, labels in test_pieces:
        correct += runner.correct(images, labels)
        total += len(labels)
    return correct / total


# --- settings ---------------------------------------------------------------------------------

RUN_KEYS = ("sizes", "epochs", "batch_size", "lr", "decay", "seed", "dtype", "dataset")


def resolve_settings(args, resumed):
    """Command line over checkpoint over the chapter's defaults.

    Refuses a command line that contradicts what shaped the resumed run (sizes,
    dtype, seed, engine, first layer, limit): it would not continue that run."""
    s = dict(CHAPTER, engine="native", first_layer="auto", limit=None)
    if resumed is not None:
        c = resumed.config
        s.update({k: v for k, v in c.items() if k in s})
        s.update(sizes=resumed.sizes, dtype=str(resumed.dtype), seed=resumed.seed)
        for key, flag in (("sizes", "sizes"), ("dtype", "dtype"), ("seed", "seed"),
                          ("engine", "engine"), ("first_layer", "first-layer"), ("limit", "limit"),
                          ("batch_size", "batch-size"), ("dataset", "dataset")):
            want, have = getattr(args, key), s[key]
            if key not in c and key not in ("sizes", "dtype", "seed"):
                continue        # a version-1 checkpoint did not record it: the command line decides
            if want is not None and want != have and not (key == "first_layer" and want == "auto"):
                raise CheckpointError(
                    f"checkpoint {args.resume} is for {key} {have}, but the command asks for --{flag} "
                    f"{' '.join(map(str, want)) if isinstance(want, list) else want}: resuming with it would "
                    f"not continue that run; drop --{flag} or start a new run")
    for key in RUN_KEYS + ("engine", "limit", "first_layer"):
        v = getattr(args, key)
        if v is not None and not (resumed is not None and key == "first_layer" and v == "auto"
                                  and "first_layer" in resumed.config):
            s[key] = v
    if s["engine"] == "pure":
        s["dtype"] = "float64"
        if s["limit"] is None:
            s["limit"] = PURE_DEFAULT_LIMIT
    return s


def check_settings(s, args):
    errors = []
    sizes = s["sizes"]
    if len(sizes) < 2 or min(sizes) < 1:
        errors.append(f"--sizes needs at least 2 positive widths, got {sizes}")
    elif len(sizes) > MAX_LAYERS + 1:
        errors.append(f"--sizes allows at most {MAX_LAYERS} layers ({MAX_LAYERS + 1} widths), "
                      f"got {len(sizes)} widths")
    elif sizes[0] != 784 or sizes[-1] != 10:
        errors.append(f"--sizes must start with 784 (28×28 pixels) and end with 10 (classes), got {sizes}")
    for key in ("epochs", "batch_size"):
        if s[key] < 1:
            errors.append(f"--{key.replace('_', '-')} must be at least 1, got {s[key]}")
    if s["epochs"] > MAX_EPOCHS:
        errors.append(f"--epochs must be at most {MAX_EPOCHS}, got {s['epochs']}")
    if s["batch_size"] > ckpt_mod.MAX_BIG:
        errors.append(f"--batch-size must be at most {ckpt_mod.MAX_BIG}, got {s['batch_size']}")
    if s["limit"] is not None and s["limit"] > ckpt_mod.MAX_BIG:
        errors.append(f"--limit must be at most {ckpt_mod.MAX_BIG}, got {s['limit']}")
    for key, v in (("lr", s["lr"]), ("lr", args.lr)):
        if v is not None and not (0 < v <= MAX_LR):      # also refuses NaN
            errors.append(f"--lr must be a number in (0, {MAX_LR:g}], got {v}")
            break
    if not (0 < s["decay"] <= 1):
        errors.append(f"--decay must be in (0, 1], got {s['decay']}")
    if not 0 <= s["seed"] <= MAX_SEED:
        errors.append(f"--seed must be in [0, 2**63 − 1], got {s['seed']}")
    if s["limit"] is not None and s["limit"] < 1:
        errors.append(f"--limit must be at least 1, got {s['limit']}")
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        errors.append(f"--threads must be at least 1 and at most {MAX_THREADS}, got {args.threads}")
    if s["engine"] == "pure" and args.first_layer is not None:
        errors.append("--first-layer applies to the native engine; --engine pure has no C first layer")
    if s["engine"] == "pure" and args.dtype == "float32":
        errors.append("--dtype float32 applies to the native engine; --engine pure computes in "
                      "Python floats (float64)")
    if s["engine"] == "pure" and args.threads is not None and args.threads != 1:
        errors.append(f"--threads {args.threads} applies to the native engine; --engine pure "
                      "runs in one thread")
    for flag, v in (("--save", args.save), ("--resume", args.resume), ("--results", args.results),
                    ("--data-dir", args.data_dir)):
        if v is not None and v.strip() == "":
            errors.append(f"{flag} needs a path, got an empty string")
    if args.overwrite and args.save is None and args.results is None:
        errors.append("--overwrite applies to --save PATH or --results PATH, neither is given")
    if not errors:
        errors += check_memory(s, args.threads or default_threads())
    return errors


def memory_bytes():
    """Physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(s, threads):
    """Refuses, before anything is allocated, a network that cannot fit in memory."""
    from .engine import workspace_len
    sizes, itemsize = s["sizes"], np.dtype(s["dtype"]).itemsize
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    batch = min(s["batch_size"], s["limit"] or 60_000)     # a batch holds at most every sample
    try:
        work = workspace_len(sizes, batch, threads)
    except (MemoryError, ValueError) as e:
        return [f"--sizes/--batch-size/--threads: {e}"]
    if s["engine"] == "pure":
        need = params * 32 * 3          # Python floats in lists: ~32 bytes each, 3 copies
    else:
        need = (4 * params + work) * itemsize      # network, engine copy, snapshot, saving; workspace
    have = memory_bytes()
    if have is not None and need > have:
        return [f"--sizes {' '.join(map(str, sizes))} with --batch-size {batch} needs about "
                f"{need / 2**30:,.1f} GiB of memory, this machine has {have / 2**30:,.1f} GiB: "
                "choose smaller widths"]
    return []


# --- output -----------------------------------------------------------------------------------

def write_json_atomically(path, obj):
    """As checkpoints are written: a temporary file, fsync, rename; never over a special file."""
    import stat
    real = os.path.realpath(path)
    if os.path.lexists(real) and not stat.S_ISREG(os.stat(real).st_mode):
        raise OSError(f"{path} is not a regular file; the results will not replace it")

    def write(f):
        json.dump(obj, f, indent=1)
        f.write("\n")
    replace_atomically(real, write, binary=False, prefix=ckpt_mod._tmp_prefix(real))


def is_results_file(path):
    """Whether `path` holds a --results file of this program (which a new run may replace)."""
    import stat
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 * 2 ** 20:    # a FIFO would block
            return False
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return False
    return (isinstance(obj, dict) and isinstance(obj.get("command"), str)
            and obj["command"].startswith("python -m native.train") and "settings" in obj)


def _same_file(a, b):
    if a is None or b is None:
        return False
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def continue_command(path):
    """A command that continues the checkpoint at `path` as printed, or None if it is not one."""
    try:
        c = ckpt_mod.load(path)
    except CheckpointError:
        return None
    return f"python -m native.train --resume {shlex.quote(os.fspath(path))} --epochs {c.epoch + 10}"


def results(config, history, done, argv):
    acc = history["test_accuracy"]
    return {"command": "python -m native.train " + " ".join(argv), "settings": config,
            "epochs_done": done,
            "epoch_loss": history["epoch_loss"].tolist(),
            "test_accuracy": acc.tolist(),
            "seconds": history["seconds"].tolist(),
            "train_seconds": float(history["seconds"].sum()),
            "final_test_accuracy": float(acc[-1]) if acc.size else None}


def initial_loss(weights, biases, images, labels, chunk=256):
    """Mean cross-entropy of the untrained network on the first LOSS_SAMPLES samples
    (≈ ln 10 ≈ 2.30 for an output that guesses; the chapter's init gives ≈ 2.39).

    Through the project's kernels, in the run's dtype, `chunk` rows at a time: no float64
    copy of the images (60 MB for 10,000 of them) and no call into NumPy's BLAS, whose
    threads would then spin beside the training thread."""
    from . import kernels
    n_params = sum(w.size for w in weights)
    n = int(min(LOSS_SAMPLES, max(500, 1e9 // n_params), len(labels)))  # ≤ ~2 GFLOP: a moment
    dt, rows = weights[0].dtype, min(chunk, n)
    bufs = [np.empty((rows, w.shape[0]), dt) for w in weights] + [np.empty((rows, weights[-1].shape[1]), dt)]
    total = 0.0
    for lo in range(0, n, rows):
        m = min(rows, n - lo)
        a = kernels.gather_scale(images, np.arange(lo, lo + m), 1 / 255, out=bufs[0][:m])
        for i, (w, b) in enumerate(zip(weights, biases)):
            a = kernels.matmul(a, w, out=bufs[i + 1][:m], bias=b)
            if i < len(weights) - 1:
                kernels.relu(a, out=a)
        total += kernels.softmax_xent_delta(a, labels[lo:lo + m])[0] * m
    return total / n, n


# --- the command ------------------------------------------------------------------------------

class Output:
    """print() that survives a closed pipe (`… | head -1`): the run goes on and keeps
    saving; only what nobody reads any more is dropped."""

    def __init__(self):
        self.closed = set()

    def __call__(self, text, stream=None, flush=True):
        stream = stream or sys.stdout
        if id(stream) in self.closed:
            return
        try:
            stream.write(text + "\n")
            if flush:
                stream.flush()
        except (BrokenPipeError, ValueError):       # ValueError: the stream was closed
            self.closed.add(id(stream))
            point_at_devnull(stream)


@contextlib.contextmanager
def interrupts_deferred():
    """Ctrl-C waits until the block ends (then raises KeyboardInterrupt): a checkpoint
    being written is finished, so the run knows which epoch the file holds."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    previous = signal.signal(signal.SIGINT, lambda *_: pending.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def _ignore_interrupts():
    """After the first Ctrl-C the run is ending: a second one must not cut that short."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def main(argv=None):
    say = Output()
    argv_given = argv is not None
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser()
        args = parser.parse_args(argv)
        return run(parser, args, argv, say)
    except KeyboardInterrupt:       # before training started (training handles its own)
        _ignore_interrupts()
        say("\ninterrupted before training started; nothing was saved", sys.stderr)
        return 130
    except BrokenPipeError:         # stdout closed before the run began: nothing to report to
        say("", sys.stdout)
        return 1
    except MemoryError as e:
        say(f"error: not enough memory for this network and batch size (--sizes, --batch-size): {e}",
            sys.stderr)
        return 1
    finally:
        # A program that was interrupted keeps ignoring Ctrl-C until it has exited (a
        # second one would otherwise kill it on the way out); a caller's handler is restored.
        ending = argv_given is False and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        if previous is not None and not ending:
            signal.signal(signal.SIGINT, previous)


def run(parser, args, argv, say=None):
    say = say or Output()
    if args.resume is not None and args.resume.strip() == "":
        parser.exit(2, "error: --resume needs a path, got an empty string\n")
    try:
        resumed = ckpt_mod.load(args.resume) if args.resume is not None else None
        s = resolve_settings(args, resumed)
    except CheckpointError as e:
        parser.exit(2, f"error: {e}\n")
    errors = check_settings(s, args)
    if errors:
        parser.exit(2, "error: " + "\n       ".join(errors) + "\n")
    start_epoch = resumed.epoch if resumed is not None else 0
    # A resumed run keeps what it trains: its epochs go back into the file it resumed.
    save = args.save if args.save is not None else args.resume
    if args.results is not None:
        for other, flag in ((save, "--save"), (args.resume, "--resume")):
            if _same_file(args.results, other):
                parser.exit(2, f"error: --results {args.results} is the {flag} checkpoint; "
                               "name a separate .json file for the results\n")
    locks = []
    try:
        for path in (save, args.results):
            if path is None:
                continue
            try:
                locks.append(TargetLock(path).acquire())
            except TargetBusy as e:
                parser.exit(2, f"error: {e}; wait for it to finish or choose another file\n")
            except OSError:
                pass    # no lock file possible there: check_target below says why
        if save is not None:
            problem = ckpt_mod.check_target(
                save, overwrite=args.overwrite, resuming_from=args.resume,
                needed_bytes=ckpt_mod.estimated_bytes(s["sizes"], s["dtype"]),
                flag="--save" if args.save is not None else "--resume")
            if problem and args.save is None:
                problem += (" (a resumed run saves its epochs back into the file it resumed; "
                            "--save OTHER.npz saves them elsewhere)")
            if problem and "already exists" in problem:
                cmd = continue_command(save)
                problem = (f"--save {save} already exists: a new run would overwrite it. "
                           + (f"Continue that run with `{cmd}`, " if cmd else
                              "It is not a checkpoint this program can continue; ")
                           + "choose another file, or pass --overwrite")
            if problem:
                parser.exit(2, f"error: {problem}\n")
        if args.results is not None:
            replaceable = args.overwrite or not os.path.lexists(args.results) \
                or is_results_file(args.results)
            problem = ckpt_mod.check_target(args.results, overwrite=replaceable, flag="--results")
            if problem and "already exists" in problem:
                problem = (f"--results {args.results} already exists and is not a results file of "
                           "this program: choose another name, or pass --overwrite to replace it")
            if problem:
                parser.exit(2, f"error: {problem}\n")
        return train(args, argv, s, resumed, start_epoch, save, say)
    finally:
        for lock in locks:
            lock.release()


def train(args, argv, s, resumed, start_epoch, save, say):
    from . import data
    try:
        ds = data.load(s["dataset"], args.data_dir, mirrors=not args.offline,
                       registry=not args.offline)
    except data.DataError as e:
        say(f"error: {e}", sys.stderr)
        raise SystemExit(1) from None
    except OSError as e:
        say(f"error: cannot read the {s['dataset']} data: {e}", sys.stderr)
        raise SystemExit(1) from None
    limit = s["limit"]
    train_x, train_y = ds.train_images[:limit], ds.train_labels[:limit]
    test_x, test_y = ds.test_images[:limit], ds.test_labels[:limit]
    ds_name = ds.name
    del ds      # its images live on as train_x and test_x, until their sparse sets replace them

    if resumed is not None:
        weights, biases = resumed.weights, resumed.biases
        lr = args.lr if args.lr is not None else resumed.lr
        history = {k: v.copy() for k, v in resumed.history.items()}
    else:
        from .network import init_network
        weights, biases = init_network(s["sizes"], seed=s["seed"], dtype=s["dtype"])
        lr = s["lr"]
        history = ckpt_mod.empty_history()
    threads = args.threads or default_threads()
    if s["engine"] == "pure":
        runner = PureRunner(weights, biases, s["batch_size"])
        engine_desc, sparse = "pure Python", False
        s["first_layer"] = "dense"
    else:
        # a batch holds at most every sample: no workspace for more (same batches either way)
        runner = NativeRunner(weights, biases, min(s["batch_size"], len(train_y)), threads,
                              s["first_layer"])
        from .kernels import simd_path
        sparse = runner.use_sparse(train_x)
        s["first_layer"] = "sparse" if sparse else "dense"
        engine_desc = (f"native {s['dtype']}, {simd_path()}, {threads} thread{'s' * (threads > 1)}, "
                       f"{s['first_layer']} first layer")
    # The run's peak memory: the uint8 images go as soon as their sparse sets are built (the
    # test set first), and the loss before training, which reads the dense images, comes first.
    test_pieces = runner.prepare_test(test_x, test_y, sparse)
    del test_x
    if not start_epoch:
        loss0, n0 = initial_loss(weights, biases, train_x, train_y)
    train_x = runner.prepare(train_x, sparse)       # once per run: the epochs read them in place
    config = {k: s[k] for k in ("sizes", "epochs", "batch_size", "decay", "seed", "dtype", "dataset",
                                "first_layer", "limit", "engine")}
    config["lr0"] = resumed.config.get("lr0", s["lr"]) if resumed is not None else s["lr"]
    # where the history starts (a version-1 checkpoint had none): a loader can then tell a
    # history that lost epochs from one that never had them
    config["history_start"] = (resumed.config.get("history_start",
                                                  resumed.epoch - len(resumed.history["epoch_batches"]))
                               if resumed is not None else 0)

    print(f"{ds_name}: {len(train_y):,} training / {len(test_y):,} test samples; "
          f"network {'→'.join(map(str, s['sizes']))}; {engine_desc}; batch {s['batch_size']}, "
          f"lr {lr:g}, decay {s['decay']:g}, seed {s['seed']}", flush=True)
    if start_epoch:
        say(f"resuming {args.resume} after epoch {start_epoch}"
            + (f"; saving into {save}" if save != args.resume else ""))
        loss0 = math.log(s["sizes"][-1])
    else:
        say(f"loss before training: {loss0:.4f} (mean cross-entropy on {n0:,} training samples; "
            f"ln 10 = {math.log(10):.4f} is a uniform guess). Each epoch's loss below is the mean "
            f"of its mini-batch losses.")
    if start_epoch >= s["epochs"]:
        say(f"nothing to do: the checkpoint has {start_epoch} epochs, --epochs is {s['epochs']}; "
            f"nothing was saved ({args.resume} is unchanged). To train more: "
            f"python -m native.train --resume {shlex.quote(args.resume)} --epochs {start_epoch + 10}")
        return 0

    from pure.progress import Progress
    saved_epoch = start_epoch if (save is not None and args.resume is not None
                                  and _same_file(save, args.resume)) else None
    snapshot, acc, epoch = None, float("nan"), start_epoch
    n_train = len(train_y)
    results_warned = False

    def where():
        if save is None:
            return "nothing was saved (no --save given)"
        if saved_epoch is None:
            return f"no epoch finished, so no checkpoint was written to {save}"
        return f"{save} still holds epoch {saved_epoch}"

    try:
        for epoch in range(start_epoch, s["epochs"]):
            # Each epoch's order depends only on (seed, epoch), so a resumed run
            # visits the samples exactly as the uninterrupted one would.
            order = np.random.default_rng([s["seed"], epoch]).permutation(n_train)
            progress = None if args.no_progress else Progress(
                n_train, label=f"epoch {epoch + 1}/{s['epochs']}: ")
            t0 = time.perf_counter()
            losses = run_epoch(runner, train_x, train_y, order, lr, s["batch_size"], progress)
            dt = time.perf_counter() - t0
            if progress is not None:
                progress.finish()
            loss = float(losses.mean())
            if not (loss <= DIVERGED_LOSS):      # also NaN
                say(f"error: training diverged in epoch {epoch + 1} (loss {loss:.4g}; before training "
                    f"it was {loss0:.2f}): lr {lr:g} is too large for this network — try a smaller "
                    f"--lr (the chapter's is {CHAPTER['lr']:g}); "
                    + (where() if save is None else f"nothing of this epoch was saved, {where()}"),
                    sys.stderr)
                return 1
            acc = accuracy(runner, test_pieces)
            history = append_epoch(history, losses, acc, lr, dt)
            lr *= s["decay"]
            snapshot = ckpt_mod.Checkpoint(*runner.state(), epoch=epoch + 1, lr=lr, seed=s["seed"],
                                           config=config, history=history)
            if save is not None:
                with interrupts_deferred():
                    ckpt_mod.save(save, snapshot)
                    saved_epoch = epoch + 1
            if args.results is not None:
                try:
                    with interrupts_deferred():
                        write_json_atomically(args.results,
                                              results(config, history, epoch + 1 - start_epoch, argv))
                except OSError as e:    # derived data: the run and its checkpoint go on
                    if not results_warned:
                        say(f"warning: could not write --results {args.results}: {e.strerror or e}; "
                            "training goes on (the checkpoint's history holds the same numbers)",
                            sys.stderr)
                        results_warned = True
            rising = loss > loss0 and epoch > start_epoch
            say(f"epoch {epoch + 1:2d}/{s['epochs']}  loss {loss:.4f}  test acc {100 * acc:6.2f}%  "
                f"{dt:6.2f} s  {n_train / dt:11,.0f} samples/s"
                + (f"  (loss above the untrained network's {loss0:.2f}: diverging? try a smaller "
                   "--lr)" if rising else ""))
    except KeyboardInterrupt:
        _ignore_interrupts()
        if save is not None and snapshot is not None and (saved_epoch or 0) < snapshot.epoch:
            try:
                ckpt_mod.save(save, snapshot)
                saved_epoch = snapshot.epoch
            except OSError:
                pass
        say(f"\ninterrupted during epoch {epoch + 1}; {where()}", sys.stderr)
        return 130
    except OSError as e:
        _ignore_interrupts()
        say(f"error: could not write {e.filename or save}: {e.strerror or e}; {where()}", sys.stderr)
        return 1
    done = s["epochs"] - start_epoch
    say(f"done: {done} epoch{'s' * (done > 1)} in {history['seconds'][-done:].sum():.2f} s of training; "
        f"test accuracy {100 * acc:.2f}%; " + (f"saved in {save} (epoch {saved_epoch})"
                                               if save is not None else "nothing was saved (no --save given)"))
    return 0


def append_epoch(history, losses, acc, lr, seconds):
    """The history with one more epoch (new arrays: a saved snapshot never changes)."""
    add = {"batch_loss": losses, "epoch_batches": [len(losses)], "epoch_loss": [losses.mean()],
           "test_accuracy": [acc], "lr": [lr], "seconds": [seconds]}
    return {k: np.concatenate([history[k], np.asarray(add[k], dtype=dt)])
            for k, dt in ckpt_mod.HISTORY.items()}
