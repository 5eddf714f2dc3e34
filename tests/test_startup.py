"""What the trainer does around its epochs: the loss before training and its threads.

Claims: the starting loss goes through the project's kernels in chunks, in the run's
dtype — the same number as the chapter's float64 forward pass, without a float64 copy
of the images; and a whole run never calls into NumPy's BLAS, so its worker threads
(started when NumPy is imported) stay asleep instead of spinning beside training.
"""
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import native
from native.trainer import initial_loss


def images_and_net(dtype, n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    images = ((rng.random((n, 784)) < 0.2) * rng.integers(1, 256, (n, 784))).astype(np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    W, B = native.init_network([784, 64, 32, 10], seed=seed, dtype=dtype)
    return images, labels, W, B


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_initial_loss_equals_the_float64_forward_pass(dtype, tol):
    images, labels, W, B = images_and_net(dtype, n=3000)
    loss, n = initial_loss(W, B, images, labels, chunk=256)     # 11 full chunks and a partial one
    X = images.astype(np.float64) / 255
    acts, _ = native.forward(X, [w.astype(np.float64) for w in W], [b.astype(np.float64) for b in B])
    ref = native.cross_entropy(acts[-1], np.eye(10)[labels])
    assert n == 3000 and abs(loss - ref) <= tol * ref


def test_initial_loss_makes_no_float64_copy_of_the_images():
    """10,000 images as float64 are 63 MB (what the loss before training once cost the
    default run's peak memory); in chunks of 256 rows in float32 it needs under 2 MB."""
    images, labels, W, B = images_and_net(np.float32)
    tracemalloc.start()
    try:
        initial_loss(W, B, images, labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2 ** 20, f"{peak / 2 ** 20:.1f} MB"


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task"), reason="needs Linux /proc")
def test_a_training_run_leaves_numpys_blas_threads_asleep(mnist):
    """CPU time of every thread but the main one, from after `import native.trainer` to
    the end of a run (loss before training, an epoch, the test accuracy): zero."""
    script = (
        "import os, sys, time\n"
        "import native.trainer as t\n"
        "def others():\n"
        "    me = os.getpid()\n"
        "    return {k: int(open(f'/proc/self/task/{k}/schedstat').read().split()[0])\n"
        "            for k in os.listdir('/proc/self/task') if int(k) != me}\n"
        "time.sleep(0.5)\n"     # NumPy's import starts OpenBLAS' workers, which spin a while
        "before = others()\n"
        "assert t.main(['--no-progress', '--epochs', '1', '--limit', '10000']) == 0\n"
        "after = others()\n"
        "print('SPUN', sum(after[k] - before.get(k, 0) for k in after), len(after))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    r = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    spun_ns, n_threads = map(int, r.stdout.split("SPUN")[1].split())
    assert spun_ns == 0, f"{n_threads} other threads ran {spun_ns / 1e6:.1f} ms during the run"
