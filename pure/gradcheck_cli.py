"""The command line of exercise 3, ``python -m pure.gradcheck``, and its printed table.

The check itself is ``pure.gradcheck.check_backward``; how it reaches its
verdict is ``pure.gradcheck_rules``; what it says about a failure is
``pure.gradcheck_diagnosis``; a student's own backward is loaded and read by
``pure.gradcheck_student``.
"""

import argparse
import sys

from pure import checks
from pure.gradcheck_diagnosis import diagnose
from pure.gradcheck_numerical import check_numerical
from pure.gradcheck_rules import (CHAPTER_THRESHOLD, RELATIVE_ERROR, THRESHOLD, allowance_for,
                                  compare_gradients)
from pure.gradcheck_student import BackwardError, load_backward, load_numerical
from pure.network import cross_entropy, forward
from pure.numerical import EPS, numerical_gradient


HEADER = ("parameter", "shape", "max rel. error", "result")


def verdict(passed, by_rounding=0, at_kink=0):
    """The result cell: ``pass``, ``pass (2 within rounding)``, ``FAIL (1 at a kink)``, …"""
    notes = ([f"{by_rounding} within rounding"] if by_rounding else []) + \
            ([f"{at_kink} at a kink"] if at_kink else [])
    return ("pass" if passed else "FAIL") + (f" ({', '.join(notes)})" if notes else "")


def table_rows(rows):
    """``compare_gradients`` rows as table rows (name, shape, error, result text)."""
    return [(row.name, row.shape, row.error, verdict(row.passed, row.by_rounding, row.at_kink))
            for row in rows]


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


MAX_WORK = 10 ** 12    # multiply-adds; beyond this a check runs for days, so it is refused
MAX_VALUES = 10 ** 7   # activations held at once (samples × units): ~0.3 GB as Python floats


def add_problem_arguments(parser):
    """--sizes, --samples, --seed: the options both gradient-check commands share."""
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 5, 3], metavar="N",
                        help="layer sizes, input first (default: 4 5 3, exercise 3's network)")
    parser.add_argument("--samples", type=int, default=3,
                        help="batch size N (default: 3)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the weights, inputs and labels, >= 0 (default: 0)")


def check_problem_arguments(parser, args):
    """One clear line for every bad --sizes/--samples/--seed (the parser exits with status 2)."""
    if len(args.sizes) < 2 or min(args.sizes) < 1:
        parser.error(f"--sizes needs at least 2 positive layer sizes, got {' '.join(map(str, args.sizes))}")
    if args.samples < 1:
        parser.error(f"--samples must be at least 1, got {args.samples}")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    if args.samples * sum(args.sizes) > MAX_VALUES:
        parser.error(f"--samples {args.samples} through layers of {sum(args.sizes):,} units in all "
                     f"would hold {args.samples * sum(args.sizes):.1e} activations at once (limit "
                     f"{MAX_VALUES:.0e}); a gradient check needs a few samples (e.g. --samples 3)")
    parameters = sum((n_in + 1) * n_out for n_in, n_out in zip(args.sizes[:-1], args.sizes[1:]))
    work = 2 * parameters * args.samples * parameters     # 2 forward passes per parameter
    if work > MAX_WORK:
        parser.error(f"--sizes {' '.join(map(str, args.sizes))} with --samples {args.samples} has "
                     f"{parameters:,} parameters: checking each takes two forward passes, about "
                     f"{work:.1e} multiply-adds in all; a gradient check needs a small network "
                     f"(e.g. --sizes 4 5 3)")


def describe_rule(allowance, threshold=THRESHOLD, eps=EPS):
    """The lines that say how the verdict is reached, printed above every table."""
    ratio = round(CHAPTER_THRESHOLD / threshold)
    return (f"a = backward, n = numerical (central difference, eps = {eps:g}); "
            f"relative error = {RELATIVE_ERROR}\n"
            f"pass: every entry ≤ {threshold:g}, i.e. |a−n|/(|a|+|n|) ≤ {threshold:g} or "
            f"|a−n| ≤ R = {allowance:.1e}, the rounding error\n"
            f"      a float64 central difference can carry here: "
            f"3·u·layers·(|L| + |Z|)/eps, u = 2.2e-16\n"
            f"the chapter's bar is < {CHAPTER_THRESHOLD:g} (§5.8, “相对误差应小于 1e-5”); ours is "
            f"{ratio}× stricter: a correct float64\n"
            f"      backward lands far below both, and a bug smaller than 1e-5 of the gradient "
            f"still shows")


RULE_HELP = (
    f"relative error = {RELATIVE_ERROR}   (cs231n's, a = backprop,\n"
    "n = numerical). A parameter passes when every entry's relative error\n"
    f"is <= {THRESHOLD:g}: plain |a−n|/(|a|+|n|) <= 1e-7, or |a−n| within R, the\n"
    "rounding error of the numerical gradient itself (R = 3*u*layers*(|L| +\n"
    "max|Z|)/eps, u = 2.2e-16; printed with the table; R/1e-7 is never below\n"
    "1e-12). Entries whose +-eps nudge moves a hidden z across ReLU's kink at 0\n"
    "are counted, not judged: there the numerical gradient measures neither\n"
    "slope. The chapter asks for < 1e-5 (相对误差应小于 1e-5); 1e-7 is stricter\n"
    "because a correct float64 backward sits near 1e-9, so it costs nothing\n"
    "and catches smaller bugs.")


def main(argv=None):
    """The command line of exercise 3; returns the exit status (0 = every gradient passes)."""
    parser = checks.ArgumentParser(
        prog="python -m pure.gradcheck",
        description=(
            "Chapter 5, exercise 3: compare backward() with numerical gradients\n"
            "(central differences, eps=1e-5) for every weight and bias of a small\n"
            "seeded network with random inputs and random one-hot labels. W1, b1 is\n"
            "the first layer (weights[0], biases[0]), as in the chapter.\n\n"
            + RULE_HELP + "\n\n"
            "When a parameter fails, the check shows its worst entry (index, both\n"
            "values), the ratio a/n when it is the same on every entry, which\n"
            "entries fail, and names the likely mistake (the chapter's mean(δ),\n"
            "/N missing or twice, the ReLU mask, a transposed product, ...).\n"
            "Prints one row per parameter and a summary; exits 0 if all pass, 1 if\n"
            "any fails or your code raises, 2 for a bad option."),
        epilog="examples:\n"
               "  python -m pure.gradcheck                          # 4->5->3, 3 samples\n"
               "  python -m pure.gradcheck --sizes 3 4 4 4 2 --samples 5\n"
               "  python -m pure.gradcheck --chapter-bias           # watch the erratum fail\n"
               "  python -m pure.gradcheck --backward mine.py:backward   # your own backward()\n"
               "  python -m pure.gradcheck --numerical mine.py:numerical_gradient  # your own §5.8\n\n"
               "--backward and --numerical take module:function (a module importable from\n"
               "the current directory, or path/to/file.py:function). --backward is called\n"
               "like pure.backward(activations, pre_activations, weights, y_onehot) with\n"
               "plain lists of rows, and must return (grad_w, grad_b): lists of matrices\n"
               "shaped like weights and biases. --numerical is called like the chapter's\n"
               "numerical_gradient(loss_fn, param, eps) with param a list of rows that\n"
               "loss_fn() reads, and must return a matrix shaped like param, leaving param\n"
               "as it found it. (For NumPy code, as the chapter writes it, use\n"
               "python -m native.gradcheck --backward / --numerical.)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_problem_arguments(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--chapter-bias", action="store_true",
                      help="use the chapter's bias gradient mean(delta, axis=0); it is "
                           "N times too small, so the bias rows fail")
    mode.add_argument("--backward", metavar="MODULE:FUNCTION",
                      help="check this backward() instead of pure.backward")
    mode.add_argument("--numerical", metavar="MODULE:FUNCTION",
                      help="check this numerical_gradient(loss_fn, param, eps) against ours")
    args = parser.parse_args(argv)
    check_problem_arguments(parser, args)
    try:
        backward_fn = load_backward(args.backward) if args.backward is not None else None
        numerical_fn = load_numerical(args.numerical) if args.numerical is not None else None
    except BackwardError as error:
        parser.error(str(error))

    from pure.gradcheck import gradient_pairs, random_problem
    X, y_onehot, weights, biases = random_problem(args.sizes, args.samples, args.seed)
    arrow = "→".join(str(n) for n in args.sizes)
    if numerical_fn is not None:
        activations, pre_activations = forward(X, weights, biases)
        parameters = [(f"{kind}{i + 1}", param) for i in range(len(weights))
                      for kind, param in (("W", weights[i]), ("b", biases[i]))]
        return check_numerical(
            numerical_fn, f"your numerical gradient {args.numerical}", parameters,
            lambda: cross_entropy(forward(X, weights, biases)[0][-1], y_onehot), numerical_gradient,
            cross_entropy(activations[-1], y_onehot), pre_activations[-1], len(weights),
            pre_activations, f"{arrow} network, {args.samples} samples, seed {args.seed}")
    try:
        pairs = gradient_pairs(X, y_onehot, weights, biases, args.chapter_bias,
                               backward_fn=backward_fn, backward_name=f"your backward {args.backward}")
    except BackwardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    allowance = allowance_for(X, y_onehot, weights, biases)
    rows = compare_gradients(pairs, THRESHOLD, allowance)
    if args.backward is not None:
        checked = f"your backward {args.backward}"
    else:
        checked = "bias gradient " + ("mean(δ) (the chapter's, as printed)" if args.chapter_bias
                                      else "sum(δ)")
    print(f"Gradient check: {arrow} network, {args.samples} samples, seed {args.seed}, {checked}")
    print(describe_rule(allowance) + "\n")
    print(format_table(table_rows(rows)))
    failed = [row.name for row in rows if not row.passed]
    worst = max(row.error for row in rows)
    rounded = sum(row.by_rounding for row in rows)
    kinked = sum(row.at_kink for row in rows)
    print()
    if kinked:
        print(f"note: {kinked} entries were not judged: between θ−eps and θ+eps a hidden z crossed "
              f"ReLU's kink at 0,\n      so their numerical gradient measures neither slope "
              f"(another --seed avoids it)")
    if rounded:
        print(f"note: {rounded} entries passed because |a−n| ≤ R: small gradient entries whose "
              f"difference is float64 rounding, not a bug")
    if failed:
        activations, pre_activations = forward(X, weights, biases)
        print("\n".join(diagnose(pairs, activations, pre_activations, weights, y_onehot,
                                 THRESHOLD, allowance).lines) + "\n")
        print(f"FAIL: {len(failed)} of {len(rows)} parameters disagree with the numerical "
              f"gradient ({', '.join(failed)}); largest relative error {worst:.2e}")
        return 1
    print(f"OK: all {len(rows)} parameters match the numerical gradient "
          f"(largest relative error {worst:.2e})")
    return 0
