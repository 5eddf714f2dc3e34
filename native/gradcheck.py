"""Exercise 3 three ways: pure vs numerical, native vs numerical, pure vs native.

    python -m native.gradcheck                   # the chapter's 4→5→3, 3 samples
    python -m native.gradcheck --sizes 3 4 4 4 2 --samples 5 --seed 1

The problem is ``pure.gradcheck.random_problem`` (same seed, same numbers);
the numerical gradient is central differences on the native float64 loss.
Each parameter must pass three checks:

* pure vs numerical and native vs numerical: cs231n relative error
  |a−n| / max(1e-12, |a|+|n|), largest over the entries, ≤ 1e-7;
* pure vs native: tensor-relative max|p−c| / max|p| ≤ 1e-12 (the two sum in a
  different order, so they may differ in the last bits, never more);
* native float32 vs native float64, tensor-relative, ≤ 1e-4, so the float32
  kernels are held to account too.
"""
import argparse
import sys

import numpy as np

import pure
from pure.gradcheck import (THRESHOLD, backward_with_chapter_bias, format_table, max_relative_error,
                            random_problem)

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


def three_way(sizes=(4, 5, 3), samples=3, seed=0):
    """Returns table rows (name, shape, pure~num, native~num, pure~native, f32~f64, passed)."""
    X, Y, W, B = random_problem(list(sizes), samples, seed)
    acts, pres = pure.forward(X, W, B)
    p_gw, p_gb = pure.backward(acts, pres, W, Y)

    as64 = lambda m: np.array(m, dtype=np.float64)
    Xn, Yn, Wn, Bn = as64(X), as64(Y), [as64(w) for w in W], [as64(b) for b in B]
    n_gw, n_gb = native_gradients(Xn, Yn, Wn, Bn)
    f32 = lambda arrs: [a.astype(np.float32) for a in arrs]
    s_gw, s_gb = native_gradients(Xn.astype(np.float32), Yn.astype(np.float32), f32(Wn), f32(Bn))

    def loss():
        return native.cross_entropy(native.forward(Xn, Wn, Bn)[0][-1], Yn)

    rows = []
    for i in range(len(W)):
        for name, param, p_g, n_g, s_g in ((f"W{i + 1}", Wn[i], p_gw[i], n_gw[i], s_gw[i]),
                                           (f"b{i + 1}", Bn[i], p_gb[i], n_gb[i], s_gb[i])):
            num = native.numerical_gradient(loss, param)
            errs = (max_relative_error(p_g, num.tolist()), max_relative_error(n_g.tolist(), num.tolist()),
                    tensor_relative(n_g, p_g), tensor_relative(s_g, n_g))
            ok = (errs[0] <= THRESHOLD and errs[1] <= THRESHOLD and errs[2] <= PURE_NATIVE_TOL
                  and errs[3] <= F32_TOL)
            rows.append((name, param.shape) + errs + (ok,))
    return rows


def exercise3_errors(sizes=(4, 5, 3), samples=3, seed=0):
    """Exercise 3's numbers per parameter, for tables and pictures (contract C2).

    Returns a dict of plain Python values:
    ``parameters`` — the chapter's names W1, b1, W2, b2, … (W1 = weights[0]);
    ``pure``, ``native`` — per parameter, the largest relative error of
    ``pure.backward`` and ``native.backward`` (float64) against the numerical
    gradient; ``chapter_bias`` — the same for the chapter's ``mean(δ)`` bias
    gradient, a float for each b parameter and None for each W; ``threshold`` —
    per parameter, the bound the pass/fail verdict used. Deterministic.
    """
    X, Y, W, B = random_problem(list(sizes), samples, seed)
    acts, pres = pure.forward(X, W, B)
    p_gw, p_gb = pure.backward(acts, pres, W, Y)
    _, c_gb = backward_with_chapter_bias(acts, pres, W, Y)

    as64 = lambda m: np.array(m, dtype=np.float64)
    Xn, Yn, Wn, Bn = as64(X), as64(Y), [as64(w) for w in W], [as64(b) for b in B]
    n_gw, n_gb = native_gradients(Xn, Yn, Wn, Bn)

    def loss():
        return native.cross_entropy(native.forward(Xn, Wn, Bn)[0][-1], Yn)

    result = {"parameters": [], "pure": [], "native": [], "chapter_bias": [], "threshold": []}
    for i in range(len(W)):
        for name, param, p_g, n_g, c_g in ((f"W{i + 1}", Wn[i], p_gw[i], n_gw[i], None),
                                           (f"b{i + 1}", Bn[i], p_gb[i], n_gb[i], c_gb[i])):
            num = native.numerical_gradient(loss, param).tolist()
            result["parameters"].append(name)
            result["pure"].append(float(max_relative_error(p_g, num)))
            result["native"].append(float(max_relative_error(n_g.tolist(), num)))
            result["chapter_bias"].append(None if c_g is None else float(max_relative_error(c_g, num)))
            result["threshold"].append(float(THRESHOLD))
    return result


HEADER = ("parameter", "shape", "pure~numerical", "native~numerical", "pure~native", "f32~f64", "result")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m native.gradcheck", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 5, 3], metavar="N",
                        help="layer sizes, input first (default: 4 5 3)")
    parser.add_argument("--samples", type=int, default=3, help="batch size N (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    args = parser.parse_args(argv)
    if len(args.sizes) < 2 or min(args.sizes) < 1:
        parser.error(f"--sizes needs at least 2 positive layer sizes, got {args.sizes}")
    if args.samples < 1:
        parser.error(f"--samples must be at least 1, got {args.samples}")
    rows = three_way(args.sizes, args.samples, args.seed)
    print(f"Gradient check, three ways: {'→'.join(map(str, args.sizes))} network, "
          f"{args.samples} samples, seed {args.seed}")
    print(f"pass if ~numerical ≤ {THRESHOLD:g} (cs231n), pure~native ≤ {PURE_NATIVE_TOL:g} and "
          f"f32~f64 ≤ {F32_TOL:g} (tensor-relative)\n")
    print(format_table(rows, HEADER))
    failed = [r[0] for r in rows if not r[-1]]
    if failed:
        print(f"\nFAIL: {', '.join(failed)}")
        return 1
    print(f"\nOK: all {len(rows)} parameters agree three ways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
