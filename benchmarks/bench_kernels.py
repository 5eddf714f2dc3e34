"""Benchmark the C kernels of native.kernels against NumPy, one thread each.

For every kernel and shape it prints one row: the shape, the transpose flags, the
dtype, our speed through the validated Python wrapper, our speed calling the C
function directly (no checks), NumPy's speed, and the ratio wrapper / NumPy (> 1:
ours is faster).  matmul rows are in GFLOP/s (2*M*N*K flops); the memory-bound
kernels in GB/s (bytes read + written by the kernel).  Each figure is the median of
--repeats interleaved repeats (ours, C, NumPy, ours, C, NumPy, ...), each repeat
timing enough calls to last --min-time seconds.

The chapter's matmuls are also timed with no Python in the loop at all: a small C
harness (compiled here with cffi, as the project is) calls our bp_matmul and
OpenBLAS's own cblas_sgemm/dgemm (the library inside NumPy) in the same C loop, so
the ratio compares the two kernels alone — what the epoch loop, which calls the
kernels from C, sees. The sparse first layer is compared with NumPy's dense
product on a batch of real MNIST digits (--data-dir or the usual sources).

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


HARNESS_SRC = r"""
#include <stdint.h>
#include <time.h>
typedef int (*ours_f32)(int64_t, int64_t, int64_t, const float *, int64_t, int, const float *,
                        int64_t, int, const float *, float *, int64_t, int);
typedef int (*ours_f64)(int64_t, int64_t, int64_t, const double *, int64_t, int, const double *,
                        int64_t, int, const double *, double *, int64_t, int);
typedef void (*blas_f32)(int, int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                         const float *, int64_t, float, float *, int64_t);
typedef void (*blas_f64)(int, int, int, int64_t, int64_t, int64_t, double, const double *, int64_t,
                         const double *, int64_t, double, double *, int64_t);
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
/* Seconds per call of C = op(A) @ op(B), called reps times: kind 0 = bp_matmul, 1 = cblas
   (row-major, 64-bit integers: NumPy's scipy-openblas64). */
double time_mm(uintptr_t fn, int kind, int f64, int64_t reps, int64_t M, int64_t N, int64_t K,
               uintptr_t A, int64_t lda, int ta, uintptr_t B, int64_t ldb, int tb, uintptr_t C)
{
    double t0 = now();
    for (int64_t r = 0; r < reps; ++r) {
        if (kind == 0 && !f64)
            ((ours_f32)fn)(M, N, K, (const float *)A, lda, ta, (const float *)B, ldb, tb, 0, (float *)C, N, 0);
        else if (kind == 0)
            ((ours_f64)fn)(M, N, K, (const double *)A, lda, ta, (const double *)B, ldb, tb, 0, (double *)C, N, 0);
        else if (!f64)
            ((blas_f32)fn)(101, ta ? 112 : 111, tb ? 112 : 111, M, N, K, 1.0f, (const float *)A, lda,
                           (const float *)B, ldb, 0.0f, (float *)C, N);
        else
            ((blas_f64)fn)(101, ta ? 112 : 111, tb ? 112 : 111, M, N, K, 1.0, (const double *)A, lda,
                           (const double *)B, ldb, 0.0, (double *)C, N);
    }
    return (now() - t0) / (double)reps;
}
"""


def c_loop_harness():
    """(harness lib, {dtype: (our bp_matmul address, cblas gemm address)}), or (None, reason)."""
    import importlib.util
    import tempfile
    import cffi
    import native._kernels as built
    paths = glob.glob(os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs",
                                   "*openblas*.so*"))
    blas, names = None, None
    for path in paths:
        so = ctypes.CDLL(path)
        for cand in (("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"),):
            if all(hasattr(so, n) for n in cand):
                blas, names = so, cand
    if blas is None:
        return None, "NumPy's OpenBLAS with 64-bit cblas_*gemm was not found"
    ffib = cffi.FFI()
    ffib.cdef("double time_mm(uintptr_t fn, int kind, int f64, int64_t reps, int64_t M, int64_t N, "
              "int64_t K, uintptr_t A, int64_t lda, int ta, uintptr_t B, int64_t ldb, int tb, uintptr_t C);")
    ffib.set_source("_bp_bench_harness", HARNESS_SRC, extra_compile_args=["-O2"])
    tmp = tempfile.mkdtemp(prefix="bp_bench_")
    so_path = ffib.compile(tmpdir=tmp, verbose=False)
    spec = importlib.util.spec_from_file_location("_bp_bench_harness", so_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ours = ctypes.CDLL(built.__file__)
    addr = lambda f: ctypes.cast(f, ctypes.c_void_p).value
    fns = {np.dtype(np.float32): (addr(ours.bp_matmul_f32), addr(getattr(blas, names[0]))),
           np.dtype(np.float64): (addr(ours.bp_matmul_f64), addr(getattr(blas, names[1])))}
    return mod.lib, fns


def bench_c_loop(dtypes, args, rng):
    """The chapter's matmuls, ours vs OpenBLAS, both called from the same C loop."""
    hlib, fns = c_loop_harness()
    if hlib is None:
        print(f"(C-loop comparison skipped: {fns})")
        return []
    print(f"\nC loop (no Python): bp_matmul vs OpenBLAS cblas gemm, the same harness loop, "
          f"median of {args.repeats} interleaved repeats")
    print(f"{'what':<11} {'shape':<18} {'flags':<6} {'dtype':<8} {'ours GFLOP/s':>12} {'OpenBLAS':>9} {'ratio':>6}")
    ratios = []
    for dt in dtypes:
        dt = np.dtype(dt)
        f64 = int(dt == np.float64)
        ours, blas = fns[dt]
        for M, N, K, ta, tb, what in CHAPTER_MATMULS:
            if ta and tb:
                continue
            a = rng.standard_normal((K, M) if ta else (M, K)).astype(dt)
            b = rng.standard_normal((N, K) if tb else (K, N)).astype(dt)
            c1, c2 = np.empty((M, N), dt), np.empty((M, N), dt)
            reps = max(10, int(args.min_time * 2e10 / (2 * M * N * K)))   # ~min_time at 10 GFLOP/s
            runs = {0: [], 1: []}
            for _ in range(args.repeats):
                for kind, fn, c in ((0, ours, c1), (1, blas, c2)):
                    runs[kind].append(hlib.time_mm(fn, kind, f64, reps, M, N, K, a.ctypes.data, a.shape[1],
                                                   ta, b.ctypes.data, b.shape[1], tb, c.ctypes.data))
            assert np.allclose(c1, c2, rtol=1e-3, atol=1e-3), what      # the same product
            t_ours, t_blas = statistics.median(runs[0]), statistics.median(runs[1])
            g = 2.0 * M * N * K / 1e9
            ratios.append(t_blas / t_ours)
            print(f"{what:<11} {f'{M}x{K} @ {K}x{N}':<18} {('T' if ta else 'N') + ('T' if tb else 'N'):<6} "
                  f"{dt.name:<8} {g / t_ours:12.1f} {g / t_blas:9.1f} {t_blas / t_ours:6.2f}", flush=True)
    print(f"C-loop matmul ratio ours/OpenBLAS: median {statistics.median(ratios):.2f}, "
          f"min {min(ratios):.2f}, max {max(ratios):.2f} over {len(ratios)} shapes")
    return ratios


def bench_sparse(table, dt, args, rng, images):
    """The first layer on real digits: X·W₁ and W₁ += Xᵀ·δ̃, sparse (ours) vs dense NumPy."""
    idx = rng.integers(0, len(images), 64)
    batch = np.ascontiguousarray(images[idx])
    sp = kern.SparseImages(batch)
    X = batch.astype(dt) * dt(1 / 255)
    w = (rng.standard_normal((784, 64)) * 0.05).astype(dt)
    bias = np.zeros((1, 64), dt)
    d = (rng.standard_normal((64, 64)) * 1e-12).astype(dt)     # keeps repeated updates harmless
    out = np.empty((64, 64), dt)
    s = sfx(dt)
    rs, col, pix, nnz, checked = sp._c()
    pw, pb, po, pd = ptr(w, True), ptr(bias), ptr(out, True), ptr(d)
    note = f"{100 * sp.density:.0f} % nonzero pixels; numpy: dense"
    table.row("sparse X@W1", "64x784 @ 784x64", "", dt, "GFLOP/s", 2.0 * 64 * 784 * 64, timeit(
        [lambda: kern.sparse_matmul(sp, w, None, 1 / 255, bias=bias, out=out),
         lambda: getattr(lib, f"bp_sparse_matmul_{s}")(64, 64, 784, rs, col, pix, nnz, checked, 64,
                                                      ffi.NULL, 1 / 255, pw, 64, pb, po, 64),
         lambda: np.add(X @ w, bias, out=out)], args.repeats, args.min_time), note + " X @ W + b")
    table.row("sparse W+=XTd", "784x64 @ 64x64", "T", dt, "GFLOP/s", 2.0 * 64 * 784 * 64, timeit(
        [lambda: kern.sparse_matmul_t_acc(sp, d, w, None, 1 / 255),
         lambda: getattr(lib, f"bp_sparse_matmul_t_acc_{s}")(64, 64, 784, rs, col, pix, nnz, checked,
                                                            64, ffi.NULL, 1 / 255, pd, 64, pw, 64),
         lambda: np.add(w, X.T @ d, out=w)], args.repeats, args.min_time), note + " W += X.T @ d")


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
    parser.add_argument("--only", choices=["chapter", "c-loop", "sparse", "elementwise", "sweep"],
                        action="append", help="run only these sections (repeatable); default: all")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files, for the sparse section")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    sections = args.only or ["chapter", "c-loop", "sparse", "elementwise", "sweep"]
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
    images = None
    if "sparse" in sections:
        from native import data
        images = data.load("mnist", args.data_dir, progress=False).train_images
    for dt in dtypes:
        if "chapter" in sections:
            for M, N, K, ta, tb, what in CHAPTER_MATMULS:
                bench_matmul(table, dt, M, N, K, ta, tb, what, args, rng)
        if "sparse" in sections:
            bench_sparse(table, dt, args, rng, images)
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
        print(f"\nmatmul ratio ours/numpy (through Python): median {statistics.median(mm):.2f}, "
              f"min {min(mm):.2f}, max {max(mm):.2f} over {len(mm)} shapes")
    if "c-loop" in sections:
        bench_c_loop(dtypes, args, rng)


if __name__ == "__main__":
    main()
