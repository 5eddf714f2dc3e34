"""Exercise 3 with the student's own numerical gradient: ``--numerical FILE:FUNC``.

The chapter's exercise 3 says 实现数值梯度检验 — implement the check, the
numerical gradient included. This compares a student's
``numerical_gradient(loss_fn, param)`` with ours, parameter by parameter, on
the same network and batch, by the check's relative error; a correct central
difference agrees with ours to rounding. A failure names the usual mistakes:
ε instead of 2ε, L₋ − L₊, a one-sided difference, an entry not put back.
"""

import sys

from pure.gradcheck_diagnosis import findings
from pure.gradcheck_rules import RELATIVE_ERROR, THRESHOLD, compare_gradients, rounding_allowance
from pure.gradcheck_student import BackwardError, call_numerical

HINTS = {
    2.0: "yours is 2× ours: divide by 2ε, not ε — (L(θ+ε) − L(θ−ε)) / 2ε",
    0.5: "yours is half of ours: the step between θ−ε and θ+ε is 2ε; divide by 2ε, not 4ε",
    -1.0: "yours has the opposite sign: L(θ+ε) − L(θ−ε), plus first",
}
ONE_SIDED = ("yours is close but off by more than rounding: a one-sided difference "
             "(L(θ+ε) − L(θ))/ε? Its error shrinks like ε; the central difference's like ε² (§5.8)")


def numerical_hint(found):
    """One line naming the likely mistake of a student's numerical gradient, from its findings."""
    ratios = {round(f.ratio, 3) if f.ratio is not None else None for f in found}
    if len(ratios) == 1 and next(iter(ratios)) in HINTS:
        return HINTS[next(iter(ratios))]
    if all(f.error < 1e-2 for f in found):
        return ONE_SIDED
    return "no mistake we know of matches: print L(θ+ε) and L(θ−ε) for the worst entry by hand"


def check_numerical(numerical_fn, name, parameters, loss, ours, loss_value, logits, num_layers,
                    pre_activations, title, arrays=False):
    """Compare a student's numerical gradient with ``ours`` on every parameter; print; return the exit status.

    ``parameters`` is [(name, param)] in the order W1, b1, …, each the object
    ``loss()`` reads; ``ours(loss, param)`` is the project's numerical gradient.
    """
    allowance = rounding_allowance(loss_value, logits, num_layers)
    pairs = []
    try:
        for label, param in parameters:
            theirs = call_numerical(numerical_fn, loss, param, label, name, arrays)
            reference = ours(loss, param)
            reference = reference.tolist() if hasattr(reference, "tolist") else reference
            pairs.append((label, theirs, reference))
    except BackwardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rows = compare_gradients(pairs, THRESHOLD, allowance)
    from pure.gradcheck_cli import format_table, table_rows
    print(f"Numerical gradient check: {title}, {name} against the project's numerical_gradient")
    print(f"a = yours, n = ours (central difference, eps = 1e-5); relative error = {RELATIVE_ERROR},\n"
          f"R = {allowance:.1e} the rounding a float64 central difference can carry here; "
          f"pass: every entry ≤ {THRESHOLD:g}\n")
    print(format_table(table_rows(rows), ("parameter", "shape", "yours~ours", "result")))
    failed = [row.name for row in rows if not row.passed]
    print()
    if failed:
        found = findings(pairs, pre_activations, THRESHOLD, allowance)
        for f in found:
            r, c = f.index
            print(f"  {f.name}  worst {f.name}[{r}, {c}]: yours {f.analytic:.9g}, ours {f.numerical:.9g}, "
                  f"rel. error {f.error:.2e}; fails: {f.failing}")
        print(f"likely mistake: {numerical_hint(found)}\n")
        print(f"FAIL: {len(failed)} of {len(rows)} parameters: your numerical gradient disagrees with "
              f"ours ({', '.join(failed)})")
        return 1
    print(f"OK: your numerical gradient agrees with ours on all {len(rows)} parameters "
          f"(largest relative error {max(row.error for row in rows):.2e})")
    return 0
