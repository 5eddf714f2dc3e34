"""What a failed gradient check says about the mistake: where, how, and likely why.

Per failing parameter: the worst entry with its index and both values, the
ratio yours/numerical when it is (nearly) the same on every entry, and which
entries fail — all, some rows or columns, or only the columns of units whose
ReLU was off. From those, and by recomputing the gradients the usual mistakes
would give on the same network, one likely mistake is named in the chapter's
terms (``MISTAKES``).
"""

import collections
import math

from pure.gradcheck_rules import FLOOR, THRESHOLD, judge, relative_error
from pure.linalg import apply, column_sums, hadamard, matmul, scale, subtract, transpose
from pure.network import backward, relu_derivative

Finding = collections.namedtuple("Finding", "name index analytic numerical error ratio failing")
Finding.__doc__ = """One failing parameter: its worst entry (index, both values, error), the
constant ratio analytic/numerical or None, and a phrase saying which entries fail."""

MISTAKES = {
    "chapter_mean": "the chapter's bias line ∂L/∂b = mean(δ, axis=0) (§5.5): δ already holds the 1/N, "
                    "so mean divides by N = {m} a second time and every bias gradient is {m}× too small. "
                    "Write sum(δ, axis=0): the chapter's erratum, see docs/erratum.md",
    "no_division": "the /N is missing: δ_L = A_L − Y instead of (A_L − Y)/N, so every gradient is "
                   "N = {m} times too big. The loss is the mean over the batch (§5.4): δ_L = (A_L − Y)/N",
    "divided_twice": "the /N is applied twice (e.g. δ_L = (A_L − Y)/N and then mean(…) or another /N): "
                     "every gradient is N = {m} times too small. Divide once, in δ_L = (A_L − Y)/N",
    "no_relu_mask": "the ReLU mask is missing: δₖ₋₁ = (δₖ @ Wₖᵀ) * ReLU'(Zₖ₋₁) (§5.4); without "
                    "* (Z > 0) the error flows back through units that were off (z ≤ 0), and only "
                    "their entries come out wrong",
    "mask_on_output": "a ReLU mask on the output layer: δ_L = (A_L − Y)/N has no ReLU' (the last layer "
                      "is softmax); mask only the hidden layers, δₖ₋₁ = (δₖ @ Wₖᵀ) * ReLU'(Zₖ₋₁)",
    "mask_shifted": "the ReLU mask of the wrong layer: handing δₖ back to layer k−1 takes ReLU'(Zₖ₋₁) "
                    "(pre_activations[i-1]), not ReLU'(Zₖ) (pre_activations[i])",
    "grad_w_transposed": "a transposed product: ∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ (activations[i].T @ delta); yours "
                         "is its transpose, δₖᵀ @ Aₖ₋₁",
    "handoff_not_transposed": "a transposed product: the error goes back through Wₖᵀ, "
                              "δₖ₋₁ = (δₖ @ Wₖᵀ) * ReLU'(Zₖ₋₁) (delta @ weights[i].T), not δₖ @ Wₖ",
    "sign_flipped": "the sign is flipped: δ_L = (A_L − Y)/N, prediction minus truth, not (Y − A_L)/N; "
                    "every gradient points the wrong way",
}


def _mistaken_backward(activations, pre_activations, weights, y_onehot, mistake):
    """pure.backward with one of ``MISTAKES`` planted, or None where this network cannot show it."""
    L, m = len(weights), len(y_onehot)
    square = all(len(W) == len(W[0]) for W in weights)
    if mistake in ("grad_w_transposed",) and not square:
        return None                       # a transposed product has the wrong shape: reported as such
    if mistake == "handoff_not_transposed" and not all(len(W) == len(W[0]) for W in weights[1:]):
        return None
    if mistake == "mask_shifted" and (L < 2 or len({len(W[0]) for W in weights}) != 1):
        return None
    per_sample = {"no_division": 1.0, "divided_twice": 1.0 / (m * m),
                  "sign_flipped": -1.0 / m}.get(mistake, 1.0 / m)
    delta = scale(subtract(activations[-1], y_onehot), per_sample)
    if mistake == "mask_on_output":
        delta = hadamard(delta, apply(relu_derivative, pre_activations[-1]))
    grad_w, grad_b = [None] * L, [None] * L
    for i in reversed(range(L)):
        grad_w[i] = matmul(transpose(activations[i]), delta)
        if mistake == "grad_w_transposed":
            grad_w[i] = transpose(grad_w[i])
        grad_b[i] = column_sums(delta)
        if mistake == "chapter_mean":
            grad_b[i] = scale(grad_b[i], 1.0 / m)
        if i > 0:
            back = matmul(delta, weights[i] if mistake == "handoff_not_transposed" else transpose(weights[i]))
            if mistake == "no_relu_mask":
                delta = back
            else:
                mask = pre_activations[i] if mistake == "mask_shifted" else pre_activations[i - 1]
                delta = hadamard(back, apply(relu_derivative, mask))
    return grad_w, grad_b


def _as_params(grad_w, grad_b):
    """The gradients in the check's order: W1, b1, W2, b2, …"""
    return [g for pair in zip(grad_w, grad_b) for g in pair]


def matching_mistake(analytic, activations, pre_activations, weights, y_onehot, allowance=0.0):
    """The key of the first mistake in ``MISTAKES`` whose gradients equal ``analytic``, or None."""
    found = matching_mistakes(analytic, activations, pre_activations, weights, y_onehot, allowance)
    return found[0] if found else None


def matching_mistakes(analytic, activations, pre_activations, weights, y_onehot, allowance=0.0):
    """The keys of the mistakes in ``MISTAKES`` whose gradients equal ``analytic``, in order.

    ``analytic`` lists the gradients checked, in the order W1, b1, W2, b2, ….
    A mistake matches when every entry agrees with it to 1e-6 (or within the
    rounding allowance) and it differs from the correct gradients here. More
    than one can match where a batch cannot tell them apart (e.g. every hidden
    unit off, so that the weight gradients are all 0).
    """
    correct = _as_params(*backward(activations, pre_activations, weights, y_onehot))
    found = []
    for mistake in MISTAKES:
        planted = _mistaken_backward(activations, pre_activations, weights, y_onehot, mistake)
        if planted is None:
            continue
        planted = _as_params(*planted)
        if all(judge(p, c, 1e-6, allowance).passed for p, c in zip(planted, correct)):
            continue                      # on this batch the mistake changes nothing (e.g. N = 1)
        if all(judge(a, p, 1e-6, allowance).passed for a, p in zip(analytic, planted)):
            found.append(mistake)
    return found


def _constant_ratio(entries):
    """analytic/numerical when (nearly) the same on every entry that carries signal, else None."""
    ratios = [a / n for a, n in entries if abs(n) > 1e-9 and math.isfinite(a) and math.isfinite(n)]
    if not ratios:
        return None
    middle = sorted(ratios)[len(ratios) // 2]
    return middle if all(abs(r - middle) <= 1e-4 * max(abs(middle), 1e-12) for r in ratios) else None


def _units_off(Z):
    """The columns (units) of Z with z ≤ 0 for at least one sample."""
    return {c for row in Z for c, z in enumerate(row) if z <= 0.0}


def _which_fail(name, fail, pre_activations):
    """A phrase: which entries of this parameter fail."""
    rows, cols = len(fail), len(fail[0])
    total = rows * cols
    count = sum(map(sum, fail))
    bad_rows = sorted({r for r in range(rows) for c in range(cols) if fail[r][c]})
    bad_cols = sorted({c for r in range(rows) for c in range(cols) if fail[r][c]})
    layer = int(name[1:])
    off = _units_off(pre_activations[layer - 1]) if 0 < layer <= len(pre_activations) else set()
    whose = ("units whose ReLU was off (z ≤ 0) for some sample" if layer < len(pre_activations)
             else "output units with z ≤ 0 for some sample (the output layer has no ReLU)")
    if count == total:
        return f"all {total} entries" if total > 1 else "its only entry"
    if set(bad_cols) == off and len(off) < cols:        # exactly the units that were off, and no other
        return (f"{count} of {total}, only in columns {_list(bad_cols)}: the columns of {whose} "
                f"(layer {layer}); the units that were on for every sample pass")
    if rows > 1 and all(all(fail[r]) for r in bad_rows):
        return f"{count} of {total}: all of rows {_list(bad_rows)} and no other"
    if cols > 1 and all(all(fail[r][c] for r in range(rows)) for c in bad_cols):
        return f"{count} of {total}: all of columns {_list(bad_cols)} and no other"
    return f"{count} of {total} entries"


def _list(numbers, most=8):
    shown = ", ".join(map(str, numbers[:most]))
    return shown + (", …" if len(numbers) > most else "")


def findings(pairs, pre_activations, threshold=THRESHOLD, allowance=0.0):
    """A ``Finding`` for each parameter of ``pairs`` (name, analytic, numerical[, at_kink]) that fails."""
    floor = max(FLOOR, allowance / threshold)
    result = []
    for name, analytic, numerical, *kink in pairs:
        flags = kink[0] if kink and kink[0] is not None else [[False] * len(r) for r in analytic]
        errors = [[relative_error(a, n, floor) for a, n in zip(ra, rn)] for ra, rn in zip(analytic, numerical)]
        fail = [[e > threshold and not k for e, k in zip(re, rk)] for re, rk in zip(errors, flags)]
        if not any(map(any, fail)):
            continue
        r, c = max(((r, c) for r in range(len(fail)) for c in range(len(fail[0])) if not flags[r][c]),
                   key=lambda rc: errors[rc[0]][rc[1]])
        judged = [(a, n) for ra, rn, rk in zip(analytic, numerical, flags)
                  for a, n, k in zip(ra, rn, rk) if not k]
        failing = _which_fail(name, fail, pre_activations)
        broken = sum(not math.isfinite(a) for row in analytic for a in row)
        if broken:
            failing += f"; {broken} of them NaN or inf (an overflow, or 0/0, in the backward checked)"
        result.append(Finding(name, (r, c), analytic[r][c], numerical[r][c], errors[r][c],
                              _constant_ratio(judged), failing))
    return result


def _ratio_text(ratio, m):
    if ratio is None:
        return "a/n differs from entry to entry"
    for value, label in ((m, f"N = {m}"), (1.0 / m, f"1/N, N = {m}"), (-1.0, "−1")):
        if m > 1 or value == -1.0:
            if abs(ratio - value) <= 1e-4 * abs(value):
                return f"a/n = {ratio:.6g} ({label}) on every entry"
    return f"a/n = {ratio + 0.0:.6g} on every entry"


def _guess(found, m, names):
    """A likely mistake from the findings alone, when no planted mistake matches exactly."""
    def near(ratio, value):
        return ratio is not None and abs(ratio - value) <= 1e-3 * abs(value)
    failing = {f.name for f in found}
    if m > 1 and all(near(f.ratio, 1.0 / m) for f in found) and failing <= {n for n in names if n[0] == "b"}:
        return "chapter_mean"
    if m > 1 and all(near(f.ratio, m) for f in found):
        return "no_division"
    if m > 1 and all(near(f.ratio, 1.0 / m) for f in found):
        return "divided_twice"
    if all(near(f.ratio, -1.0) for f in found):
        return "sign_flipped"
    if all("ReLU was off" in f.failing for f in found):
        return "no_relu_mask"
    return None


Diagnosis = collections.namedtuple("Diagnosis", "lines mistake")
Diagnosis.__doc__ = """``diagnose``'s answer: the lines to print and the key of the named mistake (or None)."""


def diagnose(pairs, activations, pre_activations, weights, y_onehot, threshold=THRESHOLD,
             allowance=0.0):
    """A ``Diagnosis``: lines that say what is wrong with the analytic gradients of ``pairs``.

    Its ``lines`` are empty when every parameter passes; its ``mistake`` is a
    key of ``MISTAKES`` or None.

    ``pairs`` is the check's (name, analytic, numerical[, at_kink]) in the order
    W1, b1, W2, b2, …; the network and batch are the ones the check used.
    """
    found = findings(pairs, pre_activations, threshold, allowance)
    if not found:
        return Diagnosis([], None)
    m = len(y_onehot)
    lines = ["diagnosis (a = the backward checked, n = numerical; indices from 0, like the code's):"]
    width = max(len(f.name) for f in found)
    for f in found:
        r, c = f.index
        lines.append(f"  {f.name:<{width}}  worst {f.name}[{r}, {c}]: a = {f.analytic:.6g}, "
                     f"n = {f.numerical:.6g}, rel. error {f.error:.2e}; {_ratio_text(f.ratio, m)}")
        lines.append(f"  {'':<{width}}  fails: {f.failing}")
    analytic = [pair[1] for pair in pairs]
    matches = matching_mistakes(analytic, activations, pre_activations, weights, y_onehot, allowance)
    mistake = matches[0] if matches else None
    if mistake is not None:
        lines.append("likely mistake (the gradients equal what it gives, to 1e-6): "
                     + MISTAKES[mistake].format(m=m))
        for other in matches[1:]:
            lines.append("  or, equally consistent with this batch (another --seed tells them apart): "
                         + MISTAKES[other].format(m=m))
    else:
        mistake = _guess(found, m, [pair[0] for pair in pairs])
        lines.append("likely mistake (from the pattern above): " + MISTAKES[mistake].format(m=m)
                     if mistake else "no mistake we know of matches this pattern: compare the worst "
                                     "entries by hand, one formula of §5.4 at a time")
    return Diagnosis(lines, mistake)
