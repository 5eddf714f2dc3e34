"""Shared fixtures: the implementations, in the MiniTorch manner.

A test that takes `impl` runs once per implementation of the chapter's API:
pure (lists), native float64 and native float32. Each carries a converter from
the list-of-rows form (`make`), back to lists (`tolist`), and `rtol`, the
relative tolerance its float type deserves for a claim that is exact in
real arithmetic.
"""
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import pure


@dataclass(frozen=True)
class Impl:
    name: str
    api: Any                      # the module with init_network, forward, ...
    make: Callable                # list of rows -> the implementation's matrix
    tolist: Callable              # the implementation's matrix -> list of rows
    rtol: float
    dtype: Any = None


def _native(dtype, rtol):
    import native
    return Impl(f"native-{np.dtype(dtype).name}", native,
                lambda m: np.array(m, dtype=dtype), lambda a: np.asarray(a).tolist(), rtol, dtype)


IMPLS = {
    "pure": lambda: Impl("pure", pure, lambda m: [list(map(float, r)) for r in m],
                         lambda a: [list(r) for r in a], 1e-12),
    "native-float64": lambda: _native(np.float64, 1e-12),
    "native-float32": lambda: _native(np.float32, 1e-5),
}


@pytest.fixture(params=list(IMPLS))
def impl(request):
    return IMPLS[request.param]()


@pytest.fixture(params=["native-float64", "native-float32"])
def native_impl(request):
    return IMPLS[request.param]()


def max_rel(a, b):
    """Tensor-relative difference max|a − b| / max|b| of two list-of-rows or array values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max() if b.size else 0.0
    diff = np.abs(a - b).max() if b.size else 0.0
    return diff / scale if scale > 0 else diff


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST (from the cache, or fetched through the usual sources).

    Skipped when no source answers, unless BACKPROP_REQUIRE_REGISTRY=1 (as in
    CI), where that is a failure.
    """
    import os
    from native import data
    try:
        return data.load("mnist", progress=False)
    except data.DataError as e:
        if os.environ.get("BACKPROP_REQUIRE_REGISTRY") == "1":
            raise
        pytest.skip(f"MNIST is not available here: {e}")


# Claims about the C kernels alone, skipped on the NumPy backend (native.kernels.BACKEND ==
# "numpy"), which runs every other native test. They prove what the C engine's thread split
# and sparse regrouping rely on (bit-identical slices of one product, C pointers into the
# middle of an array) or how the C build is chosen and checked. The NumPy backend computes
# each product once, with NumPy's BLAS, and has no build to check.
C_ONLY = {
    "tests/test_kernels.py::test_any_slice_of_a_small_product_has_the_bits_of_the_whole":
        "calls the C kernel through pointers into the middle of arrays",
    "tests/test_kernels.py::test_random_shapes_match_numpy_and_their_slices_keep_the_bits":
        "bit-identical slices are the C engine's thread split; NumPy's BLAS blocks by shape "
        "(tests/test_numpy_backend.py checks the random shapes within tolerance)",
    "tests/test_kernels.py::test_simd_path_is_the_best_the_cpu_offers": "the C build's SIMD choice",
    "tests/test_kernels.py::test_forced_generic_path_reports_generic_and_matches_numpy":
        "the C build's portable path",
    "tests/test_kernels.py::test_avx2_path_without_avx512_reports_avx2_and_matches_numpy":
        "the C build's AVX2 path",
    "tests/test_kernels.py::test_import_refuses_a_build_older_than_its_c_sources":
        "needs a C build (tests/test_numpy_backend.py checks the stale-build error)",
    "tests/test_sparse.py::test_any_column_split_gives_the_same_bits":
        "calls the C kernel through pointers into the middle of arrays",
    "tests/test_sparse.py::test_the_update_of_a_large_batch_has_the_bits_of_one_row_at_a_time":
        "the C kernel's regrouping by pixel; NumPy's BLAS sums a batch in its own order",
    "tests/test_sparse.py::test_a_sparse_epoch_has_the_bits_of_its_kernels_called_one_by_one":
        "the C epoch loop's copy of W₀ and its fused update + next forward; the NumPy backend's "
        "epoch multiplies each batch densely (the epoch-equals-dense test covers it)",
    "tests/test_startup.py::test_a_training_run_leaves_numpys_blas_threads_asleep":
        "on the NumPy backend NumPy's BLAS is what trains (the commands give it one thread: "
        "tests/test_numpy_backend.py)",
}


def _backend():
    try:
        from native import kernels
        return kernels.BACKEND
    except ImportError:
        return None


def pytest_collection_modifyitems(config, items):
    """Skip C_ONLY tests on the NumPy backend, saying why (tests/test_numpy_backend.py checks
    that every entry still names a test)."""
    if _backend() != "numpy":
        return
    for item in items:
        key = item.nodeid.split("[")[0]
        if key in C_ONLY:
            item.add_marker(pytest.mark.skip(reason=f"C kernels only: {C_ONLY[key]}"))


def pytest_report_header(config):
    """Say which SIMD path (or the NumPy backend) the native kernels run on in this run."""
    try:
        from native import kernels
        return f"native SIMD path: {kernels.simd_path()}"
    except ImportError as e:
        return f"native SIMD path: unavailable ({e})"


def pytest_sessionstart(session):
    """BACKPROP_EXPECT_PATH=<name> (set by tests/test_simd_paths.py): refuse to run the tests
    on any other SIMD path, so a run meant for one path cannot silently test another.
    "numpy" matches the NumPy backend, whatever its reason ("numpy (...)")."""
    want = os.environ.get("BACKPROP_EXPECT_PATH")
    if want:
        from native import kernels
        got = kernels.simd_path()
        if got.split(" (")[0] != want:
            raise pytest.UsageError(f"BACKPROP_EXPECT_PATH={want}, but the kernels run on {got}")
