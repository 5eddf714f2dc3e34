"""The numbers behind each picture of ``python -m native.plot`` (NumPy only).

Each function takes what a run left behind (the checkpoint's history and
weights, the test set and its predictions, exercise 3's errors) and returns
exactly the arrays a figure draws, so a test can hold every picture to the run
it claims to show. The drawing itself is in ``native/plot.py``.
"""
import math

import numpy as np

from .evaluate import confusion_matrix

CHANCE_LOSS = math.log(10)   # cross-entropy of a uniform guess over 10 classes
ZERO_FLOOR = 1e-17           # where an exact 0 sits on a log axis


class MissingData(ValueError):
    """A figure cannot be drawn from this checkpoint; the message says what is missing."""


def history_of(ckpt):
    """The checkpoint's history (contract C1) as a dict of 1-D arrays; {} if it has none."""
    history = getattr(ckpt, "history", None) or {}
    return {k: np.asarray(v) for k, v in history.items()}


def smoothing_window(n_batches):
    """Batches per point of the smoothed curve: a round number near 1/50 of the run, 1 to 200."""
    return max(w for w in (1, 2, 5, 10, 20, 50, 100, 200) if w <= max(1, n_batches // 50))


def trailing_mean(values, window):
    """Mean of each value and the window−1 before it (fewer at the start): the curve as of then."""
    values = np.asarray(values, dtype=np.float64)
    c = np.concatenate(([0.0], np.cumsum(values)))
    i = np.arange(1, len(values) + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def curve_data(history, window=None, epochs_done=None):
    """Learning curves from a run's history.

    Returns a dict: ``batch_loss`` (every mini-batch's loss, in training order),
    ``batch_x`` (where each batch ends, in epochs: batch j of epoch e is at
    e + (j+1)/batches_e), ``smoothed`` and ``window`` (trailing mean over
    ``window`` batches), ``epoch_ends`` (1, 2, …, E), ``epoch_loss`` and
    ``test_accuracy`` (percent) per epoch, ``first_epoch`` (the first recorded
    epoch's batch losses, where most of the fall happens). Positions count
    from ``skipped`` = epochs_done − recorded epochs: a run resumed from a
    checkpoint without history records only its own epochs. Raises
    MissingData if the history has no epochs or does not add up.
    """
    batch_loss = np.asarray(history.get("batch_loss", []), dtype=np.float64)
    epoch_batches = np.asarray(history.get("epoch_batches", []), dtype=np.int64)
    epoch_loss = np.asarray(history.get("epoch_loss", []), dtype=np.float64)
    accuracy = np.asarray(history.get("test_accuracy", []), dtype=np.float64)
    if epoch_batches.size == 0 or batch_loss.size == 0:
        raise MissingData("the checkpoint holds no training history (it was written before "
                          "histories were recorded); a new run of python -m native.train --save "
                          "records one")
    if epoch_batches.min() < 1 or epoch_batches.sum() != batch_loss.size:
        raise MissingData(f"the history does not add up: {batch_loss.size} batch losses, but the "
                          f"epochs say {int(epoch_batches.sum())} batches")
    for name, arr in (("epoch_loss", epoch_loss), ("test_accuracy", accuracy)):
        if arr.size != epoch_batches.size:
            raise MissingData(f"the history has {epoch_batches.size} epochs but {arr.size} values "
                              f"of {name}")
    skipped = 0 if epochs_done is None else int(epochs_done) - epoch_batches.size
    if skipped < 0:
        raise MissingData(f"the history has {epoch_batches.size} epochs, the checkpoint only "
                          f"{epochs_done}")
    window = smoothing_window(batch_loss.size) if window is None else int(window)
    if window < 1:
        raise ValueError(f"window must be at least 1 batch, got {window}")
    epoch_of = np.repeat(np.arange(epoch_batches.size), epoch_batches)
    starts = np.concatenate(([0], np.cumsum(epoch_batches)[:-1]))
    within = np.arange(batch_loss.size) - starts[epoch_of] + 1
    return {
        "batch_loss": batch_loss,
        "batch_x": skipped + epoch_of + within / epoch_batches[epoch_of],
        "smoothed": trailing_mean(batch_loss, window),
        "window": window,
        "epoch_ends": np.arange(skipped + 1, skipped + epoch_batches.size + 1),
        "skipped": skipped,
        "epoch_loss": epoch_loss,
        "test_accuracy": 100.0 * accuracy,
        "first_epoch": batch_loss[:epoch_batches[0]],
    }


def first_layer_images(W1, max_units=64):
    """W1's columns as square images: column j holds how strongly each pixel drives unit j.

    Returns (images of shape (units, side, side), the shared colour limit
    max|w| over the shown units, total units). Raises MissingData if the
    input is not a square image.
    """
    W1 = np.asarray(W1, dtype=np.float64)
    side = math.isqrt(W1.shape[0])
    if side * side != W1.shape[0]:
        raise MissingData(f"the first layer has {W1.shape[0]} inputs, not a square image")
    units = min(int(max_units), W1.shape[1])
    images = W1[:, :units].T.reshape(units, side, side)
    return images, float(np.abs(images).max()), W1.shape[1]


def confusion_data(labels, pred, n_classes):
    """(confusion matrix m[true, predicted], accuracy as a fraction)."""
    labels, pred = np.asarray(labels, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    if labels.shape != pred.shape or labels.size == 0:
        raise ValueError(f"labels and predictions must be two equal non-empty 1-D arrays, "
                         f"got {labels.shape} and {pred.shape}")
    return confusion_matrix(labels, pred, n_classes), float(np.mean(labels == pred))


def mistakes(images, labels, pred, count):
    """The first `count` misclassified samples, in test-set order.

    Returns (indices, images of shape (k, side, side), true labels, predicted
    labels, how many were misclassified in all).
    """
    labels, pred = np.asarray(labels, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    wrong = np.flatnonzero(labels != pred)
    idx = wrong[:max(0, int(count))]
    images = np.asarray(images)
    side = math.isqrt(images.shape[1])
    return idx, images[idx].reshape(len(idx), side, side), labels[idx], pred[idx], len(wrong)


def gradcheck_data(errors):
    """Exercise 3's errors (contract C2) as arrays for a log-scale bar chart.

    Returns a dict: ``parameters`` (names), ``pure``, ``native`` and
    ``chapter_bias`` (NaN where the chapter's formula does not apply: W),
    ``threshold`` (the verdict's bound, one value if all agree), each error as
    it came; ``*_drawn`` the same with an exact 0 lifted to ZERO_FLOOR so a log
    axis can show it.
    """
    names = list(errors["parameters"])
    out = {"parameters": names}
    for key in ("pure", "native", "chapter_bias"):
        vals = np.array([np.nan if v is None else float(v) for v in errors[key]], dtype=np.float64)
        if vals.shape != (len(names),):
            raise ValueError(f"exercise 3's {key} has {vals.size} values for {len(names)} parameters")
        out[key] = vals
        out[key + "_drawn"] = np.where(vals == 0, ZERO_FLOOR, vals)
    thresholds = sorted(set(float(t) for t in errors["threshold"]))
    out["threshold"] = thresholds[0] if len(thresholds) == 1 else np.array(errors["threshold"], float)
    return out


def gradcheck_diagnosis(sizes, samples, seed=0):
    """What the gradient check says about the chapter's mean(δ) on exercise 3's problem, for the picture.

    Returns (mistake key, ratio a/n of the failing biases or None): the same
    diagnosis ``python -m pure.gradcheck --chapter-bias`` prints.
    """
    from pure.gradcheck import gradient_pairs, random_problem
    from pure.gradcheck_diagnosis import diagnose, findings
    from pure.gradcheck_rules import allowance_for
    from pure.network import forward
    X, Y, W, B = random_problem(list(sizes), samples, seed)
    pairs = gradient_pairs(X, Y, W, B, chapter_bias=True)
    allowance = allowance_for(X, Y, W, B)
    activations, pre_activations = forward(X, W, B)
    found = findings(pairs, pre_activations, allowance=allowance)
    ratios = {round(f.ratio, 9) for f in found if f.ratio is not None}
    mistake = diagnose(pairs, activations, pre_activations, W, Y, allowance=allowance).mistake
    return mistake, (ratios.pop() if len(ratios) == 1 and len(found) == len(W) else None)


def mosaic(images, cols, gap=1, label_rows=0):
    """Tiles `images` (k, h, w) into one array, `cols` to a row, NaN between them.

    Each tile has `gap` NaN pixels to its right and below, and `label_rows` NaN
    rows above it (room for a caption). Returns (array, top-left (row, col)
    of every tile). One image drawn once renders far faster than k axes.
    """
    images = np.asarray(images, dtype=np.float64)
    k, h, w = images.shape
    rows = max(1, math.ceil(k / cols))
    th, tw = label_rows + h + gap, w + gap
    out = np.full((rows * th - gap, cols * tw - gap), np.nan)
    corners = []
    for i in range(k):
        r, c = divmod(i, cols)
        y, x = r * th + label_rows, c * tw
        out[y:y + h, x:x + w] = images[i]
        corners.append((y, x))
    return out, corners


# --- a student's own losses (exercise 2 with one's own training loop) ---------------------

LOSS_FILE_TYPES = (".npy", ".json", ".txt")
MAX_OWN_LOSSES = 10_000_000        # 80 MB of float64: more losses than any exercise-2 loop records
MAX_OWN_FILE = 256 * 2 ** 20       # bytes; a text file of 10⁷ losses is ~200 MB


def is_losses_file(path):
    """True when ``path`` names a student's own list of losses (.npy, .json or .txt), not a checkpoint."""
    return str(path).lower().endswith(LOSS_FILE_TYPES)


def read_losses(path):
    """A student's own losses, in the order they were recorded, as a 1-D float64 array.

    ``.npy``: ``np.save(path, losses)`` of a list or 1-D array of numbers;
    ``.json``: ``json.dump(losses, f)``, a list of numbers; ``.txt``: numbers
    separated by whitespace or commas, one per line as ``print(loss, file=f)``
    writes them, ``#`` starting a comment. Raises MissingData with one line
    naming the file and what is wrong (not a number, not finite, empty, nested,
    too big).
    """
    import json
    import os
    name = os.path.basename(str(path))
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise MissingData(f"{path}: {e.strerror or e}") from None
    if not os.path.isfile(path):
        raise MissingData(f"{path} is not a file")
    if size > MAX_OWN_FILE:
        raise MissingData(f"{name} is {size / 2**20:.0f} MB; a list of losses is far smaller "
                          f"(at most {MAX_OWN_FILE // 2**20} MB)")
    suffix = str(path).lower().rsplit(".", 1)[-1]
    try:
        if suffix == "npy":
            values = np.load(path, allow_pickle=False)
            if values.dtype.kind not in "fiu":
                raise MissingData(f"{name} holds {values.dtype} values; expected numbers "
                                  f"(np.save(path, np.array(losses, dtype=float)))")
            if values.ndim != 1 and not (values.ndim == 2 and 1 in values.shape):
                raise MissingData(f"{name} has shape {values.shape}; expected a 1-D list of losses")
            values = values.astype(np.float64).ravel()
        elif suffix == "json":
            with open(path, encoding="utf-8") as f:
                data = json.load(f, parse_constant=lambda c: float(c))
            if not isinstance(data, list):
                raise MissingData(f"{name} holds a JSON {type(data).__name__}; expected a list of "
                                  f"losses, e.g. [2.31, 1.87, 1.52]")
            for i, v in enumerate(data):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise MissingData(f"{name}: entry {i} is {json.dumps(v)[:40]}, expected a number")
            values = np.asarray(data, dtype=np.float64)
        else:
            numbers = []
            with open(path, encoding="utf-8") as f:
                for line_no, line in enumerate(f, 1):
                    for word in line.split("#", 1)[0].replace(",", " ").split():
                        try:
                            numbers.append(float(word))
                        except ValueError:
                            raise MissingData(f"{name} line {line_no}: {word[:40]!r} is not a number") from None
            values = np.asarray(numbers, dtype=np.float64)
    except MissingData:
        raise
    except (ValueError, UnicodeDecodeError, OSError) as e:
        raise MissingData(f"{name} cannot be read as {suffix}: {str(e).splitlines()[0]}") from None
    if values.size == 0:
        raise MissingData(f"{name} holds no losses")
    if values.size > MAX_OWN_LOSSES:
        raise MissingData(f"{name} holds {values.size:,} losses; at most {MAX_OWN_LOSSES:,} are drawn")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise MissingData(f"{name}: loss {bad[0]} is {values[bad[0]]}: a loss to draw must be finite "
                          f"(a NaN or inf means the training diverged: try a smaller learning rate)")
    return values


def own_loss_data(losses, window=None):
    """What ``draw_own_losses`` draws: the losses, their positions 1…n, the trailing mean and its window."""
    losses = np.asarray(losses, dtype=np.float64)
    window = smoothing_window(len(losses)) if window is None else int(min(window, len(losses)))
    return {"x": np.arange(1, len(losses) + 1), "loss": losses, "window": window,
            "smoothed": trailing_mean(losses, window)}
