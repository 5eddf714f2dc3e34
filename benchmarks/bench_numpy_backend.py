"""One MNIST epoch on the NumPy backend against the chapter's NumPy loop (and the C kernels).

The NumPy backend is what runs where the C extension could not be built (no C
compiler at install time, or BACKPROP_NUMPY_ONLY=1). Its target: an epoch within
1.3x the chapter's own NumPy code (benchmarks/chapter_numpy.py). Both, and the C
engine when it is built, run in this one process, interleaved, from the same
initial weights on the same sample order (784→64→32→10, batch 64, the chapter's
settings), each --repeats times; the table gives medians and ratios. BLAS threads are
limited to --threads for all of them (the trainer's default is 1).

    python benchmarks/bench_numpy_backend.py
    python benchmarks/bench_numpy_backend.py --dtypes float32 --repeats 7 --threads 2
"""
import argparse
import os
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_numpy_backend.py",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="BLAS (and OpenMP) threads for every implementation")
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=5, help="epochs timed per implementation (median reported)")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (else the usual sources)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, os.path.dirname(here)]
    import numpy as np
    import chapter_numpy
    from native import _numpy_backend, data, engine, init_network, kernels

    ds = data.load("mnist", args.data_dir, progress=False)
    images, labels = ds.train_images, ds.train_labels
    sparse = kernels.SparseImages(images)
    rng = np.random.default_rng(0)
    orders = [rng.permutation(len(images)) for _ in range(args.repeats)]
    sizes = [784, 64, 32, 10]

    def engine_epoch(w0, b0, order, imgs, backend):
        """One Engine epoch on the C kernels (backend None) or the NumPy backend: the engine's
        ffi and lib (and the one SparseImages hands its arrays through) swapped for this call,
        so both backends run in this one process."""
        saved = engine.ffi, engine.lib, kernels._from_buffer
        if backend is not None:
            engine.ffi, engine.lib, kernels._from_buffer = backend.ffi, backend.lib, backend.ffi.from_buffer
        try:
            w, b = [a.copy() for a in w0], [a.copy() for a in b0]
            eng = engine.Engine(w, b, batch_size=64, threads=args.threads)
            t = time.perf_counter()
            eng.train_epoch(imgs, labels, order, 0.1)
            return time.perf_counter() - t
        finally:
            engine.ffi, engine.lib, kernels._from_buffer = saved

    print(f"MNIST epoch, {'→'.join(map(str, sizes))}, batch 64, {args.threads} BLAS thread(s), "
          f"median of {args.repeats}; numpy {np.__version__}; kernels here: {kernels.simd_path()}")
    print(f"{'dtype':8} {'implementation':32} {'seconds':>8} {'÷ chapter':>10}")
    for dtype in args.dtypes:
        w0, b0 = init_network(sizes, seed=0, dtype=dtype)
        X = (images / np.array(255.0, dtype)).astype(dtype)
        Y = np.eye(10, dtype=dtype)[labels]

        def chapter(order):
            w, b = [a.copy() for a in w0], [a.copy() for a in b0]
            t = time.perf_counter()
            chapter_numpy.train_epoch(X, Y, w, b, order, 0.1)
            return time.perf_counter() - t

        impls = {"chapter's NumPy loop": chapter,
                 "NumPy backend, uint8 images": lambda o: engine_epoch(w0, b0, o, images, _numpy_backend),
                 "NumPy backend, SparseImages": lambda o: engine_epoch(w0, b0, o, sparse, _numpy_backend)}
        if kernels.BACKEND == "c":
            impls["C kernels (" + kernels.simd_path() + "), SparseImages"] = \
                lambda o: engine_epoch(w0, b0, o, sparse, None)
        times = {name: [] for name in impls}
        for order in orders:                    # interleaved: drifts in machine load hit all alike
            for name, fn in impls.items():
                times[name].append(fn(order))
        base = statistics.median(times["chapter's NumPy loop"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{dtype:8} {name:32} {med:8.2f} {med / base:9.2f}x")


if __name__ == "__main__":
    main()
