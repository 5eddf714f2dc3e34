"""View 3: training on MNIST in one background thread, through the trainer's own code.

Everything that decides the numbers is ``native.trainer``'s: ``resolve_settings`` and
``check_settings`` for the settings, ``init_network``, ``NativeRunner`` (the C engine),
``run_epoch`` (the same pieces, same batches, same order), ``accuracy``,
``append_epoch``, ``Checkpoint``. The epoch loop below is ``trainer.run``'s loop
without its printing; ``LiveRunner`` adds only what a page needs between two pieces:
publish the new batch losses and weights, wait while paused, stop when asked.
So with the same settings the losses and accuracies equal ``python -m native.train``'s
(tests/test_playground_train.py checks them bit for bit).
"""

import array
import math
import os
import re
import threading
import time

import numpy as np

from native import checkpoint as ckpt_mod
from native import trainer
from native.network import init_network

# The page's own limits on top of the trainer's ranges: a live page with a growing
# curve, not a benchmark (the trainer itself takes any width that fits in memory).
MAX_HIDDEN_LAYERS, MAX_WIDTH, MAX_EPOCHS, MAX_BATCH = 4, 1024, 50, 4096
SHOWN_UNITS = 64
MAX_LOSSES_PER_REPLY = 100_000      # a tab opened late catches up in a few replies, none huge
NAME_RE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,99}")        # whole name: fullmatch


class Stopped(Exception):
    """Raised between two pieces when the run is reset or the server stops."""


class Diverged(Exception):
    """Raised between two pieces when a batch loss or a weight is no longer finite: the page
    then says so in one line, and neither the curve nor the draw view takes in NaN or inf."""


class LiveRunner(trainer.NativeRunner):
    """The trainer's NativeRunner; after each piece it hands the page what changed."""

    def __init__(self, live, stop, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.live, self.stop = live, stop

    def train_piece(self, images, labels, order, lr, batch_losses):
        super().train_piece(images, labels, order, lr, batch_losses)
        self.live.after_piece(self, batch_losses)


def settings_from(body):
    """The trainer's settings for a start request, checked by the trainer's own rules.

    Returns (settings, None) or (None, message)."""
    for key in ("epochs", "batch_size", "seed", "limit"):
        v = body.get(key)
        if v is not None and type(v) is not int:
            return None, f"{key} must be an integer, got {v!r:.40}"
    for key in ("lr", "decay"):
        v = body.get(key)
        if v is not None and (type(v) not in (int, float) or not math.isfinite(v)):
            return None, f"{key} must be a finite number, got {v!r:.40}"
    hidden = body.get("hidden", trainer.CHAPTER["sizes"][1:-1])
    if (not isinstance(hidden, list) or not 1 <= len(hidden) <= MAX_HIDDEN_LAYERS
            or not all(type(n) is int and 1 <= n <= MAX_WIDTH for n in hidden)):
        return None, (f"hidden must be a list of 1 to {MAX_HIDDEN_LAYERS} integer widths in "
                      f"[1, {MAX_WIDTH}], got {hidden!r:.80}")
    # the trainer's own defaults for every flag (a flag added there is never missing here),
    # then the page's fields, as a command line would give them
    args = trainer.build_parser().parse_args([])
    args.sizes, args.epochs, args.batch_size = [784, *hidden, 10], body.get("epochs"), body.get("batch_size")
    args.lr, args.decay, args.seed, args.limit = body.get("lr"), body.get("decay"), body.get("seed"), body.get("limit")
    s = trainer.resolve_settings(args, None)
    errors = trainer.check_settings(s, args)
    if s["epochs"] > MAX_EPOCHS:
        errors.append(f"epochs: at most {MAX_EPOCHS} on this page, got {s['epochs']}")
    if s["batch_size"] > MAX_BATCH:
        errors.append(f"batch_size: at most {MAX_BATCH} on this page, got {s['batch_size']}")
    if errors:
        # the trainer speaks in flags (--batch-size); the page's fields are named alike
        return None, "; ".join(e.replace("--", "") for e in errors)
    return s, None


class Training:
    """One run at a time; its state read by any number of pages under one lock."""

    def __init__(self, lock, load_data, on_weights=None):
        self.lock = lock                # the server's one lock around the model
        self.load_data = load_data      # () → native.data Dataset (cached after the first call)
        self.on_weights = on_weights    # called under the lock with (weights, biases, source)
        self.save_lock = threading.Lock()
        self.thread = None
        self.stop_event = threading.Event()
        self.resume_event = threading.Event()
        self._clear()

    def _clear(self):
        self.status, self.error, self.settings = "idle", None, None
        self.batch_losses, self.epochs = array.array("d"), []    # 8 bytes a batch, not a float object
        self.epoch, self.samples_done, self.samples_per_s = 0, 0, 0.0
        self.weight_version, self.first_layer = 0, None
        self.snapshot, self.initial_loss = None, None
        self.paused_seconds = 0.0
        self.n_train = 0

    # --- control (called by request threads) ------------------------------------------

    def start(self, s):
        with self.lock:
            if self.status in ("running", "paused", "loading"):
                return f"a run is already {self.status}: pause it, reset it, or wait for it to finish"
            self._clear()
            self.status, self.settings = "loading", s
            # each run has its own stop event: a run that was reset while it still loaded
            # MNIST can never write into the next run's state
            self.stop_event = threading.Event()
            self.resume_event.set()
            self.thread = threading.Thread(target=self._run, args=(s, self.stop_event), name="training",
                                           daemon=True)
            self.thread.start()
        return None

    def pause(self):
        with self.lock:
            if self.status != "running":
                return f"nothing to pause: training is {self.status}"
            self.resume_event.clear()
            self.status = "paused"

    def resume(self):
        with self.lock:
            if self.status != "paused":
                return f"nothing to resume: training is {self.status}"
            self.status = "running"
            self.resume_event.set()

    def reset(self, timeout=5.0):
        self.stop(timeout)
        with self.lock:
            self._clear()

    def stop(self, timeout=1.0):
        self.stop_event.set()
        self.resume_event.set()
        t = self.thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    # --- the run (training thread) ----------------------------------------------------------

    def after_piece(self, runner, batch_losses):
        """Between two pieces: publish, then wait while paused. Weights are copied under
        the lock, so a reader never sees them half-way through an update."""
        w = [a.copy() for a in runner.weights]
        b = [a.copy() for a in runner.biases]
        finite = np.isfinite(batch_losses)
        if not (finite.all() and all(np.isfinite(a).all() for a in w + b)):
            with self.lock:
                if runner.stop.is_set():
                    raise Stopped
                good = batch_losses[:int(np.argmin(finite))] if not finite.all() else batch_losses
                self.batch_losses.frombytes(np.ascontiguousarray(good, dtype=np.float64).tobytes())
            raise Diverged(f"training diverged in epoch {self.epoch + 1} (a loss or weight is no "
                           f"longer finite); try a smaller lr (it was {self.settings['lr']:g})")
        with self.lock:
            if runner.stop.is_set():
                raise Stopped
            self.batch_losses.frombytes(np.ascontiguousarray(batch_losses, dtype=np.float64).tobytes())
            self.samples_done += len(batch_losses) * self.settings["batch_size"]
            self.weight_version += 1
            self.weights = w
            if self.on_weights is not None:
                self.on_weights(w, b, "training")
        if not self.resume_event.is_set():
            t0 = time.perf_counter()
            while not self.resume_event.wait(0.1):
                pass
            self.paused_seconds += time.perf_counter() - t0
        if runner.stop.is_set():
            raise Stopped

    def _run(self, s, stop):
        try:
            self._train(s, stop)
        except Stopped:
            pass
        except Diverged as e:
            with self.lock:
                if not stop.is_set():
                    self.status, self.error = "error", str(e)
        except Exception as e:      # the page shows one line; the server keeps serving
            with self.lock:
                if not stop.is_set():
                    self.status, self.error = "error", f"{type(e).__name__}: {e}"

    def _train(self, s, stop):
        ds = self.load_data()
        limit = s["limit"]
        train_x, train_y = ds.train_images[:limit], ds.train_labels[:limit]
        test_x, test_y = ds.test_images[:limit], ds.test_labels[:limit]
        weights, biases = init_network(s["sizes"], seed=s["seed"], dtype=s["dtype"])
        lr = s["lr"]
        history = ckpt_mod.empty_history()
        runner = LiveRunner(self, stop, weights, biases, min(s["batch_size"], len(train_y)),
                            trainer.default_threads(), s["first_layer"])
        sparse = runner.use_sparse(train_x)
        s["first_layer"] = "sparse" if sparse else "dense"
        loss0, _ = trainer.initial_loss(weights, biases, train_x, train_y)
        train_x = runner.prepare(train_x, sparse)
        test_pieces = runner.prepare_test(test_x, test_y, sparse)
        config = {k: s[k] for k in ("sizes", "epochs", "batch_size", "decay", "seed", "dtype",
                                    "dataset", "first_layer", "limit", "engine")}
        config["lr0"] = s["lr"]
        config["history_start"] = 0         # a fresh run's history starts at epoch 0 (as the trainer's)
        n_train = len(train_y)
        with self.lock:
            if stop.is_set():
                raise Stopped
            self.weights = [w.copy() for w in weights]
            self.weight_version += 1
            self.initial_loss, self.first_layer, self.n_train = loss0, s["first_layer"], n_train
            if self.status == "loading":
                self.status = "running"
        for epoch in range(s["epochs"]):
            if stop.is_set():
                raise Stopped
            order = np.random.default_rng([s["seed"], epoch]).permutation(n_train)
            t0, paused0 = time.perf_counter(), self.paused_seconds
            losses = trainer.run_epoch(runner, train_x, train_y, order, lr, s["batch_size"])
            dt = time.perf_counter() - t0 - (self.paused_seconds - paused0)
            loss = float(losses.mean())
            if not np.isfinite(loss):
                with self.lock:
                    if stop.is_set():
                        raise Stopped
                    self.status = "error"
                    self.error = (f"training diverged in epoch {epoch + 1} (loss {loss}); "
                                  f"try a smaller lr (it was {lr:g})")
                return
            acc = trainer.accuracy(runner, test_pieces)
            history = trainer.append_epoch(history, losses, acc, lr, dt)
            lr_used, lr = lr, lr * s["decay"]
            snap = ckpt_mod.Checkpoint(*runner.state(), epoch=epoch + 1, lr=lr, seed=s["seed"],
                                       config=config, history=history)
            with self.lock:
                if stop.is_set():
                    raise Stopped
                self.epochs.append({"epoch": epoch + 1, "loss": loss, "test_accuracy": acc,
                                    "lr": lr_used, "seconds": dt,
                                    "samples_per_s": n_train / dt if dt > 0 else None})
                self.epoch, self.snapshot = epoch + 1, snap
                if self.on_weights is not None:     # the draw view: this epoch's network
                    self.on_weights(snap.weights, snap.biases, "training")
                self.samples_per_s = n_train / dt if dt > 0 else 0.0
        with self.lock:
            if stop.is_set():
                raise Stopped
            self.status = "finished"

    # --- reading (request threads) -----------------------------------------------------------

    def state(self, since=0, weights_after=-1):
        """The run's state; batch losses from index `since` on; the first layer's weights
        only if they changed after version `weights_after` (so a page polls cheaply)."""
        from .digit import f32_b64
        with self.lock:
            out = {"status": self.status, "error": self.error, "settings": self.settings,
                   "epoch": self.epoch, "epochs": list(self.epochs), "n_batches": len(self.batch_losses),
                   "since": since,
                   "batch_losses": self.batch_losses[since:since + MAX_LOSSES_PER_REPLY].tolist(),
                   "samples_done": self.samples_done, "n_train": self.n_train,
                   "samples_per_s": self.samples_per_s, "initial_loss": self.initial_loss,
                   "first_layer": self.first_layer, "weight_version": self.weight_version,
                   "saved_epoch": self.snapshot.epoch if self.snapshot is not None else None}
            if self.weight_version > weights_after and self.weight_version > 0:
                W1 = self.weights[0][:, :SHOWN_UNITS]      # the page draws the first 64 units
                out["W1"] = f32_b64(W1.T)                 # row j: hidden unit j's 784 weights
                out["W1_shape"] = [W1.shape[1], W1.shape[0]]
                out["W1_absmax"] = float(np.abs(W1).max())
        return out

    def save(self, folder, name, overwrite):
        """Writes the last finished epoch as a checkpoint under `folder` with the trainer's
        rules (check_target: no special files, no silent overwrite; atomic write).
        Returns (status, message)."""
        if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
            return 400, (f"name must be a plain file name (letters, digits, _ - ., no folders, "
                         f"at most 100 characters), got {name!r:.120}")
        if not name.endswith(".npz"):
            name += ".npz"
        with self.lock:
            snap = self.snapshot
        if snap is None:
            return 409, "no epoch has finished yet: nothing to save"
        path = os.path.join(folder, name)
        with self.save_lock:        # check and write as one step: two tabs never both "win" a name
            return self._save_checked(path, name, snap, overwrite)

    def _save_checked(self, path, name, snap, overwrite):
        problem = ckpt_mod.check_target(path, overwrite=overwrite, flag="name",
                                        needed_bytes=ckpt_mod.estimated_bytes(
                                            snap.sizes, snap.dtype, len(snap.history["batch_loss"])))
        if problem:
            problem = problem.replace("pass --overwrite", "tick overwrite").replace(
                f"Resume it with --resume {path}, choose", "Choose")
            return 409, problem
        ckpt_mod.save(path, snap)
        return 200, {"saved": name, "epoch": snap.epoch, "path": path}
