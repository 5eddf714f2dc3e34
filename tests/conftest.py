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


def pytest_report_header(config):
    """Say which SIMD path the native kernels run on in this run."""
    try:
        from native import kernels
        return f"native SIMD path: {kernels.simd_path()}"
    except ImportError as e:
        return f"native SIMD path: unavailable ({e})"


def pytest_sessionstart(session):
    """BACKPROP_EXPECT_PATH=<name> (set by tests/test_simd_paths.py): refuse to run the tests
    on any other SIMD path, so a run meant for one path cannot silently test another."""
    want = os.environ.get("BACKPROP_EXPECT_PATH")
    if want:
        from native import kernels
        got = kernels.simd_path()
        if got != want:
            raise pytest.UsageError(f"BACKPROP_EXPECT_PATH={want}, but the kernels run on {got}")
