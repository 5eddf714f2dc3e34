"""§5.8 and exercise 3: check backprop against numerical gradients.

Backprop is easy to get wrong and hard to see wrong: a network with a wrong
gradient often still learns, only worse. The check is simple. For every
parameter θ, nudge it a tiny ε up and down and watch the loss:

    ∂L/∂θ ≈ (L(θ + ε) − L(θ − ε)) / 2ε          (central difference, §5.8)

and compare that number with what ``backward()`` says. We compare them with
the relative error of cs231n,

    relative_error(a, n) = |a − n| / max(1e-12, |a| + |n|)

(the 1e-12 floor only matters when both are (nearly) zero: then they agree).
In float64 with ε = 1e-5, a correct backprop gives about 1e-9 … 1e-10 on these
small networks; we call anything ≤ 1e-7 a pass. Around 1e-2 means a bug.

Two honest exceptions, both failures of the *numerical* side:

* a ReLU kink: if some hidden Z lies within ε of 0, the central difference
  straddles the corner of max(0, z) and measures neither slope (the command
  prints a note when that happens; try another seed);
* a tiny gradient entry (≲ 1e-4): the loss is computed to about 1e-16, so the
  numerical slope carries an absolute rounding error of about 1e-16/ε ≈ 1e-11,
  which is large relative to a gradient that small.

Run exercise 3 — the 4→5→3 network with 3 samples — from the command line:

    python -m pure.gradcheck                  # the chapter's case, seed 0
    python -m pure.gradcheck --sizes 3 4 4 4 2 --samples 5 --seed 1
    python -m pure.gradcheck --chapter-bias   # the chapter's mean(δ): fails by a factor N

``numerical_gradient`` itself lives in ``pure.numerical`` (re-exported here and
from ``pure``). ``relative_error``, ``max_relative_error``, ``compare_gradients`` and
``format_table`` are plain standard-library code that accept any 2-D nested
sequence (lists of rows, NumPy arrays), so other checkers can reuse them.
"""

import argparse
import random
import sys

from pure.network import backward, cross_entropy, forward, init_network
from pure.numerical import EPS, numerical_gradient

THRESHOLD = 1e-7    # largest relative error that counts as a pass (float64)
FLOOR = 1e-12       # keeps relative_error finite when both gradients are 0


def relative_error(a, n, floor=FLOOR):
    """cs231n's relative error between an analytic value a and a numerical value n.

    |a − n| / max(floor, |a| + |n|): 0 when they agree, 1 when one is 0 and the
    other is not (or they have opposite signs), and scale-free in between.
    """
    a, n = float(a), float(n)
    return abs(a - n) / max(floor, abs(a) + abs(n))


def max_relative_error(analytic, numerical, floor=FLOOR):
    """The largest ``relative_error`` over all entries of two matrices of the same shape."""
    analytic_rows, numerical_rows = list(analytic), list(numerical)
    if len(analytic_rows) != len(numerical_rows):
        raise ValueError(f"cannot compare a matrix of {len(analytic_rows)} rows "
                         f"with one of {len(numerical_rows)} rows")
    worst = 0.0
    for i, (row_a, row_n) in enumerate(zip(analytic_rows, numerical_rows)):
        row_a, row_n = list(row_a), list(row_n)
        if len(row_a) != len(row_n):
            raise ValueError(f"row {i} has {len(row_a)} entries in one matrix "
                             f"and {len(row_n)} in the other")
        for a, n in zip(row_a, row_n):
            worst = max(worst, relative_error(a, n, floor))
    return worst


def compare_gradients(named_pairs, threshold=THRESHOLD):
    """Compare gradients parameter by parameter; return table rows.

    ``named_pairs`` is a list of ``(name, analytic, numerical)``. Each result row
    is ``(name, shape, max relative error, passed)`` — ready for ``format_table``.
    """
    rows = []
    for name, analytic, numerical in named_pairs:
        analytic_rows = [list(row) for row in analytic]
        shape = (len(analytic_rows), len(analytic_rows[0]) if analytic_rows else 0)
        error = max_relative_error(analytic_rows, numerical)
        rows.append((name, shape, error, error <= threshold))
    return rows


HEADER = ("parameter", "shape", "max rel. error", "result")


def format_table(rows, header=HEADER):
    """A plain-text table, one line per row, columns aligned; returns a string.

    Cells are shown as: shapes (tuples) as ``4×5``, floats as ``1.23e-10``,
    booleans as ``pass``/``FAIL``, anything else with ``str()`` — so a
    three-way check can pass its own header and rows, e.g.
    ``("parameter", "shape", "pure vs numerical", "native vs pure", "result")``.
    Every row must have as many cells as ``header``.
    """
    def show(cell):
        if isinstance(cell, bool) or type(cell).__name__ == "bool_":   # NumPy's bool too
            return "pass" if cell else "FAIL"
        if isinstance(cell, tuple):
            return "×".join(str(n) for n in cell)
        if isinstance(cell, float):
            return f"{cell:.2e}"
        return str(cell)

    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"table row {i} has {len(row)} cells, expected {len(header)} "
                             f"(one per header column: {', '.join(header)})")
    lines = [tuple(header)] + [tuple(show(cell) for cell in row) for row in rows]
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
            for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def backward_with_chapter_bias(activations, pre_activations, weights, y_onehot):
    """``backward()`` with the bias formula as the chapter prints it: ∂L/∂bₖ = mean(δₖ, axis=0).

    mean(δ) = sum(δ)/m, so this is our correct sum(δ) divided by m once more.
    It exists only to watch the gradient check catch the erratum.
    """
    grad_w, grad_b = backward(activations, pre_activations, weights, y_onehot)
    m = len(y_onehot)
    return grad_w, [[[g / m for g in row] for row in gb] for gb in grad_b]


def random_problem(sizes, samples, seed=0):
    """A seeded network and batch for a gradient check: (X, y_onehot, weights, biases).

    Weights come from ``init_network(sizes, seed)``; the biases are small random
    numbers instead of its zeros, so that the check does not sit at a special
    point; inputs are standard normal; each label is a random class.
    """
    weights, biases = init_network(sizes, seed)
    rng = random.Random(f"gradcheck data, seed {seed}")   # a stream apart from the weights'
    for b in biases:
        b[0] = [rng.gauss(0.0, 0.1) for _ in b[0]]
    X = [[rng.gauss(0.0, 1.0) for _ in range(sizes[0])] for _ in range(samples)]
    y_onehot = []
    for _ in range(samples):
        row = [0.0] * sizes[-1]
        row[rng.randrange(sizes[-1])] = 1.0
        y_onehot.append(row)
    return X, y_onehot, weights, biases


def check_backward(X, y_onehot, weights, biases, chapter_bias=False,
                   eps=EPS, threshold=THRESHOLD):
    """Exercise 3 on a given network and batch: backprop vs numerical, every weight and bias.

    Returns the table rows of ``compare_gradients``: W1, b1, W2, b2, … in the
    chapter's 1-based names (``weights[0]`` is W1).
    """
    def loss_fn():
        activations, _ = forward(X, weights, biases)
        return cross_entropy(activations[-1], y_onehot)

    activations, pre_activations = forward(X, weights, biases)
    backprop = backward_with_chapter_bias if chapter_bias else backward
    grad_w, grad_b = backprop(activations, pre_activations, weights, y_onehot)

    pairs = []
    for i in range(len(weights)):
        pairs.append((f"W{i + 1}", grad_w[i], numerical_gradient(loss_fn, weights[i], eps)))
        pairs.append((f"b{i + 1}", grad_b[i], numerical_gradient(loss_fn, biases[i], eps)))
    return compare_gradients(pairs, threshold)


def gradient_check(sizes=(4, 5, 3), samples=3, seed=0, chapter_bias=False,
                   eps=EPS, threshold=THRESHOLD):
    """Exercise 3 on a seeded random problem (see ``random_problem``); returns the table rows."""
    X, y_onehot, weights, biases = random_problem(list(sizes), samples, seed)
    return check_backward(X, y_onehot, weights, biases, chapter_bias, eps, threshold)


def count_relu_kinks(pre_activations, eps=EPS):
    """How many hidden pre-activations lie within ε of 0, where ReLU has its kink.

    There the central difference straddles the corner of max(0, z) and measures
    an average of the two slopes, so the numerical gradient itself is off —
    a failure next to a kink says nothing about backprop. (The output layer's
    Z has no ReLU, so it is not counted.)
    """
    return sum(1 for Z in pre_activations[:-1] for row in Z for z in row if abs(z) < eps)


def main(argv=None):
    """The command line of exercise 3; returns the exit status (0 = every gradient passes)."""
    parser = argparse.ArgumentParser(
        prog="python -m pure.gradcheck",
        description=(
            "Chapter 5, exercise 3: compare backward() with numerical gradients\n"
            "(central differences, eps=1e-5) for every weight and bias of a small\n"
            "seeded network with random inputs and random one-hot labels.\n\n"
            "relative error = |a-n| / max(1e-12, |a|+|n|)   (cs231n; a = backprop,\n"
            "n = numerical). A parameter passes when its largest relative error\n"
            f"is <= {THRESHOLD:g}. Prints one row per parameter and a summary;\n"
            "exits 0 if all pass, 1 if any fails."),
        epilog="examples:\n"
               "  python -m pure.gradcheck                          # 4->5->3, 3 samples\n"
               "  python -m pure.gradcheck --sizes 3 4 4 4 2 --samples 5\n"
               "  python -m pure.gradcheck --chapter-bias           # watch the erratum fail",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 5, 3], metavar="N",
                        help="layer sizes, input first (default: 4 5 3)")
    parser.add_argument("--samples", type=int, default=3,
                        help="batch size N (default: 3)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the weights, inputs and labels (default: 0)")
    parser.add_argument("--chapter-bias", action="store_true",
                        help="use the chapter's bias gradient mean(delta, axis=0); it is "
                             "N times too small, so the bias rows fail")
    args = parser.parse_args(argv)
    if len(args.sizes) < 2 or min(args.sizes) < 1:
        parser.error(f"--sizes needs at least 2 positive layer sizes, got {args.sizes}")
    if args.samples < 1:
        parser.error(f"--samples must be at least 1, got {args.samples}")

    X, y_onehot, weights, biases = random_problem(args.sizes, args.samples, args.seed)
    rows = check_backward(X, y_onehot, weights, biases, args.chapter_bias)
    _, pre_activations = forward(X, weights, biases)
    kinks = count_relu_kinks(pre_activations)
    arrow = "→".join(str(n) for n in args.sizes)
    formula = "mean(δ) (the chapter's, as printed)" if args.chapter_bias else "sum(δ)"
    print(f"Gradient check: {arrow} network, {args.samples} samples, seed {args.seed}, "
          f"bias gradient {formula}")
    print(f"relative error = |a−n| / max(1e-12, |a|+|n|), eps = {EPS:g}, "
          f"pass if ≤ {THRESHOLD:g}\n")
    print(format_table(rows))
    failed = [name for name, _, _, passed in rows if not passed]
    worst = max(error for _, _, error, _ in rows)
    print()
    if kinks:
        print(f"note: {kinks} hidden pre-activation(s) lie within eps of ReLU's kink at 0; "
              f"there the numerical gradient is unreliable, try another --seed")
    if failed:
        print(f"FAIL: {len(failed)} of {len(rows)} parameters disagree with the numerical "
              f"gradient ({', '.join(failed)}); largest relative error {worst:.2e}")
        return 1
    print(f"OK: all {len(rows)} parameters match the numerical gradient "
          f"(largest relative error {worst:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
