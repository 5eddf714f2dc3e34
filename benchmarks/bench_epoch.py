"""One MNIST training epoch (784→64→32→10, batch 64): native vs the chapter's NumPy vs PyTorch.

Every implementation trains from the same initial weights on the same sample
order, in one process, runs interleaved (native, numpy, torch, native, …),
and the table reports the median of --repeats runs. Thread settings are the
same for all: OpenBLAS, OpenMP and PyTorch are all limited to --threads.
The native engine runs twice: with the dense first layer (the same GEMMs as
the others) and with the sparse one the trainer uses on MNIST (SparseImages,
built once before the timing; its build time is printed below the table).

    python benchmarks/bench_epoch.py                 # 1 and 2 threads, float32 and float64
    python benchmarks/bench_epoch.py --threads 2 --dtypes float32 --repeats 7

With several --threads values, each runs in its own child process (thread
pools are fixed at import time).

Builds side by side (e.g. the GCC build against a clang build of the same tree, or
the portable path against AVX2): --builds takes source trees, each built in place
(`python build_ffi.py` there), optionally with environment settings after a colon;
child processes alternate between them (A, B, A, B, ...), each timing --per-child
native epochs, and the table gives medians and the ratio to the first build:

    python benchmarks/bench_epoch.py --builds /tmp/gcc /tmp/clang --threads 1 --dtypes float32
    python benchmarks/bench_epoch.py --builds .:BACKPROP_NO_AVX512=1 /tmp/v3:BACKPROP_FORCE_GENERIC=1 If OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are
set on your machine, run it as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE …`.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time



def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_epoch.py",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to measure")
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=5, help="epochs timed per implementation (median reported)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 64, 32, 10])
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--pure-samples", type=int, default=256,
                   help="samples for the pure-Python engine's samples/s (0 skips it)")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (else the usual sources)")
    p.add_argument("--builds", nargs="+", metavar="TREE[:VAR=VALUE,...]",
                   help="compare the native epochs of these built source trees (see above)")
    p.add_argument("--per-child", type=int, default=2, help="with --builds: epochs timed per child process")
    p.add_argument("--child", help=argparse.SUPPRESS)   # internal: one --builds child process
    return p.parse_args(argv)


def epoch_gflop(sizes, n):
    """FLOPs of one epoch: forward Aₗ·Wₗ, weight gradients Aₗᵀ·δₗ, and δ·Wₗᵀ for l ≥ 1."""
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    back = sum(a * b for a, b in zip(sizes[1:-1], sizes[2:]))
    return 2.0 * n * (2 * macs + back) / 1e9


def large_gemm_rate(np, dtype, seconds=1.0):
    """GFLOP/s of NumPy's BLAS on a 1024³ product: this machine's practical peak
    at the current thread setting, measured in the same process (the best of several
    probes is reported)."""
    a = np.random.default_rng(0).random((1024, 1024)).astype(dtype)
    a @ a
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ a
        n += 1
    return 2 * 1024 ** 3 * n / (time.perf_counter() - t) / 1e9


def run_one_thread_count(args, threads):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, os.path.dirname(here)]  # chapter_numpy, and native from a clone not installed
    import numpy as np
    import chapter_numpy
    from native import data, init_network
    from native.engine import Engine
    from native.kernels import SparseImages, simd_path

    ds = data.load("mnist", args.data_dir, progress=False)
    images, labels = ds.train_images, ds.train_labels
    n = len(images)
    rng = np.random.default_rng(0)
    orders = [rng.permutation(n) for _ in range(args.repeats)]
    gflop = epoch_gflop(args.sizes, n)
    t = time.perf_counter()
    sparse_images = SparseImages(images)
    sparse_build = time.perf_counter() - t

    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass

    rows, peaks = [], {}
    for dtype in args.dtypes:
        peaks[dtype] = large_gemm_rate(np, dtype)
        w0, b0 = init_network(args.sizes, seed=0, dtype=dtype)
        X = (images / np.array(255.0, dtype)).astype(dtype)           # the chapter scales once, up front
        Y = np.eye(args.sizes[-1], dtype=dtype)[labels]
        impls = {}

        def native_epoch(order, imgs):
            w, b = [a.copy() for a in w0], [a.copy() for a in b0]
            eng = Engine(w, b, batch_size=args.batch_size, threads=threads)
            t = time.perf_counter()
            eng.train_epoch(imgs, labels, order, 0.1)
            return time.perf_counter() - t
        impls["native dense"] = lambda order: native_epoch(order, images)
        impls["native sparse"] = lambda order: native_epoch(order, sparse_images)

        def numpy_epoch(order):
            w, b = [a.copy() for a in w0], [a.copy() for a in b0]
            t = time.perf_counter()
            chapter_numpy.train_epoch(X, Y, w, b, order, 0.1, args.batch_size)
            return time.perf_counter() - t
        impls["chapter numpy"] = numpy_epoch

        if torch is not None:
            tdtype = getattr(torch, dtype)
            Xt, yt = torch.from_numpy(X), torch.from_numpy(labels.astype(np.int64))

            def torch_epoch(order):
                layers = []
                for i, (w, b) in enumerate(zip(w0, b0)):
                    lin = torch.nn.Linear(w.shape[0], w.shape[1], dtype=tdtype)
                    with torch.no_grad():
                        lin.weight.copy_(torch.from_numpy(w.T.copy()))
                        lin.bias.copy_(torch.from_numpy(b[0]))
                    layers += [lin] + ([torch.nn.ReLU()] if i < len(w0) - 1 else [])
                model = torch.nn.Sequential(*layers)
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                idx = torch.from_numpy(order)
                t = time.perf_counter()
                for start in range(0, n, args.batch_size):
                    bi = idx[start:start + args.batch_size]
                    loss = torch.nn.functional.cross_entropy(model(Xt[bi]), yt[bi])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                return time.perf_counter() - t
            impls["pytorch"] = torch_epoch

        times = {k: [] for k in impls}
        for name, fn in impls.items():      # one untimed warm-up each
            fn(orders[0][: 4096])
        for r in range(args.repeats):       # interleaved
            for name, fn in impls.items():
                times[name].append(fn(orders[r]))
            # the peak is probed between repeats too, and the best probe kept: one probe in a
            # slow spell of a shared machine would put the epochs above "100 % of peak"
            peaks[dtype] = max(peaks[dtype], large_gemm_rate(np, dtype, seconds=0.2))
        base = statistics.median(times["chapter numpy"])
        for name, ts in times.items():
            med = statistics.median(ts)
            rate = gflop / med
            rows.append((threads, dtype, name, med, med / base, rate, rate / peaks[dtype]))

    print(f"\n## {threads} thread{'s' * (threads > 1)}: one epoch of {n:,} samples, "
          f"{'→'.join(map(str, args.sizes))}, batch {args.batch_size}, {epoch_gflop(args.sizes, n):.2f} GFLOP; "
          f"native path {simd_path()}; numpy {np.__version__}"
          + (f"; torch {torch.__version__}" if torch is not None else "; PyTorch not installed (skipped)")
          + f"; median of {args.repeats}; practical peak = NumPy's 1024³ GEMM here: "
          + ", ".join(f"{d} {p:.0f} GFLOP/s" for d, p in peaks.items()) + "\n")
    print("| threads | dtype | implementation | seconds | × chapter numpy | GFLOP/s | of practical peak |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for t, dtype, name, med, ratio, rate, frac in rows:
        if name == "native sparse":     # no arithmetic rate: it skips most of the FLOPs
            print(f"| {t} | {dtype} | {name} | {med:.3f} | {ratio:.2f} | ({rate:.0f}) | — |")
        else:
            print(f"| {t} | {dtype} | {name} | {med:.3f} | {ratio:.2f} | {rate:.1f} | {100 * frac:.0f}% |")
    print(f"\nGFLOP/s counts the dense products' {gflop:.2f} GFLOP for every implementation; native "
          f"sparse skips the {100 * (1 - sparse_images.density):.0f} % zero pixels, so its figure "
          f"(in brackets) is an equivalent rate, not arithmetic done. SparseImages of the {n:,} training images: "
          f"built in {sparse_build:.2f} s, {sparse_images.nbytes / 1e6:.0f} MB.")

    if args.pure_samples:
        import pure
        k = args.pure_samples
        w, b = init_network(args.sizes, seed=0, dtype="float64")
        w, b = [a.tolist() for a in w], [a.tolist() for a in b]
        Xp = (images[:k] / 255.0).tolist()
        Yp = np.eye(args.sizes[-1])[labels[:k]].tolist()
        t = time.perf_counter()
        pure.train(Xp, Yp, w, b, epochs=1, batch_size=args.batch_size, lr=0.1)
        pure_rate = k / (time.perf_counter() - t)
        # against the trainer's default engine: native sparse float32 (else what was measured)
        fast = min(rows, key=lambda r: (r[2] != "native sparse", r[1] != "float32"))
        native_rate = n / fast[3]
        print(f"\npure Python engine: {pure_rate:,.0f} samples/s ({k} samples, float64); "
              f"native ({fast[1]}, {threads} thread{'s' * (threads > 1)}): {native_rate:,.0f} samples/s "
              f"— {native_rate / pure_rate:,.0f}× faster")


def builds_child(args, tree):
    """One child of --builds: time --per-child native epochs of `tree` per (dtype, first
    layer), after an untimed warm-up; print them as one JSON line."""
    import json
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads[0])
    sys.path.insert(0, os.path.abspath(tree))
    import numpy as np
    from native import data, init_network
    from native.engine import Engine
    from native.kernels import SparseImages, simd_path
    ds = data.load("mnist", args.data_dir, progress=False)
    images, labels = ds.train_images, ds.train_labels
    sparse = SparseImages(images)
    rng = np.random.default_rng(len(sys.argv))
    out = {"path": simd_path(), "times": {}}
    for dtype in args.dtypes:
        w0, b0 = init_network(args.sizes, seed=0, dtype=dtype)
        for name, imgs in (("dense", images), ("sparse", sparse)):
            ts = []
            for r in range(args.per_child + 1):
                order = rng.permutation(len(images))[: 4096 if r == 0 else None]
                w, b = [a.copy() for a in w0], [a.copy() for a in b0]
                eng = Engine(w, b, batch_size=args.batch_size, threads=args.threads[0])
                t = time.perf_counter()
                eng.train_epoch(imgs, labels, order, 0.1)
                if r:
                    ts.append(time.perf_counter() - t)
            out["times"][f"{dtype} {name}"] = ts
    print("EPOCHS " + json.dumps(out))


def compare_builds(args):
    """--builds: children alternate between the trees; medians and ratios to the first."""
    import json
    specs = []
    for spec in args.builds:
        tree, _, env = spec.partition(":")
        specs.append((spec, tree, dict(kv.split("=", 1) for kv in env.split(",") if kv)))
    times, paths = {spec: {} for spec, _, _ in specs}, {}
    for r in range(args.repeats):
        for spec, tree, env in (specs if r % 2 == 0 else specs[::-1]):
            child_env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
            child_env.update(env)
            cmd = [sys.executable, os.path.abspath(__file__), "--child", tree, "--threads", str(args.threads[0]),
                   "--per-child", str(args.per_child), "--batch-size", str(args.batch_size),
                   "--dtypes", *args.dtypes, "--sizes", *map(str, args.sizes)]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            res = subprocess.run(cmd, env=child_env, capture_output=True, text=True, check=True)
            line = [ln for ln in res.stdout.splitlines() if ln.startswith("EPOCHS ")][-1]
            got = json.loads(line[len("EPOCHS "):])
            paths[spec] = got["path"]
            for k, ts in got["times"].items():
                times[spec].setdefault(k, []).extend(ts)
    base = specs[0][0]
    print(f"\n## native epochs of {len(specs)} builds, {args.threads[0]} thread(s), batch {args.batch_size}, "
          f"{args.repeats} alternating children x {args.per_child} epochs each; medians\n")
    print("| build | path | epoch | seconds | × first build |")
    print("|---|---|---|---:|---:|")
    for spec, _, _ in specs:
        for k, ts in times[spec].items():
            med = statistics.median(ts)
            print(f"| {spec} | {paths[spec]} | {k} | {med:.3f} | {med / statistics.median(times[base][k]):.2f} |")


def main():
    args = parse_args()
    if args.child:
        builds_child(args, args.child)
        return
    if args.builds:
        if len(args.threads) != 1:
            sys.exit("bench_epoch.py: --builds takes a single --threads value")
        compare_builds(args)
        return
    if len(args.threads) == 1:
        run_one_thread_count(args, args.threads[0])
        return
    for t in args.threads:   # a fresh process per thread count: BLAS pools are fixed at import
        argv = [a for a in sys.argv[1:]]
        if "--threads" in argv:
            i = argv.index("--threads")
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                j += 1
            del argv[i:j]
        subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(t)] + argv, check=True)


if __name__ == "__main__":
    main()
