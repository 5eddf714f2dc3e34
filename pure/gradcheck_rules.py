"""The rules of the gradient check: relative error, the rounding model and the ReLU-kink watch.

``pure/gradcheck.py`` holds the chapter's check (§5.8); this module holds how
its verdict is reached, so that the check reads in one glance.

The relative error is cs231n's, with its floor raised to R/1e-7:

    relative error = |a−n| / max(|a|+|n|, R/1e-7)

and an entry passes when it is ≤ 1e-7. Where |a|+|n| is above the floor (every
real gradient entry) that is the plain |a−n| / (|a|+|n|); the floor turns
"|a−n| ≤ R" into a pass, because R is how far float64 rounding alone can move
a central difference here.

The loss is a float64 number, good to about u·(|L| + |Z|) (u = 2⁻⁵² ≈ 2.2e-16,
Z the output layer's scores), and each layer adds its share of rounding. L₊
and L₋ each carry such an error, and their difference is divided by 2ε, so the
numerical gradient itself can be off by about

    R = 3 · u · layers · (|L| + mean over samples of max |Z|) / ε

(``rounding_allowance``; the factor 3 is a margin over what we measured: the
largest |a − n| of a correct backward over 300 seeds of 4→5→3, wide 4→1000→3,
deep 2→50×8→2 and others was 0.3 · u · layers · (|L| + |Z|) / ε). A gradient
entry of 7e-6 off by 2e-11 is rounding, not a bug. R/1e-7 is never below 1e-12
(``FLOOR``), which keeps the error finite when both gradients are 0.

One more failure of the numerical side, which no error model fixes: a ReLU
kink. If nudging θ by ±ε moves some hidden z across 0, the central difference
straddles the corner of max(0, z) and measures neither slope. ``KinkWatch``
compares which ReLUs are open at θ + ε and at θ − ε; such entries are left
unjudged and counted; another seed avoids them.
"""

import collections
import math
import sys

from pure.network import cross_entropy, forward
from pure.numerical import EPS

RELATIVE_ERROR = "|a−n| / max(|a|+|n|, R/1e-7)"   # the formula, as every output and document writes it

THRESHOLD = 1e-7          # largest relative error that counts as a pass (float64)
CHAPTER_THRESHOLD = 1e-5  # the chapter's criterion, §5.8: "相对误差应小于 1e-5"
FLOOR = 1e-12             # keeps relative_error finite when both gradients are 0
ROUNDING_MARGIN = 3       # safety factor of rounding_allowance over the measured worst case
MACHINE_EPSILON = sys.float_info.epsilon   # u = 2⁻⁵² ≈ 2.2e-16, float64's relative precision


def relative_error(a, n, floor=FLOOR):
    """cs231n's relative error between an analytic value a and a numerical value n.

    |a − n| / max(|a| + |n|, floor): 0 when they agree, 1 when one is 0 and the
    other is not (or they have opposite signs), and scale-free in between.
    A NaN or an infinity agrees with nothing: the error is then inf, so that
    a gradient of NaNs can never pass (a NaN would lose every comparison).
    """
    a, n = float(a), float(n)
    error = abs(a - n) / max(floor, abs(a) + abs(n))
    return error if math.isfinite(error) and math.isfinite(a) and math.isfinite(n) else math.inf


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


def count_relu_kinks(pre_activations, eps=EPS):
    """How many hidden pre-activations lie within ε of 0, where ReLU has its kink.

    There the central difference straddles the corner of max(0, z) and measures
    an average of the two slopes, so the numerical gradient itself is off —
    a failure next to a kink says nothing about backprop. (The output layer's
    Z has no ReLU, so it is not counted.)
    """
    return sum(1 for Z in pre_activations[:-1] for row in Z for z in row if abs(z) < eps)
