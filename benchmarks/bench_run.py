"""The whole default run as a user meets it: wall time from start to exit, and peak memory.

    python benchmarks/bench_run.py                        # `python -m native.train`, 5 runs
    python benchmarks/bench_run.py --trees OLD .          # interleaved with another checkout
    python benchmarks/bench_run.py --repeats 5 -- --sizes 784 1024 10 --epochs 5 \\
        --batch-size 32 --lr 0.8 --decay 0.6               # any trainer arguments after --

Each run is a fresh `python -m native.train --no-progress ARGS` process (start-up, the data
from the cache, the loss before training, the epochs, the test accuracy, exit): its wall time,
its peak resident memory (the kernel's ru_maxrss for the child) and the training seconds the
trainer prints. One untimed run per tree first warms the disk cache and the MNIST cache. With
several trees the runs alternate (ABAB..., then BABA...), so a slow spell of a shared machine
hits all alike; ratios are to the first tree. A tree is a checkout with its C module built in
place (`python build_ffi.py`, or `pip install -e .`).
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time

DONE = re.compile(r"^done: \d+ epochs? in ([0-9.]+) s of training; test accuracy ([0-9.]+)%", re.M)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_measured(tree, args):
    """(wall s, peak RSS MiB, training s, test accuracy %) of one trainer process in `tree`.
    The peak RSS comes from os.wait4: this child's own (RUSAGE_CHILDREN would give the
    maximum over all children so far)."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    cmd = [sys.executable, "-m", "native.train", "--no-progress", *args]
    out_r, out_w = os.pipe()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out_w, stderr=subprocess.STDOUT)
    os.close(out_w)
    chunks = []
    while True:
        b = os.read(out_r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(out_r)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = b"".join(chunks).decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"bench_run.py: {' '.join(cmd)} in {tree} exited with {proc.returncode}: "
                 f"{(out.strip().splitlines() or ['no output'])[-1]}")
    m = DONE.search(out)
    if not m:
        sys.exit(f"bench_run.py: no 'done:' line from {' '.join(cmd)} in {tree}")
    rss_mb = usage.ru_maxrss / (2 ** 20 if sys.platform == "darwin" else 1024)   # bytes / KiB
    return wall, rss_mb, float(m.group(1)), float(m.group(2))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trees", nargs="+", default=["."], help="checkouts to compare (default: this one)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per tree (median reported)")
    p.add_argument("train_args", nargs="*", help="arguments for python -m native.train (after --)")
    a = p.parse_args()
    trees = [os.path.abspath(t) for t in a.trees]
    for t in trees:
        run_measured(t, a.train_args)                   # warm-up, untimed
    res = {t: [] for t in trees}
    for r in range(a.repeats):
        for t in (trees if r % 2 == 0 else trees[::-1]):
            res[t].append(run_measured(t, a.train_args))
    cmd = "python -m native.train" + "".join(" " + x for x in a.train_args)
    print(f"\n## `{cmd}`: whole runs, {a.repeats} per tree, interleaved; {cpu_name()}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| tree | wall s, median (min–max) | × first | peak RSS MiB, median (max) | "
          "training s, median | test accuracy |")
    print("|---|---|---:|---|---:|---|")
    base = statistics.median(w for w, *_ in res[trees[0]])
    for t in trees:
        walls, rss, train, acc = zip(*res[t])
        print(f"| {os.path.relpath(t)} | {statistics.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f}) "
              f"| {statistics.median(walls) / base:.2f} | {statistics.median(rss):.0f} ({max(rss):.0f}) "
              f"| {statistics.median(train):.2f} | {', '.join(sorted({f'{x:.2f} %' for x in acc}))} |")


if __name__ == "__main__":
    main()
