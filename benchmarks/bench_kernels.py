"""Benchmark the C kernels of native.kernels against NumPy, one thread each.

For every kernel and shape it prints one row: the shape, the transpose flags, the
dtype, our speed through the validated Python wrapper, our speed calling the C
function directly (no checks), NumPy's speed, and the ratio wrapper / NumPy (> 1:
ours is faster).  matmul rows are in GFLOP/s (2*M*N*K flops); the memory-bound
kernels in GB/s (bytes read + written by the kernel).  Each figure is the median of
--repeats interleaved repeats (ours, C, NumPy, ours, C, NumPy, ...), each repeat
timing enough calls to last --min-time seconds.

NumPy is limited to one thread: OPENBLAS_NUM_THREADS (and the other BLAS thread
variables) are set to 1 before NumPy is imported.  The OpenBLAS core type NumPy
runs is printed in the header.  Unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the
command if the machine sets them, or NumPy may run a slower kernel:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py
"""
import argparse
import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import ctypes  # noqa: E402
import glob  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from native import kernels as kern  # noqa: E402

ffi, lib = kern.ffi, kern.lib

# The chapter's matmuls (784->64->32->10, batch 64): forward, weight gradients, delta @ W^T.
CHAPTER_MATMULS = [  # (M, N, K, trans_a, trans_b, what)
    (64, 64, 784, False, False, "X @ W1"),
    (64, 32, 64, False, False, "A1 @ W2"),
    (64, 10, 32, False, False, "A2 @ W3"),
    (784, 64, 64, True, False, "X^T @ d1"),
    (64, 32, 64, True, False, "A1^T @ d2"),
    (32, 10, 64, True, False, "A2^T @ d3"),
    (64, 32, 10, False, True, "d3 @ W3^T"),
    (64, 64, 32, False, True, "d2 @ W2^T"),
    (64, 784, 64, False, True, "d1 @ W1^T"),
    (64, 64, 784, True, True, "(tt case)"),
]
SWEEP_HIDDEN = [64, 128, 256, 512, 1024]
SWEEP_BATCH = [32, 64, 128, 256, 512]


def numpy_blas():
    """A description of the BLAS NumPy runs: OpenBLAS core type and config when it can be asked."""
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*.so*")):
        try:
            so = ctypes.CDLL(path)
        except OSError:
            continue
        for core, conf in (("scipy_openblas_get_corename64_", "scipy_openblas_get_config64_"),
                           ("openblas_get_corename", "openblas_get_config")):
            if hasattr(so, core):
                getattr(so, core).restype = ctypes.c_char_p
                getattr(so, conf).restype = ctypes.c_char_p
                return f"OpenBLAS core {getattr(so, core)().decode()} ({getattr(so, conf)().decode().strip()})"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (core type unknown)"
    except Exception:  # noqa: BLE001 - only a description
        return "unknown BLAS"


def timeit(fns, repeats, min_time):
    """Median seconds per call of each function in fns, over interleaved repeats."""
    counts = []
    for f in fns:                     # calibrate: calls per repeat so one repeat lasts min_time
        n, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            t = time.perf_counter() - t0
            if t >= min_time / 4 or n >= 1 << 20:
                break
            n *= 4
        counts.append(max(1, int(n * min_time / max(t, 1e-9))))
    samples = [[] for _ in fns]
    for _ in range(repeats):
        for f, n, s in zip(fns, counts, samples):
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            s.append((time.perf_counter() - t0) / n)
    return [statistics.median(s) for s in samples]


def ptr(a, write=False):
    return ffi.from_buffer("float[]" if a.dtype == np.float32 else "double[]", a, require_writable=write)


def sfx(dt):
    return "f32" if dt == np.float32 else "f64"


class Table:
    def __init__(self):
        self.header = f"{'kernel':<14} {'shape':<22} {'flags':<9} {'dtype':<8} {'unit':<7} " \
                      f"{'ours':>8} {'ours(C)':>8} {'numpy':>8} {'ratio':>6}  note"
        print(self.header)
        print("-" * len(self.header))
        self.rows = []

    def row(self, kernel, shape, flags, dt, unit, work, times, note=""):
        ours, c, ref = (work / t / 1e9 for t in times)
        ratio = times[2] / times[0]
        self.rows.append((kernel, ratio))
        print(f"{kernel:<14} {shape:<22} {flags:<9} {np.dtype(dt).name:<8} {unit:<7} "
              f"{ours:8.2f} {c:8.2f} {ref:8.2f} {ratio:6.2f}  {note}", flush=True)


def bench_matmul(table, dt, M, N, K, ta, tb, note, args, rng):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(dt)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(dt)
    out = np.empty((M, N), dt)
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    f = getattr(lib, f"bp_matmul_{sfx(dt)}")
    pa, pb, po = ptr(a), ptr(b), ptr(out, True)
    lda, ldb = a.shape[1], b.shape[1]
    times = timeit([lambda: kern.matmul(a, b, out, trans_a=ta, trans_b=tb),
                    lambda: f(M, N, K, pa, lda, ta, pb, ldb, tb, ffi.NULL, po, N, 0),
                    lambda: np.matmul(opa, opb, out=out)], args.repeats, args.min_time)
    flags = f"{'T' if ta else 'N'}{'T' if tb else 'N'}"
    table.row("matmul", f"{M}x{K} @ {K}x{N}", flags, dt, "GFLOP/s", 2.0 * M * N * K, times, note)


def bench_elementwise(table, dt, args, rng):
    size = np.dtype(dt).itemsize
    for M, N in ((64, 64), (64, 784), (784, 64)):
        z = rng.standard_normal((M, N)).astype(dt)
        delta = rng.standard_normal((M, N)).astype(dt)
        grad = rng.standard_normal((M, N)).astype(dt)
        out = np.empty((M, N), dt)
        colsum = np.empty((1, N), dt)
        n = M * N
        s = sfx(dt)
        pz, pd, pg, po, pc = ptr(z), ptr(delta, True), ptr(grad), ptr(out, True), ptr(colsum, True)
        lr = 1e-12                                   # keeps the repeated in-place updates harmless
        shape = f"{M}x{N}"
        table.row("relu", shape, "", dt, "GB/s", 2.0 * n * size, timeit(
            [lambda: kern.relu(z, out), lambda: getattr(lib, f"bp_relu_{s}")(n, pz, po),
             lambda: np.maximum(z, 0, out=out)], args.repeats, args.min_time))
        table.row("relu_backward", shape, "", dt, "GB/s", 3.0 * n * size, timeit(
            [lambda: kern.relu_backward(delta, z), lambda: getattr(lib, f"bp_relu_backward_{s}")(n, pd, pz),
             lambda: np.multiply(delta, z > 0, out=delta)], args.repeats, args.min_time),
            "numpy: delta *= (z > 0)")
        table.row("sgd_update", shape, "", dt, "GB/s", 3.0 * n * size, timeit(
            [lambda: kern.sgd_update(delta, grad, lr), lambda: getattr(lib, f"bp_sgd_update_{s}")(n, pd, pg, lr),
             lambda: np.subtract(delta, lr * grad, out=delta)], args.repeats, args.min_time),
            "numpy: p -= lr * g")
        table.row("column_sum", shape, "", dt, "GB/s", 1.0 * n * size, timeit(
            [lambda: kern.column_sum(z, colsum), lambda: getattr(lib, f"bp_column_sum_{s}")(M, N, pz, N, pc),
             lambda: np.sum(z, axis=0, keepdims=True, out=colsum)], args.repeats, args.min_time))


def numpy_softmax_xent_delta(z, labels, delta, rows):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.log(p[rows, labels]).mean()
    np.subtract(p, 0, out=delta)
    delta[rows, labels] -= 1
    delta /= z.shape[0]
    return loss


def bench_output_layer(table, dt, args, rng):
    size = np.dtype(dt).itemsize
    s = sfx(dt)
    for M, N in ((64, 10), (512, 10)):
        z = rng.standard_normal((M, N)).astype(dt)
        labels = rng.integers(0, N, M).astype(np.int32)
        rows = np.arange(M)
        delta = np.empty((M, N), dt)
        p = np.empty((M, N), dt)
        loss = ffi.new("double *")
        pz, pl, pdel = ptr(z), ffi.from_buffer("int32_t[]", labels), ptr(delta, True)
        table.row("softmax_xent", f"{M}x{N}", "", dt, "GB/s", 2.0 * M * N * size, timeit(
            [lambda: kern.softmax_xent_delta(z, labels, delta),
             lambda: getattr(lib, f"bp_softmax_xent_delta_{s}")(M, N, pz, pl, ffi.NULL, pdel, loss),
             lambda: numpy_softmax_xent_delta(z, labels, delta, rows)], args.repeats, args.min_time),
            "fused softmax + loss + delta")
        table.row("softmax", f"{M}x{N}", "", dt, "GB/s", 2.0 * M * N * size, timeit(
            [lambda: kern.softmax(z, p), lambda: getattr(lib, f"bp_softmax_{s}")(M, N, pz, ptr(p, True)),
             lambda: np.divide(e := np.exp(z - z.max(axis=1, keepdims=True)), e.sum(axis=1, keepdims=True), out=p)],
            args.repeats, args.min_time))
    images = rng.integers(0, 256, (60000, 784), dtype=np.uint8)
    for B in (64, 512):
        idx = rng.integers(0, 60000, B).astype(np.int64)
        out = np.empty((B, 784), dt)
        scale = 1 / 255
        pi, px, po = ffi.from_buffer("uint8_t[]", images), ffi.from_buffer("int64_t[]", idx), ptr(out, True)
        table.row("gather_scale", f"{B}x784 of 60000", "", dt, "GB/s", B * 784 * (1.0 + size), timeit(
            [lambda: kern.gather_scale(images, idx, scale, out),
             lambda: getattr(lib, f"bp_gather_scale_{s}")(B, 784, pi, 60000, px, scale, po),
             lambda: np.multiply(images.take(idx, axis=0), dt(scale), out=out)], args.repeats, args.min_time),
            "numpy: images[idx] * scale")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats per figure (median; >= 5; default 7)")
    parser.add_argument("--min-time", type=float, default=0.02, help="seconds per repeat per function (default 0.02)")
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both", help="default both")
    parser.add_argument("--only", choices=["chapter", "elementwise", "sweep"], action="append",
                        help="run only these sections (repeatable); default: all three")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    sections = args.only or ["chapter", "elementwise", "sweep"]
    dtypes = {"float32": [np.float32], "float64": [np.float64], "both": [np.float32, np.float64]}[args.dtype]
    rng = np.random.default_rng(args.seed)

    print(f"native.kernels: simd path {kern.simd_path()}; the kernels run single-threaded "
          f"(OpenMP max threads {kern.openmp_threads()} under OMP_NUM_THREADS=1 set here)")
    print(f"numpy {np.__version__}: {numpy_blas()}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    print(f"median of {args.repeats} interleaved repeats; ours = Python wrapper, ours(C) = direct C call; "
          f"ratio = ours / numpy (> 1: ours faster)\n")
    table = Table()
    for dt in dtypes:
        if "chapter" in sections:
            for M, N, K, ta, tb, what in CHAPTER_MATMULS:
                bench_matmul(table, dt, M, N, K, ta, tb, what, args, rng)
        if "elementwise" in sections:
            bench_elementwise(table, dt, args, rng)
            bench_output_layer(table, dt, args, rng)
        if "sweep" in sections:
            for H in SWEEP_HIDDEN:
                for B in SWEEP_BATCH:
                    bench_matmul(table, dt, B, H, 784, False, False, f"sweep X @ W1, batch {B}, hidden {H}", args, rng)
                    bench_matmul(table, dt, 784, H, B, True, False, "sweep X^T @ d1", args, rng)
    mm = [r for k, r in table.rows if k == "matmul"]
    if mm:
        print(f"\nmatmul ratio ours/numpy: median {statistics.median(mm):.2f}, min {min(mm):.2f}, "
              f"max {max(mm):.2f} over {len(mm)} shapes")


if __name__ == "__main__":
    main()
