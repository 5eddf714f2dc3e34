"""Compare the weights and biases of two training checkpoints (.npz from --save).

Usage: python compare_checkpoints.py A.npz B.npz [--require-identical]

Prints, for every array, whether the two are bit-identical and the largest
absolute and relative difference. Exit status: 0 when the arrays agree in
shape and dtype (and, with --require-identical, in every bit); 1 when they
do not; 2 on unreadable input. Standard library and NumPy only, so it runs
in any of the project's environments.
"""
import argparse
import re
import sys

import numpy as np


def _arrays(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files if k != "meta"}
    except (OSError, ValueError) as e:
        print(f"compare_checkpoints: cannot read {path!r}: {e}", file=sys.stderr)
        sys.exit(2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="first checkpoint (.npz)")
    p.add_argument("b", help="second checkpoint (.npz)")
    p.add_argument("--require-identical", action="store_true",
                   help="fail unless every array is bit-identical")
    args = p.parse_args(argv)

    a, b = _arrays(args.a), _arrays(args.b)
    if sorted(a) != sorted(b):
        print(f"different arrays: {sorted(a)} vs {sorted(b)}")
        return 1
    ok, identical, worst = True, True, (0.0, 0.0, "")
    # The parameters only (W1 b1 W2 b2 ..., or w0 b0 ... in version-1 files); the
    # history's seconds differ between any two runs.
    params = [k for k in a if re.fullmatch(r"[wWbB]\d+", k)]
    for name in sorted(params, key=lambda k: (int(k[1:]), k[0].lower() != "w")):
        x, y = a[name], b[name]
        if x.shape != y.shape or x.dtype != y.dtype:
            print(f"{name}: shape/dtype differ: {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
            ok = False
            continue
        # Bit equality, not ==: it also tells -0.0 from 0.0 and NaNs apart.
        same = x.tobytes() == y.tobytes()
        diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
        absd = float(diff.max()) if diff.size else 0.0
        scale = float(np.abs(y.astype(np.float64)).max()) if y.size else 0.0
        reld = absd / scale if scale > 0 else absd
        ndiff = int(np.count_nonzero((x.view(np.uint8).reshape(x.size, -1)
                                      != y.view(np.uint8).reshape(y.size, -1)).any(axis=1))) \
            if x.size else 0
        print(f"{name:>3} {str(x.shape):>10} {x.dtype}: "
              + ("bit-identical" if same else
                 f"{ndiff} of {x.size} entries differ, max |diff| {absd:.3e} "
                 f"(relative to max |value|: {reld:.3e})"))
        identical &= same
        if absd > worst[0]:
            worst = (absd, reld, name)
    if identical:
        print("all arrays bit-identical")
    else:
        print(f"largest difference: {worst[0]:.3e} in {worst[2]} "
              f"(relative to that array's max |value|: {worst[1]:.3e})")
    if not ok or (args.require_identical and not identical):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
