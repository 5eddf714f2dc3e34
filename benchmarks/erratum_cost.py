"""What the chapter's bias-gradient erratum costs in practice: one MNIST epoch, mean(δ) vs sum(δ).

    python benchmarks/erratum_cost.py                 # seeds 0-4, one epoch each
    python benchmarks/erratum_cost.py --seeds 0 1 2 --epochs 3

The chapter's run (784→64→32→10, He init, batch 64, lr 0.1) trained with
``native``'s functions, batch by batch, twice per seed from the same initial
weights and the same shuffled order: once with the correct bias gradient
sum(δ, axis=0) and once with the chapter's mean(δ, axis=0), which is m = 64
times smaller. Prints the test accuracy of both and how large the biases got.
Results and their reading: docs/erratum.md.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # a clone not installed
import native  # noqa: E402
from native.data import load  # noqa: E402
from pure import checks  # noqa: E402


def train_epochs(X, Y, sizes, seed, epochs, chapter_bias, batch_size=64, lr=0.1, decay=0.95):
    """The chapter's loop (§5.7) on native's kernels; the chapter's bias line when ``chapter_bias``."""
    weights, biases = native.init_network(sizes, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            acts, pres = native.forward(X[idx], weights, biases)
            grad_w, grad_b = native.backward(acts, pres, weights, Y[idx])
            if chapter_bias:                  # np.mean(delta, axis=0, keepdims=True) = sum / m
                grad_b = [g / len(idx) for g in grad_b]
            native.sgd_update(weights, biases, grad_w, grad_b, lr)
        lr *= decay
    return weights, biases


def accuracy(X, labels, weights, biases):
    probs = native.forward(X, weights, biases)[0][-1]
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def main(argv=None):
    parser = checks.ArgumentParser(prog="python benchmarks/erratum_cost.py", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], metavar="S",
                        help="seeds, each >= 0 (default: 0 1 2 3 4)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run, 1-50 (default: 1)")
    args = parser.parse_args(argv)
    if min(args.seeds) < 0:
        parser.error(f"--seeds must be non-negative integers, got {min(args.seeds)}")
    if not 1 <= args.epochs <= 50:
        parser.error(f"--epochs must be between 1 and 50, got {args.epochs}")

    data = load("mnist")
    X = data.train_images.astype(np.float64) / 255.0
    Y = np.eye(10)[data.train_labels]
    X_test = data.test_images.astype(np.float64) / 255.0
    sizes = [784, 64, 32, 10]
    print(f"784→64→32→10, batch 64, lr 0.1, {args.epochs} epoch(s), float64; "
          f"the same init and order for both lines of a seed")
    print(f"{'seed':>4}  {'sum(δ) (correct)':>17}  {'mean(δ) (chapter)':>18}  {'difference':>10}  "
          f"{'max |b| sum':>11}  {'max |b| mean':>12}")
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        w_sum, b_sum = train_epochs(X, Y, sizes, seed, args.epochs, chapter_bias=False)
        w_mean, b_mean = train_epochs(X, Y, sizes, seed, args.epochs, chapter_bias=True)
        acc_sum = accuracy(X_test, data.test_labels, w_sum, b_sum)
        acc_mean = accuracy(X_test, data.test_labels, w_mean, b_mean)
        big = lambda bs: max(float(np.abs(b).max()) for b in bs)
        rows.append((acc_sum, acc_mean))
        print(f"{seed:>4}  {acc_sum:>16.2%}  {acc_mean:>18.2%}  {100 * (acc_mean - acc_sum):>+9.2f}pp  "
              f"{big(b_sum):>11.4f}  {big(b_mean):>12.4f}   ({time.perf_counter() - start:.0f} s)",
              flush=True)
    sums, means = np.array(rows).T
    print(f"mean  {sums.mean():>16.2%}  {means.mean():>18.2%}  "
          f"{100 * (means.mean() - sums.mean()):>+9.2f}pp")
    return 0


if __name__ == "__main__":
    sys.exit(checks.run_command(main))
