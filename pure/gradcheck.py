"""§5.8 and exercise 3: check backprop against numerical gradients.

Backprop is easy to get wrong and hard to see wrong: a network with a wrong
gradient often still learns, only worse. The check is simple. For every
parameter θ, nudge it a tiny ε up and down and watch the loss:

    ∂L/∂θ ≈ (L(θ + ε) − L(θ − ε)) / 2ε          (central difference, §5.8)

and compare that number n with what ``backward()`` says, a. We compare them
with the relative error of cs231n,

    relative_error(a, n) = |a − n| / max(floor, |a| + |n|)

and call an entry right when it is ≤ 1e-7. In float64 with ε = 1e-5 a correct
backward gives about 1e-9 … 1e-10 on small networks; around 1e-2 means a bug.
The chapter asks for less, "相对误差应小于 1e-5" (relative error below 1e-5,
§5.8); we ask for 1e-7 because a correct float64 backward lands far below
either, so the stricter bar costs a right answer nothing and catches a bug
whose effect is smaller than 1e-5 of the gradient, which the chapter's would
let through. The chapter's own bias gradient (its erratum) fails both: 0.5.

The floor is where the numerical side's own error enters. The loss is a
float64 number, good to about u·(|L| + |Z|) (u = 2⁻⁵² ≈ 2.2e-16, Z the output
layer's scores the loss is computed from), and each layer adds its share of
rounding. L₊ and L₋ each carry such an error, and their difference is divided
by 2ε, so the numerical gradient itself can be off by about

    R = 3 · u · layers · (|L| + mean over samples of max |Z|) / ε

(``rounding_allowance``; the factor 3 is a margin over what we measured: the
largest |a − n| of a correct backward over 300 seeds of 4→5→3, wide 4→1000→3,
deep 2→50×8→2 and others was 0.3 · u · layers · (|L| + |Z|) / ε). A difference
|a − n| below R says nothing about backprop: a gradient entry of 7e-6 off by
2e-11 is rounding, not a bug. So the floor is R / 1e-7 (never below 1e-12),
which makes the rule: an entry passes when its relative error is ≤ 1e-7 *or*
|a − n| ≤ R. The table says how many entries passed by the second clause.

One more failure of the numerical side, which no error model fixes: a ReLU
kink. If nudging θ by ±ε moves some hidden z across 0, the central difference
straddles the corner of max(0, z) and measures neither slope. The check
watches for it (``KinkWatch``: it compares which ReLUs are open at θ + ε and
at θ − ε) and leaves such entries unjudged, counting them in the table;
another seed avoids them.

Run exercise 3 — the 4→5→3 network with 3 samples — from the command line:

    python -m pure.gradcheck                  # the chapter's case, seed 0
    python -m pure.gradcheck --sizes 3 4 4 4 2 --samples 5 --seed 1
    python -m pure.gradcheck --chapter-bias   # the chapter's mean(δ): fails by a factor N
    python -m pure.gradcheck --backward mine:backward   # check your own backward()

``numerical_gradient`` itself lives in ``pure.numerical`` (re-exported here and
from ``pure``). ``relative_error``, ``max_relative_error``, ``compare_gradients`` and
``format_table`` are plain standard-library code that accept any 2-D nested
sequence (lists of rows, NumPy arrays), so other checkers can reuse them.
"""

import argparse
import collections
import copy
import importlib
import importlib.util
import inspect
import os
import random
import sys

from pure import checks
from pure.network import backward, cross_entropy, forward, init_network
from pure.numerical import EPS, numerical_gradient

THRESHOLD = 1e-7          # largest relative error that counts as a pass (float64)
CHAPTER_THRESHOLD = 1e-5  # the chapter's criterion, §5.8: "相对误差应小于 1e-5"
FLOOR = 1e-12             # keeps relative_error finite when both gradients are 0
ROUNDING_MARGIN = 3       # safety factor of rounding_allowance over the measured worst case
MACHINE_EPSILON = sys.float_info.epsilon   # u = 2⁻⁵² ≈ 2.2e-16, float64's relative precision


def relative_error(a, n, floor=FLOOR):
    """cs231n's relative error between an analytic value a and a numerical value n.

    |a − n| / max(floor, |a| + |n|): 0 when they agree, 1 when one is 0 and the
    other is not (or they have opposite signs), and scale-free in between.
    """
    a, n = float(a), float(n)
    return abs(a - n) / max(floor, abs(a) + abs(n))


def max_relative_error(analytic, numerical, floor=FLOOR):
    """The largest ``relative_error`` over all entries of two matrices of the same shape."""
    return max((relative_error(a, n, floor) for a, n in _entries(analytic, numerical)), default=0.0)


def _entries(analytic, numerical):
    """The pairs (a, n) of two matrices of the same shape, row by row."""
    analytic_rows, numerical_rows = list(analytic), list(numerical)
    if len(analytic_rows) != len(numerical_rows):
        raise ValueError(f"cannot compare a matrix of {len(analytic_rows)} rows "
                         f"with one of {len(numerical_rows)} rows")
    pairs = []
    for i, (row_a, row_n) in enumerate(zip(analytic_rows, numerical_rows)):
        row_a, row_n = list(row_a), list(row_n)
        if len(row_a) != len(row_n):
            raise ValueError(f"row {i} has {len(row_a)} entries in one matrix "
                             f"and {len(row_n)} in the other")
        pairs.extend(zip(row_a, row_n))
    return pairs


def rounding_allowance(loss, logits, num_layers, eps=EPS):
    """R: how far float64 rounding alone can move a central difference here (see the module's text).

        R = 3 · u · layers · (|L| + mean over samples of max |Z|) / ε

    ``loss`` is L at the unperturbed parameters, ``logits`` the last layer's Z
    (a list of rows), ``num_layers`` the number of weight matrices. An
    |a − n| below R is no evidence against backprop.
    """
    scores = sum(max(abs(z) for z in row) for row in logits) / len(logits)
    return ROUNDING_MARGIN * MACHINE_EPSILON * num_layers * (abs(loss) + scores) / eps


Judgement = collections.namedtuple("Judgement", "error passed by_rounding at_kink")
Judgement.__doc__ = """The verdict on one parameter (see ``judge``)."""

CheckRow = collections.namedtuple("CheckRow", "name shape error passed by_rounding at_kink")
CheckRow.__doc__ = """One parameter's line of a gradient check: its name (W1, b1, …), shape and ``Judgement``."""


def judge(analytic, numerical, threshold=THRESHOLD, allowance=0.0, at_kink=None):
    """The verdict on one parameter: a ``Judgement(error, passed, by_rounding, at_kink)``.

    ``error`` is the largest relative error with the floor raised to
    allowance / threshold, so that error ≤ threshold exactly when every entry
    has a relative error ≤ threshold or |a − n| ≤ allowance. ``by_rounding``
    counts the entries that passed only by the second clause. ``at_kink``, if
    given, is a matrix of booleans: True where the central difference straddled
    a ReLU kink, so the numerical value measures neither slope; those entries
    are not judged, only counted.
    """
    floor = max(FLOOR, allowance / threshold)
    flags = [flag for row in at_kink for flag in row] if at_kink is not None else None
    error, by_rounding, kinked = 0.0, 0, 0
    for k, (a, n) in enumerate(_entries(analytic, numerical)):
        if flags is not None and flags[k]:
            kinked += 1
            continue
        judged = relative_error(a, n, floor)
        error = max(error, judged)
        if judged <= threshold < relative_error(a, n):
            by_rounding += 1
    return Judgement(error, error <= threshold, by_rounding, kinked)


def compare_gradients(named_pairs, threshold=THRESHOLD, allowance=0.0):
    """Compare gradients parameter by parameter; return table rows.

    ``named_pairs`` is a list of ``(name, analytic, numerical)`` or
    ``(name, analytic, numerical, at_kink)``. Each result is a ``CheckRow``
    (name, shape, then ``judge``'s verdict) — see ``table_rows`` for the
    printable form.
    """
    rows = []
    for name, analytic, numerical, *at_kink in named_pairs:
        analytic_rows = [list(row) for row in analytic]
        shape = (len(analytic_rows), len(analytic_rows[0]) if analytic_rows else 0)
        rows.append(CheckRow(name, shape, *judge(analytic_rows, numerical, threshold, allowance,
                                                  at_kink[0] if at_kink else None)))
    return rows


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


# --- a student's own backward() --------------------------------------------------

class BackwardError(ValueError):
    """A ``--backward`` function that cannot be loaded or called, or whose answer has the wrong form."""


BACKWARD_SIGNATURE = "(activations, pre_activations, weights, y_onehot) -> (grad_w, grad_b)"


def load_backward(spec):
    """The function named by ``module:function`` (or ``path/to/file.py:function``).

    Raises ``BackwardError`` with one line saying what is wrong: no colon, a
    module that does not import (and why), no such function, not callable, or
    a signature that cannot take backward's four arguments.
    """
    module_name, colon, function_name = str(spec).rpartition(":")
    if not colon or not module_name or not function_name:
        raise BackwardError(f"--backward must be module:function (e.g. mybackprop:backward), got {spec!r}")
    try:
        if module_name.endswith(".py"):
            if not os.path.isfile(module_name):
                raise BackwardError(f"--backward: no file {module_name!r}")
            module_spec = importlib.util.spec_from_file_location("student_backward", module_name)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:   # `python -m` puts the cwd first;
                sys.path.insert(0, os.getcwd())                      # an installed script does not
            module = importlib.import_module(module_name)
    except BackwardError:
        raise
    except (Exception, SystemExit) as error:       # a student's module may raise anything on import
        raise BackwardError(f"--backward: importing {module_name!r} failed: "
                            f"{type(error).__name__}: {error}") from None
    function = module
    for part in function_name.split("."):
        if not hasattr(function, part):
            raise BackwardError(f"--backward: {module_name!r} has no {function_name!r}")
        function = getattr(function, part)
    if not callable(function):
        raise BackwardError(f"--backward: {spec} is a {type(function).__name__}, not a function")
    try:
        inspect.signature(function).bind(None, None, None, None)
    except TypeError:
        raise BackwardError(f"--backward: {spec} must take 4 arguments {BACKWARD_SIGNATURE}; "
                            f"its signature is {inspect.signature(function)}") from None
    except ValueError:        # some built-ins have no signature to inspect: let the call decide
        pass
    return function


def call_backward(function, activations, pre_activations, weights, y_onehot, name="backward"):
    """``function(...)`` on private copies of its inputs; its answer checked to be (grad_w, grad_b).

    The copies keep a backward that changes its arguments in place from changing
    the network being checked. Each gradient may be any 2-D nested sequence
    (lists of rows, NumPy arrays); it must have its parameter's shape.
    """
    arguments = copy.deepcopy((activations, pre_activations, weights, y_onehot))
    try:
        answer = function(*arguments)
    except Exception as error:
        raise BackwardError(f"{name} raised {type(error).__name__}: {error}") from None
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise BackwardError(f"{name} must return a pair (grad_w, grad_b), got {type(answer).__name__}"
                            + (f" of length {len(answer)}" if isinstance(answer, (tuple, list)) else ""))
    L = len(weights)
    shapes = {"grad_w": [(len(W), len(W[0])) for W in weights],
              "grad_b": [(1, len(W[0])) for W in weights]}
    for label, grads in zip(("grad_w", "grad_b"), answer):
        try:
            grads = list(grads)
        except TypeError:
            grads = None
        if grads is None or len(grads) != L:
            raise BackwardError(f"{name} must return {label} as a list of {L} matrices, one per layer, "
                                f"got {type(answer[0 if label == 'grad_w' else 1]).__name__}")
        for i, (g, want) in enumerate(zip(grads, shapes[label])):
            got = _shape(g)
            if got != want:
                raise BackwardError(f"{name}: {label}[{i}] must have shape {want} "
                                    f"(like {'weights' if label == 'grad_w' else 'biases'}[{i}]), "
                                    f"got {_describe_shape(g, got)}")
    return [list(g) for g in answer[0]], [list(g) for g in answer[1]]


def _describe_shape(g, shape):
    """What came instead of a matrix, in words a student recognises."""
    if shape is not None:
        return str(shape)
    try:
        if all(hasattr(type(x), "__float__") and not hasattr(x, "__len__") for x in g):
            return (f"a flat row of {len(list(g))} numbers (a bias gradient is one row, [[...]]; "
                    f"in NumPy keepdims=True)")
    except TypeError:
        pass
    return f"a {type(g).__name__}"


def _shape(matrix):
    """(rows, columns) of a 2-D nested sequence of numbers, or None if it is not one."""
    try:
        rows = [list(row) for row in matrix]
        widths = {len(row) for row in rows}
        if len(widths) != 1 or not all(hasattr(type(x), "__float__") for row in rows for x in row):
            return None
        return len(rows), widths.pop()
    except TypeError:
        return None


# --- exercise 3 -----------------------------------------------------------------------

def check_backward(X, y_onehot, weights, biases, chapter_bias=False,
                   eps=EPS, threshold=THRESHOLD, backward_fn=None, backward_name="backward"):
    """Exercise 3 on a given network and batch: backprop vs numerical, every weight and bias.

    ``backward_fn`` is the backward to check (default ``pure.backward``; with
    ``chapter_bias``, the chapter's mean(δ) version). Returns the rows of
    ``compare_gradients``: W1, b1, W2, b2, … in the chapter's 1-based names
    (``weights[0]`` is W1), judged with ``allowance_for`` this problem.
    """
    def evaluate():
        activations, pre_activations = forward(X, weights, biases)
        return relu_pattern(pre_activations), cross_entropy(activations[-1], y_onehot)

    loss_fn = KinkWatch(evaluate)
    activations, pre_activations = forward(X, weights, biases)
    if backward_fn is None:
        backward_fn = backward_with_chapter_bias if chapter_bias else backward
    grad_w, grad_b = call_backward(backward_fn, activations, pre_activations, weights, y_onehot,
                                   backward_name)

    pairs = []
    for i in range(len(weights)):
        for name, analytic, param in ((f"W{i + 1}", grad_w[i], weights[i]),
                                      (f"b{i + 1}", grad_b[i], biases[i])):
            numerical = numerical_gradient(loss_fn, param, eps)
            pairs.append((name, analytic, numerical, loss_fn.take(len(param), len(param[0]))))
    return compare_gradients(pairs, threshold, allowance_for(X, y_onehot, weights, biases, eps))


def relu_pattern(pre_activations):
    """Which hidden ReLUs are open (z > 0), as one tuple: what ``KinkWatch`` compares."""
    return tuple(z > 0 for Z in pre_activations[:-1] for row in Z for z in row)


class KinkWatch:
    """A loss function for ``numerical_gradient`` that also sees where ReLU's kink was crossed.

    ``numerical_gradient`` calls it twice per entry, at θ + ε and then θ − ε.
    ``evaluate()`` returns (pattern of open ReLUs, loss); if the two calls'
    patterns differ, a hidden z crossed 0 in between: the central difference
    straddles the corner of max(0, z) and measures neither slope, so that entry
    cannot be judged. ``take(rows, cols)`` returns those flags for the
    parameter just differentiated, as a matrix of booleans.
    """

    def __init__(self, evaluate):
        self.evaluate = evaluate
        self.flags, self._plus = [], None

    def __call__(self):
        pattern, loss = self.evaluate()
        if self._plus is None:
            self._plus = pattern                                # the θ + ε call
        else:
            self.flags.append(pattern != self._plus)            # the θ − ε call
            self._plus = None
        return loss

    def take(self, rows, cols):
        flags, self.flags, self._plus = self.flags, [], None
        return [flags[r * cols:(r + 1) * cols] for r in range(rows)]


def allowance_for(X, y_onehot, weights, biases, eps=EPS):
    """``rounding_allowance`` of this network and batch at its current parameters."""
    activations, pre_activations = forward(X, weights, biases)
    return rounding_allowance(cross_entropy(activations[-1], y_onehot), pre_activations[-1],
                              len(weights), eps)


def gradient_check(sizes=(4, 5, 3), samples=3, seed=0, chapter_bias=False,
                   eps=EPS, threshold=THRESHOLD, backward_fn=None):
    """Exercise 3 on a seeded random problem (see ``random_problem``); returns the table rows."""
    X, y_onehot, weights, biases = random_problem(list(sizes), samples, seed)
    return check_backward(X, y_onehot, weights, biases, chapter_bias, eps, threshold, backward_fn)


def count_relu_kinks(pre_activations, eps=EPS):
    """How many hidden pre-activations lie within ε of 0, where ReLU has its kink.

    There the central difference straddles the corner of max(0, z) and measures
    an average of the two slopes, so the numerical gradient itself is off —
    a failure next to a kink says nothing about backprop. (The output layer's
    Z has no ReLU, so it is not counted.)
    """
    return sum(1 for Z in pre_activations[:-1] for row in Z for z in row if abs(z) < eps)


# --- the command line -------------------------------------------------------------------

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
            f"relative error = |a−n| / max(|a|+|n|, R/{threshold:g})\n"
            f"pass: every entry ≤ {threshold:g}, i.e. |a−n|/(|a|+|n|) ≤ {threshold:g} or "
            f"|a−n| ≤ R = {allowance:.1e}, the rounding error\n"
            f"      a float64 central difference can carry here: "
            f"3·u·layers·(|L| + |Z|)/eps, u = 2.2e-16\n"
            f"the chapter's bar is < {CHAPTER_THRESHOLD:g} (§5.8, “相对误差应小于 1e-5”); ours is "
            f"{ratio}× stricter: a correct float64\n"
            f"      backward lands far below both, and a bug smaller than 1e-5 of the gradient "
            f"still shows")


def main(argv=None):
    """The command line of exercise 3; returns the exit status (0 = every gradient passes)."""
    parser = checks.ArgumentParser(
        prog="python -m pure.gradcheck",
        description=(
            "Chapter 5, exercise 3: compare backward() with numerical gradients\n"
            "(central differences, eps=1e-5) for every weight and bias of a small\n"
            "seeded network with random inputs and random one-hot labels. W1, b1 is\n"
            "the first layer (weights[0], biases[0]), as in the chapter.\n\n"
            "relative error = |a-n| / max(1e-12, |a|+|n|)   (cs231n; a = backprop,\n"
            "n = numerical). A parameter passes when every entry's relative error\n"
            f"is <= {THRESHOLD:g} or its |a-n| is within R, the rounding error of\n"
            "the numerical gradient itself (R = 3*u*layers*(|L| + max|Z|)/eps,\n"
            "u = 2.2e-16; printed with the table). Entries whose +-eps nudge moves\n"
            "a hidden z across ReLU's kink at 0 are counted, not judged: there the\n"
            "numerical gradient measures neither slope. The chapter asks for < 1e-5\n"
            "(相对误差应小于 1e-5); 1e-7 is stricter because a correct float64\n"
            "backward sits near 1e-9, so it costs nothing and catches smaller bugs.\n"
            "Prints one row per parameter and a summary; exits 0 if all pass, 1 if\n"
            "any fails, 2 for a bad option."),
        epilog="examples:\n"
               "  python -m pure.gradcheck                          # 4->5->3, 3 samples\n"
               "  python -m pure.gradcheck --sizes 3 4 4 4 2 --samples 5\n"
               "  python -m pure.gradcheck --chapter-bias           # watch the erratum fail\n"
               "  python -m pure.gradcheck --backward mine:backward # your own backward()\n\n"
               "--backward takes module:function (a module importable from the current\n"
               "directory, or path/to/file.py:function). The function is called like\n"
               "pure.backward(activations, pre_activations, weights, y_onehot) with plain\n"
               "lists of rows, and must return (grad_w, grad_b): lists of matrices shaped\n"
               "like weights and biases. (For NumPy arrays, as the chapter writes it,\n"
               "use python -m native.gradcheck --backward.)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_problem_arguments(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--chapter-bias", action="store_true",
                      help="use the chapter's bias gradient mean(delta, axis=0); it is "
                           "N times too small, so the bias rows fail")
    mode.add_argument("--backward", metavar="MODULE:FUNCTION",
                      help="check this backward() instead of pure.backward")
    args = parser.parse_args(argv)
    check_problem_arguments(parser, args)
    backward_fn = None
    if args.backward is not None:
        try:
            backward_fn = load_backward(args.backward)
        except BackwardError as error:
            parser.error(str(error))

    X, y_onehot, weights, biases = random_problem(args.sizes, args.samples, args.seed)
    try:
        rows = check_backward(X, y_onehot, weights, biases, args.chapter_bias,
                              backward_fn=backward_fn, backward_name=f"your backward {args.backward}")
    except BackwardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    allowance = allowance_for(X, y_onehot, weights, biases)
    arrow = "→".join(str(n) for n in args.sizes)
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
        print(f"FAIL: {len(failed)} of {len(rows)} parameters disagree with the numerical "
              f"gradient ({', '.join(failed)}); largest relative error {worst:.2e}")
        return 1
    print(f"OK: all {len(rows)} parameters match the numerical gradient "
          f"(largest relative error {worst:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(checks.run_command(main))
