"""Exercise 3 three ways: pure vs numerical, native vs numerical, pure vs native.

    python -m native.gradcheck                   # the chapter's 4→5→3, 3 samples
    python -m native.gradcheck --sizes 3 4 4 4 2 --samples 5 --seed 1
    python -m native.gradcheck --backward mine:backward   # your NumPy backward(), too

The problem is ``pure.gradcheck.random_problem`` (same seed, same numbers);
the numerical gradient is central differences on the native float64 loss.
W1, b1 is the first layer (weights[0], biases[0]), as in the chapter.
Each parameter must pass three checks:

* pure vs numerical and native vs numerical: the relative error of
  ``pure.gradcheck``, |a−n| / max(|a|+|n|, R/1e-7), largest over the entries,
  ≤ 1e-7, where R is the rounding error a float64 central difference can carry
  (so an entry passes when its cs231n relative error is ≤ 1e-7 or |a−n| ≤ R);
* pure vs native: tensor-relative max|p−c| / max|p| ≤ 1e-12 (the two sum in a
  different order, so they may differ in the last bits, never more);
* native float32 vs native float64, tensor-relative, ≤ 1e-4, so the float32
  kernels are held to account too.

Entries whose ±ε nudge moves a hidden z across ReLU's kink are counted, not
judged (there the numerical gradient measures neither slope). The chapter asks
for a relative error below 1e-5 ("相对误差应小于 1e-5"); 1e-7 is stricter
because a correct float64 backward lands near 1e-9, so the stricter bar costs
a right answer nothing and catches smaller bugs.

With ``--backward module:function`` a student's own backward — written with
NumPy as the chapter's is — is checked against the same numerical gradient:
it is called as ``backward(activations, pre_activations, weights, y_onehot)``
with float64 arrays (copies) and must return ``(grad_w, grad_b)``. When it
fails, the check shows each failing parameter's worst entry, the ratio
yours/numerical, which entries fail, and names the likely mistake. With
``--numerical module:function`` a student's own ``numerical_gradient(loss_fn,
param)`` (the chapter's §5.8, on float64 arrays) is checked against ours.
"""
import argparse
import sys

import numpy as np

import pure
from pure import checks
from pure.gradcheck import backward_with_chapter_bias, random_problem
from pure.gradcheck_cli import (RULE_HELP, add_problem_arguments, check_problem_arguments,
                                describe_rule, format_table, verdict)
from pure.gradcheck_diagnosis import diagnose
from pure.gradcheck_numerical import check_numerical
from pure.gradcheck_rules import THRESHOLD, KinkWatch, judge, rounding_allowance
from pure.gradcheck_student import BackwardError, call_backward, load_backward, load_numerical

from . import network as native

PURE_NATIVE_TOL = 1e-12
F32_TOL = 1e-4


def tensor_relative(a, b):
    """max|a − b| / max|b|: the difference measured against the tensor's own scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a - b).max())


def native_gradients(X, y_onehot, weights, biases):
    activations, pre_activations = native.forward(X, weights, biases)
    return native.backward(activations, pre_activations, weights, y_onehot)


class _Problem:
    """Exercise 3's seeded problem in both forms, with its numerical gradients and rounding allowance."""

    def __init__(self, sizes, samples, seed):
        self.X, self.Y, self.W, self.B = random_problem(list(sizes), samples, seed)
        as64 = lambda m: np.array(m, dtype=np.float64)
        self.Xn, self.Yn = as64(self.X), as64(self.Y)
        self.Wn, self.Bn = [as64(w) for w in self.W], [as64(b) for b in self.B]
        activations, pre_activations = native.forward(self.Xn, self.Wn, self.Bn)
        self.activations, self.pre_activations = activations, pre_activations
        self.allowance = rounding_allowance(native.cross_entropy(activations[-1], self.Yn),
                                            pre_activations[-1].tolist(), len(self.W))

    def loss(self):
        return native.cross_entropy(native.forward(self.Xn, self.Wn, self.Bn)[0][-1], self.Yn)

    def parameters(self):
        """(name, index into the gradient lists, is_weight, float64 parameter) in the chapter's order."""
        for i in range(len(self.W)):
            yield f"W{i + 1}", i, True, self.Wn[i]
            yield f"b{i + 1}", i, False, self.Bn[i]

    def numerical(self, param):
        """(numerical gradient, at_kink flags) of ``param``; see ``pure.gradcheck.KinkWatch``."""
        def evaluate():
            activations, pre_activations = native.forward(self.Xn, self.Wn, self.Bn)
            pattern = b"".join(np.packbits(z > 0).tobytes() for z in pre_activations[:-1])
            return pattern, native.cross_entropy(activations[-1], self.Yn)
        watch = KinkWatch(evaluate)
        gradient = native.numerical_gradient(watch, param).tolist()
        return gradient, watch.take(*param.shape)

    def pure_gradients(self, backward_fn=pure.backward):
        acts, pres = pure.forward(self.X, self.W, self.B)
        return backward_fn(acts, pres, self.W, self.Y)

    def student_gradients(self, backward_fn, name):
        """A student's backward on (copies of) the float64 arrays, as the chapter's NumPy code takes them."""
        with np.errstate():         # a student's np.seterr(...) ends with their call
            return call_backward(backward_fn, self.activations, self.pre_activations,
                                 self.Wn, self.Yn, name, arrays=True)

    def diagnose(self, pairs):
        """``pure.gradcheck_diagnosis.diagnose`` of (name, analytic, numerical, at_kink) on this problem."""
        acts, pres = pure.forward(self.X, self.W, self.B)
        return diagnose(pairs, acts, pres, self.W, self.Y, THRESHOLD, self.allowance)


def exercise3_errors(sizes=(4, 5, 3), samples=3, seed=0):
    """Exercise 3's numbers per parameter, for tables and pictures (contract C2).

    Returns a dict of plain Python values:
    ``parameters`` — the chapter's names W1, b1, W2, b2, … (W1 = weights[0]);
    ``pure``, ``native`` — per parameter, the largest relative error of
    ``pure.backward`` and ``native.backward`` (float64) against the numerical
    gradient; ``chapter_bias`` — the same for the chapter's ``mean(δ)`` bias
    gradient, a float for each b parameter and None for each W; ``threshold`` —
    per parameter, the bound the pass/fail verdict used: a parameter passes
    exactly when its error is ≤ its threshold. Deterministic.

    The relative error is ``pure.gradcheck``'s: |a−n| / max(|a|+|n|, R/1e-7),
    whose floor R/1e-7 makes |a−n| ≤ R (the rounding error of float64 central
    differences, ``rounding_allowance``) a pass. Where no entry is that small it
    is cs231n's |a−n| / (|a|+|n|). Entries whose central difference straddles
    a ReLU kink (``pure.gradcheck.KinkWatch``) are left out: there the
    numerical side measures neither slope.
    """
    problem = _Problem(sizes, samples, seed)
    p_gw, p_gb = problem.pure_gradients()
    _, c_gb = problem.pure_gradients(backward_with_chapter_bias)
    n_gw, n_gb = native_gradients(problem.Xn, problem.Yn, problem.Wn, problem.Bn)

    def error(analytic, numerical):
        gradient, at_kink = numerical
        return float(judge(analytic, gradient, THRESHOLD, problem.allowance, at_kink).error)

    result = {"parameters": [], "pure": [], "native": [], "chapter_bias": [], "threshold": []}
    for name, i, is_weight, param in problem.parameters():
        num = problem.numerical(param)
        result["parameters"].append(name)
        result["pure"].append(error((p_gw if is_weight else p_gb)[i], num))
        result["native"].append(error((n_gw if is_weight else n_gb)[i].tolist(), num))
        result["chapter_bias"].append(None if is_weight else error(c_gb[i], num))
        result["threshold"].append(float(THRESHOLD))
    return result


def three_way(sizes=(4, 5, 3), samples=3, seed=0, backward_fn=None, backward_name="backward",
              diagnosis=None):
    """Returns (rows, allowance): table rows (name, shape, pure~num, native~num, pure~native,
    f32~f64, [yours~num,] result text, passed) and the rounding allowance R the verdict used.
    ``diagnosis``, a list, receives the ``Diagnosis`` of the student's backward (when given)."""
    problem = _Problem(sizes, samples, seed)
    p_gw, p_gb = problem.pure_gradients()
    n_gw, n_gb = native_gradients(problem.Xn, problem.Yn, problem.Wn, problem.Bn)
    f32 = lambda arrs: [a.astype(np.float32) for a in arrs]
    s_gw, s_gb = native_gradients(problem.Xn.astype(np.float32), problem.Yn.astype(np.float32),
                                  f32(problem.Wn), f32(problem.Bn))
    if backward_fn is not None:
        y_gw, y_gb = problem.student_gradients(backward_fn, backward_name)

    rows, yours = [], []
    for name, i, is_weight, param in problem.parameters():
        p_g, n_g, s_g = ((p_gw, n_gw, s_gw) if is_weight else (p_gb, n_gb, s_gb))
        p_g, n_g, s_g = p_g[i], n_g[i], s_g[i]
        num, at_kink = problem.numerical(param)
        if backward_fn is not None:
            yours.append((name, (y_gw if is_weight else y_gb)[i], num, at_kink))
        analytic = [p_g, n_g.tolist()] + ([(y_gw if is_weight else y_gb)[i]] if backward_fn else [])
        judged = [judge(a, num, THRESHOLD, problem.allowance, at_kink) for a in analytic]
        exact = (tensor_relative(n_g, p_g), tensor_relative(s_g, n_g))
        ok = all(j.passed for j in judged) and exact[0] <= PURE_NATIVE_TOL and exact[1] <= F32_TOL
        by_rounding = max(j.by_rounding for j in judged)
        cells = [judged[0].error, judged[1].error, *exact] + ([judged[2].error] if backward_fn else [])
        rows.append((name, param.shape, *cells, verdict(ok, by_rounding, judged[0].at_kink), ok))
    if diagnosis is not None and yours:
        diagnosis.append(problem.diagnose(yours))
    return rows, problem.allowance


def numerical_command(numerical_fn, spec, sizes, samples, seed):
    """``--numerical``: a student's NumPy numerical_gradient against ours; returns the exit status."""
    problem = _Problem(sizes, samples, seed)
    parameters = [(name, param) for name, _, _, param in problem.parameters()]
    _, pres = pure.forward(problem.X, problem.W, problem.B)
    return check_numerical(numerical_fn, f"your numerical gradient {spec}", parameters, problem.loss,
                           native.numerical_gradient, problem.loss(),
                           problem.pre_activations[-1].tolist(), len(problem.W), pres,
                           f"{'→'.join(map(str, sizes))} network, {samples} samples, seed {seed}",
                           arrays=True)


HEADER = ("parameter", "shape", "pure~numerical", "native~numerical", "pure~native", "f32~f64", "result")


def main(argv=None):
    parser = checks.ArgumentParser(
        prog="python -m native.gradcheck", description=__doc__ + "\n" + RULE_HELP,
        epilog="exit status: 0 if every parameter passes, 1 if any fails or your code raises, "
               "2 for a bad option",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_problem_arguments(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--backward", metavar="MODULE:FUNCTION",
                      help="also check this backward(), called with float64 NumPy arrays "
                           "(module importable from the current directory, or file.py:function)")
    mode.add_argument("--numerical", metavar="MODULE:FUNCTION",
                      help="check this numerical_gradient(loss_fn, param) (float64 arrays, the "
                           "chapter's §5.8) against ours")
    args = parser.parse_args(argv)
    check_problem_arguments(parser, args)
    try:
        backward_fn = load_backward(args.backward) if args.backward is not None else None
        numerical_fn = load_numerical(args.numerical) if args.numerical is not None else None
    except BackwardError as error:
        parser.error(str(error))
    if numerical_fn is not None:
        return numerical_command(numerical_fn, args.numerical, args.sizes, args.samples, args.seed)
    diagnosis = []
    try:
        rows, allowance = three_way(args.sizes, args.samples, args.seed, backward_fn,
                                    f"your backward {args.backward}", diagnosis)
    except BackwardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    header = HEADER if backward_fn is None else HEADER[:-1] + ("yours~numerical", "result")
    print(f"Gradient check, three ways: {'→'.join(map(str, args.sizes))} network, "
          f"{args.samples} samples, seed {args.seed}"
          + (f", and your backward {args.backward}" if backward_fn else ""))
    print(describe_rule(allowance))
    print(f"also: pure~native ≤ {PURE_NATIVE_TOL:g} and f32~f64 ≤ {F32_TOL:g} (tensor-relative)\n")
    print(format_table([row[:-1] for row in rows], header))
    failed = [r[0] for r in rows if not r[-1]]
    if failed:
        if diagnosis and diagnosis[0].lines:
            print("\n" + "\n".join(diagnosis[0].lines))
        print(f"\nFAIL: {', '.join(failed)}")
        return 1
    print(f"\nOK: all {len(rows)} parameters agree three ways"
          + (" and your backward matches the numerical gradient" if backward_fn else ""))
    return 0


if __name__ == "__main__":
    checks.exit_with(checks.run_command, main)
