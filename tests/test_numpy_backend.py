"""The NumPy backend (native/_numpy_backend.py, _numpy_epoch.py) and how the backend is chosen.

The shared native tests run on the NumPy backend too (tests/test_simd_paths.py,
BACKPROP_NUMPY_ONLY=1); these add what only makes sense here: the NumPy backend's
kernels and whole epoch against the C ones in one process, the few C-only claims
tests/conftest.py skips on it still naming tests, and the import rules — no extension:
the NumPy backend, saying why; a stale or foreign extension: a one-line error.
"""
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from native import _numpy_backend as nb, engine as engine_mod, kernels as kern

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_c = pytest.mark.skipif(kern.BACKEND != "c", reason="no C extension in this install to compare with")


def test_every_c_only_entry_of_conftest_names_an_existing_test():
    from conftest import C_ONLY
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    for key in C_ONLY:
        path, name = key.split("::")
        module = importlib.import_module(os.path.basename(path)[:-3])
        assert callable(getattr(module, name, None)), f"conftest C_ONLY: {key} does not exist"


@pytest.mark.parametrize("seed", range(3))
def test_numpy_matmul_matches_float64_on_random_shapes_and_transposes(seed):
    """What test_random_shapes_match_numpy_and_their_slices_keep_the_bits checks within
    tolerance (its bit-identical slices are a C claim), on the NumPy backend's kernel."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        dt = (np.float64, np.float32)[int(rng.integers(2))]
        M, N, K = (int(x) for x in rng.integers(1, 90, 3))
        ta, tb, with_bias, acc = (bool(x) for x in rng.integers(0, 2, 4))
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(dt)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(dt)
        bias = rng.standard_normal((1, N)).astype(dt) if with_bias else None
        out = rng.standard_normal((M, N)).astype(dt)
        old = out.copy()
        assert nb.lib.bp_matmul_f64(M, N, K, a, a.shape[1], ta, b, b.shape[1], tb, bias, out, N, acc) == 0
        opa, opb = (a.T if ta else a).astype(float), (b.T if tb else b).astype(float)
        ref = opa @ opb + (0 if bias is None else bias) + (old if acc else 0)
        scale = np.abs(opa) @ np.abs(opb) + (0 if bias is None else np.abs(bias)) + np.abs(old) + 1
        tol = 1e-12 if dt == np.float64 else 1e-5
        assert (np.abs(out - ref) / scale).max() <= tol, (dt, M, N, K, ta, tb, with_bias, acc)


def test_numpy_relu_backward_closes_the_gate_at_zero_and_keeps_nan():
    z = np.array([-1.0, -0.0, 0.0, 1e-300, np.nan, 2.0])
    d = np.full(6, 3.0)
    assert nb.lib.bp_relu_backward_f64(6, d, z) == 0
    assert d[:4].tolist() == [0.0, 0.0, 0.0, 3.0] and d[5] == 3.0 and d[4] == 0.0   # NaN > 0 is false


def test_numpy_backend_refuses_what_the_c_kernels_refuse():
    """Status 1 (BP_EINVAL) for labels and indices out of range and damaged sparse sets."""
    z = np.zeros((2, 3))
    assert nb.lib.bp_softmax_xent_delta_f64(2, 3, z, np.array([0, 3], np.int32), None, np.empty((2, 3)),
                                            np.zeros(1)) == 1
    img = np.zeros((4, 5), np.uint8)
    assert nb.lib.bp_gather_scale_f64(1, 5, img, 4, np.array([4]), 1.0, np.empty((1, 5))) == 1
    rs, col = np.array([0, 2, 3]), np.array([1, 3, 0], np.uint16)    # image 1 starts over at 0
    assert nb.lib.bp_sparse_valid(2, 5, rs, col, 3) == 1
    assert nb.lib.bp_sparse_valid(2, 5, rs, np.array([1, 3, 7], np.uint16), 3) == 0     # col >= D
    assert nb.lib.bp_sparse_valid(2, 5, rs, np.array([1, 1, 0], np.uint16), 3) == 0     # repeated pixel
    assert nb.lib.bp_sparse_valid(2, 5, np.array([0, 3, 2]), col, 3) == 0                 # row starts fall


def _with_backend(monkeypatch, backend):
    """Make the Engine (and the SparseImages it is handed) call `backend`'s ffi and lib."""
    monkeypatch.setattr(engine_mod, "ffi", backend.ffi)
    monkeypatch.setattr(engine_mod, "lib", backend.lib)
    monkeypatch.setattr(kern, "_from_buffer", backend.ffi.from_buffer)


@needs_c
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("sparse", [False, True])
def test_numpy_epoch_and_prediction_match_the_c_engine(monkeypatch, dtype, tol, sparse):
    """One epoch of 300 random 784-pixel images (batch 64: four full batches and one of 44),
    784→64→32→10: the same batch losses and weights as the C engine within rounding, and
    the same predictions."""
    from native import init_network
    rng = np.random.default_rng(7)
    images = ((rng.random((300, 784)) < 0.2) * rng.integers(1, 256, (300, 784))).astype(np.uint8)
    labels = rng.integers(0, 10, 300)
    order = rng.permutation(300)
    w0, b0 = init_network([784, 64, 32, 10], seed=3, dtype=dtype)
    results = {}
    for name in ("c", "numpy"):
        if name == "numpy":
            _with_backend(monkeypatch, nb)
        imgs = kern.SparseImages(images) if sparse else images
        w, b = [a.copy() for a in w0], [a.copy() for a in b0]
        eng = engine_mod.Engine(w, b, batch_size=64)
        losses = np.empty(5)
        mean = eng.train_epoch(imgs, labels, order, 0.1, batch_losses=losses)
        results[name] = (mean, losses, w, b, eng.predict(imgs))
    (mc, lc, wc, bc, pc), (mn, ln, wn, bn, pn) = results["c"], results["numpy"]
    assert abs(mc - mn) <= tol * abs(mc) and np.allclose(ln, lc, rtol=tol, atol=0)
    for x, y in zip(wc + bc, wn + bn):
        assert np.abs(x - y).max() <= tol * max(1.0, np.abs(x).max())
    assert (pc != pn).sum() <= (0 if dtype == np.float64 else 3)
    assert not np.array_equal(wc[0], w0[0])        # the epoch did train


def test_numpy_sparse_epoch_equals_its_dense_epoch_bit_for_bit(monkeypatch):
    """The NumPy backend gathers a sparse set's batches from its images rebuilt once:
    the same numbers as the dense path, so the same bits."""
    from native import init_network
    _with_backend(monkeypatch, nb)
    rng = np.random.default_rng(8)
    images = ((rng.random((150, 784)) < 0.2) * rng.integers(1, 256, (150, 784))).astype(np.uint8)
    labels, order = rng.integers(0, 10, 150), rng.permutation(150)
    out = []
    for imgs in (images, kern.SparseImages(images)):
        w, b = init_network([784, 16, 10], seed=1, dtype=np.float32)
        loss = engine_mod.Engine(w, b, batch_size=32).train_epoch(imgs, labels, order, 0.1)
        out.append((loss, w[0].tobytes(), b[1].tobytes()))
    assert out[0] == out[1]


def _copy_package(tmp_path, with_extension):
    """A copy of the package in use (the source tree's, or an installed wheel's)."""
    import native
    shutil.copytree(os.path.dirname(native.__file__), tmp_path / "native",
                    ignore=shutil.ignore_patterns("__pycache__", *(() if with_extension else ("_kernels*",))))
    return tmp_path


# An editable install's import finder would find native._kernels in the source tree when
# the copy has none; drop it, then run the code or the module (`-m`, as a user would).
_PRELUDE = ("import sys, runpy; sys.meta_path[:] = [f for f in sys.meta_path "
            "if not getattr(f, '__module__', '').startswith('__editable__')]; ")


def _run(tmp_path, *args, **env):
    """python -c CODE, or python -m MODULE ARGS, on the copy in tmp_path."""
    if args[0] == "-m":
        code = _PRELUDE + f"sys.argv = ['-m'] + {list(args[2:])!r}; runpy.run_module({args[1]!r}, " \
                          "run_name='__main__', alter_sys=True)"
    else:
        code = _PRELUDE + args[1]
    full = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_") and k != "PYTHONPATH"}
    full.update(env, PYTHONPATH=str(tmp_path))
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=full, capture_output=True,
                          text=True, timeout=300)


def test_without_the_c_extension_native_runs_on_numpy_and_says_why(tmp_path):
    _copy_package(tmp_path, with_extension=False)
    r = _run(tmp_path, "-c", "import native, native.kernels as k; print(native.__file__); print(k.simd_path())")
    assert r.returncode == 0, r.stderr
    where, path = r.stdout.splitlines()
    assert where.startswith(str(tmp_path))
    assert path == "numpy (no C extension: it was not built; docs/platforms.md says how)"


def test_numpy_only_variable_chooses_numpy_even_beside_a_built_extension():
    r = subprocess.run([sys.executable, "-c", "import native.kernels as k; print(k.BACKEND, k.simd_path())"],
                       cwd=ROOT, env={**os.environ, "BACKPROP_NUMPY_ONLY": "1"}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy numpy (BACKPROP_NUMPY_ONLY=1)"


@needs_c
def test_a_stale_c_build_is_a_one_line_error_from_the_commands_never_a_fallback(tmp_path):
    _copy_package(tmp_path, with_extension=True)
    with open(tmp_path / "native" / "csrc" / "kernels.h", "a") as f:
        f.write("/* an edit */\n")
    for cmd in (["-m", "native.train", "--epochs", "1"], ["-m", "native.gradcheck"]):
        r = _run(tmp_path, *cmd)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith("error: native._kernels is out of date (changed or new since the last "
                                   "build: kernels.h): run `python -m pip install -e .`")
        assert "BACKPROP_NUMPY_ONLY=1" in r.stderr
    # as a library: an ImportError (KernelBuildError), not the NumPy backend
    r = _run(tmp_path, "-c", "import native")
    assert r.returncode == 1 and "KernelBuildError" in r.stderr


def test_an_extension_this_python_cannot_load_is_an_error_not_a_fallback(tmp_path):
    _copy_package(tmp_path, with_extension=False)
    (tmp_path / "native" / "_kernels.cpython-39-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    r = _run(tmp_path, "-m", "native.gradcheck")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "native/_kernels.cpython-39-x86_64-linux-gnu.so is not a module this Python can load" in r.stderr


@pytest.mark.parametrize("env,expected", [({"BACKPROP_NUMPY_ONLY": "1"}, "1"),
                                          ({"BACKPROP_NUMPY_ONLY": "1", "OPENBLAS_NUM_THREADS": "3"}, "3"),
                                          ({}, "1" if importlib.util.find_spec("native._kernels") is None
                                           else "unset")])
def test_commands_on_the_numpy_backend_run_blas_on_one_thread_unless_told(env, expected):
    """`python -m native.…` (argv[0] is "-m" while the package loads) on the NumPy backend sets
    one BLAS thread before NumPy loads; the user's own setting and the C backend are left alone."""
    code = ("import os, sys; sys.argv = ['-m']; import native; "
            "print(os.environ.get('OPENBLAS_NUM_THREADS', 'unset'))")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("BACKPROP_") and k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                           "MKL_NUM_THREADS")}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected
