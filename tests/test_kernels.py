"""The C kernels of native.kernels against NumPy, on both SIMD paths, and their argument checks.

Tolerances, relative to the magnitude of the result (for matmul: to |op(a)| @ |op(b)|
+ |bias| + |old out|, the scale of the rounding error of any summation order):
float64 1e-12, float32 1e-5.  References are computed in float64.
"""
import os
import subprocess
import sys
import textwrap

import re

import numpy as np
import pytest

from native import kernels as kern
from native.kernels import ffi, lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = [np.float64, np.float32]
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def assert_close(got, ref, scale, dtype, what=""):
    """max |got - ref| / scale <= the dtype's tolerance (prints the largest difference)."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    if got.size == 0:
        return
    err = np.max(np.abs(got - ref) / np.maximum(scale, np.finfo(np.float64).tiny))
    tol = RTOL[np.dtype(dtype)]
    assert err <= tol, f"{what}: largest relative difference {err:.3g} > {tol:g}"


# ---------------------------------------------------------------------------
# matmul

MATMUL_SHAPES = [  # (M, N, K)
    (1, 1, 1), (1, 13, 7), (9, 1, 5), (7, 13, 1), (7, 13, 5), (65, 33, 785), (64, 64, 784),
    (784, 64, 64), (6, 16, 256), (13, 17, 300), (64, 10, 32),
    # the small-product kernels (K <= 128, no packing) and their edges: one vector a row
    # (N <= 16 floats / 8 doubles), two, four (full and with a partial last vector);
    # 16/8/6-row strips with remainders; Aᵀ with N <= 12 (whole and partial row blocks)
    (32, 10, 64), (33, 12, 64), (17, 13, 128), (64, 32, 64), (9, 40, 100), (100, 64, 3), (5, 65, 128),
    (23, 27, 64), (13, 50, 96), (41, 7, 64), (16, 11, 128),
]


def matmul_case(rng, dtype, M, N, K, trans_a, trans_b, with_bias, accumulate):
    a = rand(rng, (K, M) if trans_a else (M, K), dtype)
    b = rand(rng, (N, K) if trans_b else (K, N), dtype)
    bias = rand(rng, (1, N), dtype) if with_bias else None
    out = rand(rng, (M, N), dtype) if accumulate else None
    opa = (a.T if trans_a else a).astype(np.float64)
    opb = (b.T if trans_b else b).astype(np.float64)
    ref = opa @ opb
    scale = np.abs(opa) @ np.abs(opb)
    for extra in (bias, out):
        if extra is not None:
            ref = ref + extra.astype(np.float64)
            scale = scale + np.abs(extra.astype(np.float64))
    got = kern.matmul(a, b, out, trans_a=trans_a, trans_b=trans_b, bias=bias, accumulate=accumulate)
    return got, ref, scale + 1.0


# ---------------------------------------------------------------------------
# Guard values: no kernel writes outside its output. A vector store one lane too wide
# (a mask off by one at a right edge) lands in the canaries after the last row; checked
# bit for bit, on whatever path this run is on (tests/test_simd_paths.py runs every one).
# First in this file: a test that writes past an ordinary array could corrupt the heap and
# abort the run before these could say what went wrong.

GUARD = 16


def guarded(shape, dtype, rng=None):
    """(buffer, view): a C-contiguous array of `shape` inside a buffer with GUARD canaries
    (a NaN payload no kernel computes) on either side; random values if rng is given."""
    n = int(np.prod(shape))
    buf = np.empty(n + 2 * GUARD, dtype)
    buf.view(np.uint8)[:] = 0xA5
    view = buf[GUARD:GUARD + n].reshape(shape)
    if rng is not None:
        view[...] = rand(rng, shape, dtype)
    return buf, view


def canaries_intact(buf):
    raw = buf.view(np.uint8)
    g = GUARD * buf.itemsize
    return bool(np.all(raw[:g] == 0xA5) and np.all(raw[-g:] == 0xA5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", MATMUL_SHAPES + [(3, n, 70) for n in range(1, 70, 3)] + [(6, 129, 130)])
def test_matmul_writes_nothing_outside_its_output(dtype, M, N, K):
    rng = np.random.default_rng(M * 10007 + N * 101 + K)
    for trans_a in (False, True):
        for trans_b in (False, True):
            for accumulate in (False, True):
                a = rand(rng, (K, M) if trans_a else (M, K), dtype)
                b = rand(rng, (N, K) if trans_b else (K, N), dtype)
                bias = rand(rng, (1, N), dtype)
                buf, out = guarded((M, N), dtype, rng)
                old = out.copy()
                kern.matmul(a, b, out, trans_a=trans_a, trans_b=trans_b, bias=bias, accumulate=accumulate)
                assert canaries_intact(buf), (M, N, K, trans_a, trans_b, accumulate)
                opa, opb = (a.T if trans_a else a), (b.T if trans_b else b)
                ref = opa.astype(float) @ opb.astype(float) + bias + (old if accumulate else 0)
                scale = np.abs(opa).astype(float) @ np.abs(opb).astype(float) + np.abs(bias) + np.abs(old) + 1
                assert_close(out, ref, scale, dtype, f"{M}x{N}x{K} {trans_a} {trans_b} {accumulate}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N", [1, 2, 3, 7, 8, 9, 10, 15, 16, 17, 31, 33, 63, 64, 65, 100])
def test_every_other_kernel_writes_nothing_outside_its_output(dtype, N):
    rng = np.random.default_rng(N)
    M = 5
    z = rand(rng, (M, N), dtype)
    for fn in (kern.relu, kern.softmax):
        buf, out = guarded((M, N), dtype)
        fn(z, out)
        assert canaries_intact(buf), fn.__name__
    buf, d = guarded((M, N), dtype, rng)
    kern.relu_backward(d, z)
    assert canaries_intact(buf), "relu_backward"
    buf, p = guarded((M, N), dtype, rng)
    kern.sgd_update(p, z, 0.1)
    assert canaries_intact(buf), "sgd_update"
    buf, out = guarded((1, N), dtype)
    kern.column_sum(z, out)
    assert canaries_intact(buf), "column_sum"
    probs = np_softmax(z).astype(dtype)
    y = np.eye(N, dtype=dtype)[rng.integers(0, N, M)]
    buf, out = guarded((M, N), dtype)
    kern.output_delta(probs, y, out)
    assert canaries_intact(buf), "output_delta"
    bufd, delta = guarded((M, N), dtype)
    bufp, pr = guarded((M, N), dtype)
    kern.softmax_xent_delta(z, rng.integers(0, N, M), delta=delta, probs=pr)
    assert canaries_intact(bufd) and canaries_intact(bufp), "softmax_xent_delta"
    images = ((rng.random((9, 3 * N)) < 0.3) * rng.integers(1, 256, (9, 3 * N))).astype(np.uint8)
    buf, out = guarded((4, 3 * N), dtype)
    kern.gather_scale(images, np.array([8, 0, 3, 3]), 0.5, out, dtype=dtype)
    assert canaries_intact(buf), "gather_scale"
    sp, idx = kern.SparseImages(images), np.array([1, 8, 0, 5, 5, 2])
    w, bias = rand(rng, (3 * N, N), dtype), rand(rng, (1, N), dtype)
    buf, out = guarded((6, N), dtype)
    kern.sparse_matmul(sp, w, idx, 0.25, bias=bias, out=out)
    assert canaries_intact(buf), "sparse_matmul"
    x = images[idx].astype(np.float64) * 0.25
    assert_close(out, x @ w + bias, x @ np.abs(w) + np.abs(bias) + 1, dtype, "sparse_matmul")
    buf, w2 = guarded((3 * N, N), dtype, rng)
    d = rand(rng, (6, N), dtype)
    want = w2.astype(np.float64) + x.T @ d
    kern.sparse_matmul_t_acc(sp, d, w2, idx, 0.25)
    assert canaries_intact(buf), "sparse_matmul_t_acc"
    assert_close(w2, want, np.abs(want) + x.T @ np.abs(d) + 1, dtype, "sparse_matmul_t_acc")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", list(range(0, 40)) + [1000])
def test_relu_backward_closes_the_gate_at_z_exactly_zero(dtype, n):
    """ReLU'(0) = 0: where z is +0 or -0, delta becomes 0 (as delta * (z > 0) says), at every
    position of a vector and its tail."""
    rng = np.random.default_rng(n)
    z = rand(rng, (1, n), dtype)
    z[0, ::2] = 0.0
    z[0, 1::4] = -0.0
    delta = rand(rng, (1, n), dtype) + 3
    kern.relu_backward(delta, z)
    assert np.all(delta[z == 0] == 0)
    assert np.array_equal(delta, (delta * (z > 0)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N", [1, 2, 3, 10, 17, 33])
def test_softmax_survives_logits_that_overflow_exp_unless_the_max_is_subtracted(dtype, N):
    """e^1000 overflows float32 and float64: only a softmax that subtracts the row maximum first
    stays finite and right (the fused kernel's loss and delta too)."""
    rng = np.random.default_rng(N)
    z = 1000 + rand(rng, (4, N), dtype)
    z[1] -= 2000
    z[2, ::2] = -1000
    p = kern.softmax(z)
    assert np.all(np.isfinite(p))
    assert_close(p, np_softmax(z), 1.0, dtype)
    labels = rng.integers(0, N, 4)
    loss, delta = kern.softmax_xent_delta(z, labels)
    zz = z.astype(np.float64)
    mx = zz.max(axis=1, keepdims=True)
    want = np.mean(np.log(np.exp(zz - mx).sum(axis=1)) - (zz[np.arange(4), labels] - mx[:, 0]))
    assert np.isfinite(loss) and abs(loss - want) <= 1e-5 * (1 + abs(want))
    assert_close(delta, (np_softmax(z) - np.eye(N)[labels]) / 4, 1.0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", MATMUL_SHAPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_matmul_matches_numpy_for_every_transpose_combination(dtype, M, N, K, trans_a, trans_b):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    got, ref, scale = matmul_case(rng, dtype, M, N, K, trans_a, trans_b, False, False)
    assert got.dtype == dtype and got.shape == (M, N)
    assert_close(got, ref, scale, dtype, f"{M}x{N}x{K} ta={trans_a} tb={trans_b}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (7, 13, 5), (65, 33, 785), (64, 64, 784), (23, 27, 64),
                                   (13, 50, 96), (64, 32, 64), (41, 7, 64), (13, 17, 300), (9, 12, 300)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("with_bias,accumulate", [(True, False), (False, True), (True, True)])
def test_matmul_adds_bias_and_accumulates_into_out(dtype, M, N, K, trans_a, trans_b, with_bias, accumulate):
    rng = np.random.default_rng(7)
    got, ref, scale = matmul_case(rng, dtype, M, N, K, trans_a, trans_b, with_bias, accumulate)
    assert_close(got, ref, scale, dtype, f"bias={with_bias} accumulate={accumulate}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("with_bias,accumulate", [(False, False), (True, True)])
def test_any_slice_of_a_small_product_has_the_bits_of_the_whole(dtype, trans_a, trans_b, with_bias, accumulate):
    """The engine splits products between threads by rows and columns; for K <= 128 the
    small-product and blocked kernels compute each element by the same chain, so the
    slices, whatever kernel their width selects, must match the whole to the bit."""
    rng = np.random.default_rng(5)
    M, N, K = 70, 100, 96
    a = rand(rng, (K, M) if trans_a else (M, K), dtype)
    b = rand(rng, (N, K) if trans_b else (K, N), dtype)
    bias, old = rand(rng, (1, N), dtype), rand(rng, (M, N), dtype)
    whole = kern.matmul(a, b, old.copy(), trans_a=trans_a, trans_b=trans_b,
                        bias=bias if with_bias else None, accumulate=accumulate)
    ct = "float" if dtype == np.float32 else "double"
    f = getattr(lib, "bp_matmul_" + ("f32" if dtype == np.float32 else "f64"))
    p = lambda arr, off=0: ffi.cast(ct + " *", ffi.from_buffer(ct + "[]", arr)) + off
    for cols in ((0, 10), (10, 26), (26, 58), (58, 100), (0, 27), (27, 100)):  # widths 10-73
        for rows in ((0, 1), (1, 17), (17, 70)):
            (j0, j1), (i0, i1) = cols, rows
            out = old.copy()
            a_off = i0 if trans_a else i0 * K
            rc = f(i1 - i0, j1 - j0, K, p(a, a_off), M if trans_a else K, int(trans_a),
                   p(b, j0 * K if trans_b else j0), K if trans_b else N, int(trans_b),
                   p(bias, j0) if with_bias else ffi.NULL, p(out, i0 * N + j0), N, int(accumulate))
            assert rc == 0
            assert out[i0:i1, j0:j1].tobytes() == whole[i0:i1, j0:j1].tobytes(), (rows, cols)


@pytest.mark.parametrize("seed", range(4))
def test_random_shapes_match_numpy_and_their_slices_keep_the_bits(seed):
    """Random shapes around every kernel's edges (C 1-80 wide: 1, 2, 4 vectors, narrow and
    wide panels; K around 128; all transposes, bias, accumulate): each product matches
    NumPy, and a trailing slice of it, which may select another kernel, has its bits."""
    rng = np.random.default_rng(100 + seed)
    for _ in range(100):
        dtype = DTYPES[int(rng.integers(2))]
        M, N, K = int(rng.integers(1, 40)), int(rng.integers(1, 81)), int(rng.integers(1, 140))
        ta, tb, with_bias, acc = (bool(x) for x in rng.integers(0, 2, 4))
        got, ref, scale = matmul_case(rng, dtype, M, N, K, ta, tb, with_bias, acc)
        what = f"{np.dtype(dtype)} {M}x{N}x{K} ta={ta} tb={tb} bias={with_bias} acc={acc}"
        assert_close(got, ref, scale, dtype, what)
        if M < 2 or N < 2:
            continue
        i0, j0 = int(rng.integers(1, M)), int(rng.integers(1, N))
        a = rand(rng, (K, M) if ta else (M, K), dtype)
        b = rand(rng, (N, K) if tb else (K, N), dtype)
        bias = rand(rng, (1, N), dtype) if with_bias else None
        old = rand(rng, (M, N), dtype)
        whole = kern.matmul(a, b, old.copy() if acc else None, trans_a=ta, trans_b=tb, bias=bias,
                            accumulate=acc)
        part = kern.matmul(np.ascontiguousarray(a[:, i0:] if ta else a[i0:]),
                           np.ascontiguousarray(b[j0:] if tb else b[:, j0:]),
                           old[i0:, j0:].copy() if acc else None, trans_a=ta, trans_b=tb,
                           bias=None if bias is None else np.ascontiguousarray(bias[:, j0:]),
                           accumulate=acc)
        assert part.tobytes() == whole[i0:, j0:].tobytes(), (what, i0, j0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_writes_into_the_given_out_and_returns_it(dtype):
    rng = np.random.default_rng(1)
    a, b = rand(rng, (5, 4), dtype), rand(rng, (4, 3), dtype)
    out = np.full((5, 3), np.nan, dtype)
    assert kern.matmul(a, b, out) is out
    assert_close(out, a.astype(np.float64) @ b, np.abs(a) @ np.abs(b) + 1, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_with_k_zero_gives_bias_or_zero_or_leaves_out(dtype):
    a, b = np.empty((3, 0), dtype), np.empty((0, 4), dtype)
    bias = np.arange(4, dtype=dtype).reshape(1, 4)
    assert np.array_equal(kern.matmul(a, b), np.zeros((3, 4)))
    assert np.array_equal(kern.matmul(a, b, bias=bias), np.broadcast_to(bias, (3, 4)))
    out = np.ones((3, 4), dtype)
    kern.matmul(a, b, out, bias=bias, accumulate=True)
    assert np.array_equal(out, 1 + np.broadcast_to(bias, (3, 4)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape_a,shape_b", [((0, 5), (5, 3)), ((4, 5), (5, 0)), ((0, 0), (0, 0))])
def test_matmul_with_an_empty_dimension_returns_an_empty_result(dtype, shape_a, shape_b):
    got = kern.matmul(np.ones(shape_a, dtype), np.ones(shape_b, dtype))
    assert got.shape == (shape_a[0], shape_b[1]) and got.dtype == dtype


# ---------------------------------------------------------------------------
# element-wise kernels, softmax, losses, gather

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 64), (3, 1001), (0, 5)])
def test_relu_and_relu_backward_match_numpy(dtype, shape):
    rng = np.random.default_rng(2)
    z = rand(rng, shape, dtype)
    z.flat[::3] = 0.0                                   # ReLU'(0) = 0, as (z > 0) says
    assert np.array_equal(kern.relu(z), np.maximum(z, 0))
    delta = rand(rng, shape, dtype)
    expected = delta * (z > 0)
    assert kern.relu_backward(delta, z) is delta
    assert np.array_equal(delta, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_works_in_place(dtype):
    z = np.array([[-1.0, 0.0, 2.5, -0.5]], dtype)
    assert kern.relu(z, out=z) is z
    assert np.array_equal(z, [[0, 0, 2.5, 0]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (784, 64), (1, 10), (0, 3)])
def test_sgd_update_matches_numpy_in_place(dtype, shape):
    rng = np.random.default_rng(3)
    param, grad = rand(rng, shape, dtype), rand(rng, shape, dtype)
    expected = param - dtype(0.1) * grad
    assert kern.sgd_update(param, grad, 0.1) is param
    assert_close(param, expected, np.abs(expected) + 1, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (64, 64), (7, 13), (0, 4), (3, 0)])
def test_column_sum_is_the_sum_over_rows(dtype, shape):
    rng = np.random.default_rng(4)
    a = rand(rng, shape, dtype)
    got = kern.column_sum(a)
    assert got.shape == (1, shape[1])
    ref = a.astype(np.float64).sum(axis=0, keepdims=True)
    assert_close(got, ref, np.abs(a).sum(axis=0, keepdims=True) + 1, dtype)


def np_softmax(z):
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (64, 10), (7, 13), (0, 10)])
def test_softmax_matches_numpy(dtype, shape):
    rng = np.random.default_rng(5)
    z = 3 * rand(rng, shape, dtype)
    got = kern.softmax(z)
    assert_close(got, np_softmax(z), 1.0, dtype)
    if shape[0]:
        assert_close(got.sum(axis=1), np.ones(shape[0]), 1.0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_for_logits_like_1000(dtype):
    z = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -1002.0]], dtype)
    p = kern.softmax(z)
    assert np.all(np.isfinite(p))
    assert_close(p, np_softmax(z), 1.0, dtype)
    assert kern.softmax(z, out=z) is z                      # in place
    assert_close(z, p, 1.0, dtype)


def np_cross_entropy(p, y):
    return -np.sum(y * np.log(np.maximum(p.astype(np.float64), np.finfo(p.dtype).tiny))) / p.shape[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_matches_numpy(dtype):
    rng = np.random.default_rng(6)
    p = np_softmax(rand(rng, (64, 10), dtype)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 64)]
    assert abs(kern.cross_entropy(p, y) - np_cross_entropy(p, y)) <= RTOL[np.dtype(dtype)] * 10


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_finite_for_a_probability_of_exactly_zero(dtype):
    p = np.array([[0.0, 1.0], [0.5, 0.5]], dtype)
    y = np.array([[1.0, 0.0], [0.0, 1.0]], dtype)
    loss = kern.cross_entropy(p, y)
    assert np.isfinite(loss)
    expected = (-np.log(np.finfo(dtype).tiny) - np.log(0.5)) / 2
    assert abs(loss - expected) <= 1e-6 * expected


@pytest.mark.parametrize("dtype", DTYPES)
def test_output_delta_is_p_minus_y_over_m(dtype):
    rng = np.random.default_rng(8)
    p, y = rand(rng, (64, 10), dtype), rand(rng, (64, 10), dtype)
    assert_close(kern.output_delta(p, y), (p.astype(np.float64) - y) / 64, 1.0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N", [(1, 1), (64, 10), (7, 13), (0, 10)])
@pytest.mark.parametrize("label_dtype", [np.int32, np.int64, np.uint8])
def test_softmax_xent_delta_equals_softmax_then_cross_entropy_then_delta(dtype, M, N, label_dtype):
    rng = np.random.default_rng(9)
    z = 3 * rand(rng, (M, N), dtype)
    labels = rng.integers(0, N, M).astype(label_dtype)
    labels_before = labels.copy()
    probs = np.empty((M, N), dtype)
    loss, delta = kern.softmax_xent_delta(z, labels, probs=probs)
    p = np_softmax(z)
    y = np.eye(N)[labels] if M else np.zeros((0, N))
    assert_close(probs, p, 1.0, dtype, "probs")
    assert_close(delta, (p - y) / max(M, 1), 1.0, dtype, "delta")
    ref_loss = -np.sum(np.log(p[np.arange(M), labels])) / M if M else 0.0
    assert abs(loss - ref_loss) <= RTOL[np.dtype(dtype)] * (1 + abs(ref_loss)) * 10
    assert np.array_equal(labels, labels_before) and labels.dtype == label_dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent_delta_is_finite_for_logits_like_1000(dtype):
    z = np.array([[1000.0, -1000.0, 0.0]], dtype)
    loss, delta = kern.softmax_xent_delta(z, np.array([1], np.int32))
    assert np.isfinite(loss) and abs(loss - 2000.0) <= 2000.0 * RTOL[np.dtype(dtype)]
    assert np.all(np.isfinite(delta))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx_dtype", [np.int64, np.int32, np.uint16])
def test_gather_scale_gathers_rows_and_scales_them(dtype, idx_dtype):
    rng = np.random.default_rng(10)
    images = rng.integers(0, 256, (100, 784), dtype=np.uint8)
    idx = rng.integers(0, 100, 64).astype(idx_dtype)
    out = np.empty((64, 784), dtype)
    assert kern.gather_scale(images, idx, 1 / 255, out) is out
    assert np.array_equal(out, images[idx].astype(dtype) * dtype(1 / 255))
    assert kern.gather_scale(images, idx[:0], 0.5, dtype=dtype).shape == (0, 784)


def test_openmp_threads_is_one_or_what_openmp_would_use():
    """1 for a build without OpenMP; else OMP_NUM_THREADS, or one per CPU."""
    import os
    want = os.environ.get("OMP_NUM_THREADS")
    expected = int(want.split(",")[0]) if want else os.cpu_count()
    assert kern.openmp_threads() in {1, expected}


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_is_thread_safe_on_disjoint_outputs(dtype):
    """cffi releases the GIL during the C call, so these run truly concurrently."""
    import threading
    rng = np.random.default_rng(11)
    a, b = rand(rng, (64, 784), dtype), rand(rng, (784, 64), dtype)
    expected = kern.matmul(a, b)
    outs = [np.empty((64, 64), dtype) for _ in range(4)]

    def work(out):
        for _ in range(50):
            kern.matmul(a, b, out)
            kern.matmul(a, out, np.empty((784, 64), dtype), trans_a=True)

    threads = [threading.Thread(target=work, args=(o,)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for out in outs:
        assert np.array_equal(out, expected)


# ---------------------------------------------------------------------------
# The portable path, forced in a subprocess.

PATH_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from native import kernels as kern
    expected = sys.argv[1]
    assert kern.simd_path() == expected, kern.simd_path()
    rng = np.random.default_rng(0)
    for dt, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        for M, N, Kd in ((1, 1, 1), (7, 13, 5), (6, 32, 256), (13, 17, 300), (65, 33, 785), (64, 64, 784)):
            for ta in (False, True):
                for tb in (False, True):
                    a = rng.standard_normal((Kd, M) if ta else (M, Kd)).astype(dt)
                    b = rng.standard_normal((N, Kd) if tb else (Kd, N)).astype(dt)
                    bias = rng.standard_normal((1, N)).astype(dt)
                    old = rng.standard_normal((M, N)).astype(dt)
                    opa, opb = (a.T if ta else a).astype(float), (b.T if tb else b).astype(float)
                    scale = np.abs(opa) @ np.abs(opb) + np.abs(bias) + np.abs(old) + 1
                    got = kern.matmul(a, b, trans_a=ta, trans_b=tb, bias=bias)
                    err = np.abs(got - (opa @ opb + bias)) / scale
                    assert err.max() <= tol, (dt, M, N, Kd, ta, tb, err.max())
                    got = kern.matmul(a, b, old.copy(), trans_a=ta, trans_b=tb, bias=bias, accumulate=True)
                    err = np.abs(got - (opa @ opb + bias + old)) / scale
                    assert err.max() <= tol, ("accumulate", dt, M, N, Kd, ta, tb, err.max())
        z = rng.standard_normal((64, 10)).astype(dt)
        assert np.array_equal(kern.relu(z), np.maximum(z, 0))
        d = z.copy(); kern.relu_backward(d, z); assert np.array_equal(d, z * (z > 0))
        p = z.copy(); kern.sgd_update(p, z, 0.5); assert np.allclose(p, z - dt(0.5) * z, rtol=tol)
        e = np.exp(z - z.max(1, keepdims=True)); e /= e.sum(1, keepdims=True)
        assert np.allclose(kern.softmax(z), e, rtol=0, atol=tol)
        labels = rng.integers(0, 10, 64)
        loss, delta = kern.softmax_xent_delta(z, labels)
        assert np.allclose(delta, (e - np.eye(10)[labels]) / 64, rtol=0, atol=tol)
        assert np.allclose(kern.column_sum(z), z.sum(0, keepdims=True), rtol=0, atol=tol * 100)
        img = rng.integers(0, 256, (20, 30), dtype=np.uint8)
        assert np.array_equal(kern.gather_scale(img, np.array([3, 0, 19]), 0.5, dtype=dt),
                              img[[3, 0, 19]].astype(dt) * dt(0.5))
        img = ((rng.random((30, 100)) < 0.2) * rng.integers(1, 256, (30, 100))).astype(np.uint8)
        sp, idx = kern.SparseImages(img), np.array([5, 0, 29, 5])
        x = img[idx].astype(float) * 0.25
        for N in (1, 5, 16, 37, 64, 100):      # every block width, with and without a tail
            w = rng.standard_normal((100, N)).astype(dt)
            b = rng.standard_normal((1, N)).astype(dt)
            err = np.abs(kern.sparse_matmul(sp, w, idx, 0.25, bias=b) - (x @ w + b))
            assert (err / (x @ np.abs(w) + np.abs(b) + 1)).max() <= tol, ("sparse", dt, N)
            d = rng.standard_normal((4, N)).astype(dt)
            err = np.abs(kern.sparse_matmul_t_acc(sp, d, w.copy(), idx, 0.25) - (w + x.T @ d))
            assert (err / (np.abs(w) + x.T @ np.abs(d) + 1)).max() <= tol, ("sparse update", dt, N)
    print(expected, "ok")
""")


def run_python(script, *args, **env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    full_env.update(env)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_forced_generic_path_reports_generic_and_matches_numpy():
    r = run_python(PATH_SCRIPT, "generic", BACKPROP_FORCE_GENERIC="1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "generic ok" in r.stdout


def test_avx2_path_without_avx512_reports_avx2_and_matches_numpy():
    r = run_python("from native import kernels as k; print(k.simd_path())", BACKPROP_NO_AVX512="1")
    if r.stdout.strip() != "avx2-fma":
        pytest.skip(f"this CPU has no AVX2/FMA path (got {r.stdout.strip() or r.stderr})")
    r = run_python(PATH_SCRIPT, "avx2-fma", BACKPROP_NO_AVX512="1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "avx2-fma ok" in r.stdout


def test_default_path_matches_numpy_in_a_fresh_process():
    r = run_python("from native import kernels as k; print(k.simd_path())")
    path = r.stdout.strip()
    r = run_python(PATH_SCRIPT, path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{path} ok" in r.stdout


# ---------------------------------------------------------------------------
# Bad input: every wrapper x each kind of wrong argument raises TypeError/ValueError
# naming the argument.  Each case: (exception, word the message must contain, call).

def _bad_cases():
    f8, f4 = np.float64, np.float32
    A = np.ones((4, 3))
    B = np.ones((3, 5))
    Z = np.ones((4, 5))
    ro = np.ones((4, 5))
    ro.flags.writeable = False
    img = np.zeros((10, 6), np.uint8)
    lab = np.array([0, 1, 2, 3], np.int32)
    cases = {
        # matmul
        "matmul a list": (TypeError, "a", lambda: kern.matmul([[1.0]], B)),
        "matmul a int32": (TypeError, "int32", lambda: kern.matmul(A.astype(np.int32), B)),
        "matmul a big-endian": (TypeError, "byte order", lambda: kern.matmul(A.astype(">f8"), B)),
        "matmul b float32": (TypeError, "b", lambda: kern.matmul(A, B.astype(f4))),
        "matmul a 1-D": (ValueError, "a", lambda: kern.matmul(np.ones(3), B)),
        "matmul a 3-D": (ValueError, "a", lambda: kern.matmul(np.ones((2, 4, 3)), B)),
        "matmul shapes": (ValueError, "(785, 64)", lambda: kern.matmul(np.ones((64, 784)), np.ones((785, 64)))),
        "matmul a strided": (ValueError, "ascontiguousarray", lambda: kern.matmul(np.ones((4, 6))[:, ::2], B)),
        "matmul b transposed view": (ValueError, "b", lambda: kern.matmul(A, np.ones((5, 3)).T)),
        "matmul out read-only": (ValueError, "out", lambda: kern.matmul(A, B, ro)),
        "matmul out shape": (ValueError, "out", lambda: kern.matmul(A, B, np.ones((5, 4)))),
        "matmul out dtype": (TypeError, "out", lambda: kern.matmul(A, B, np.ones((4, 5), f4))),
        "matmul out overlaps a": (ValueError, "overlap", lambda: kern.matmul((q := np.ones((4, 4))), np.eye(4), q)),
        "matmul out overlaps b": (ValueError, "overlap", lambda: kern.matmul(np.eye(4), (q := np.ones((4, 4))), q)),
        "matmul bias shape": (ValueError, "bias", lambda: kern.matmul(A, B, bias=np.ones((1, 4)))),
        "matmul bias dtype": (TypeError, "bias", lambda: kern.matmul(A, B, bias=np.ones((1, 5), f4))),
        "matmul trans flag int": (TypeError, "trans_a", lambda: kern.matmul(A.T.copy(), B, trans_a=1)),
        "matmul accumulate without out": (ValueError, "out", lambda: kern.matmul(A, B, accumulate=True)),
        # relu
        "relu z int": (TypeError, "z", lambda: kern.relu(np.ones((2, 2), np.int64))),
        "relu z 1-D": (ValueError, "z", lambda: kern.relu(np.ones(3))),
        "relu z strided": (ValueError, "z", lambda: kern.relu(Z[:, ::2])),
        "relu out read-only": (ValueError, "out", lambda: kern.relu(Z, ro)),
        "relu out shape": (ValueError, "out", lambda: kern.relu(Z, np.ones((5, 4)))),
        "relu out dtype": (TypeError, "out", lambda: kern.relu(Z, np.ones((4, 5), f4))),
        "relu out partial overlap": (ValueError, "overlap", lambda: kern.relu((w := np.ones((5, 5)))[:4], w[1:])),
        # relu_backward
        "relu_backward delta read-only": (ValueError, "delta", lambda: kern.relu_backward(ro, Z)),
        "relu_backward z dtype": (TypeError, "z", lambda: kern.relu_backward(Z.copy(), Z.astype(f4))),
        "relu_backward shapes": (ValueError, "z", lambda: kern.relu_backward(Z.copy(), np.ones((5, 4)))),
        "relu_backward delta transposed": (ValueError, "delta", lambda: kern.relu_backward(np.ones((5, 4)).T, Z)),
        "relu_backward delta big-endian": (TypeError, "delta", lambda: kern.relu_backward(Z.astype(">f8"), Z)),
        "relu_backward delta tuple": (TypeError, "delta", lambda: kern.relu_backward((1.0,), Z)),
        # sgd_update
        "sgd lr string": (TypeError, "lr", lambda: kern.sgd_update(Z.copy(), Z, "0.1")),
        "sgd lr NaN": (ValueError, "lr", lambda: kern.sgd_update(Z.copy(), Z, float("nan"))),
        "sgd lr inf": (ValueError, "lr", lambda: kern.sgd_update(Z.copy(), Z, float("inf"))),
        "sgd lr bool": (TypeError, "lr", lambda: kern.sgd_update(Z.copy(), Z, True)),
        "sgd lr complex": (TypeError, "lr", lambda: kern.sgd_update(Z.copy(), Z, 1j)),
        "sgd param read-only": (ValueError, "param", lambda: kern.sgd_update(ro, Z, 0.1)),
        "sgd grad shape": (ValueError, "grad", lambda: kern.sgd_update(Z.copy(), np.ones((4, 4)), 0.1)),
        "sgd mixed dtypes": (TypeError, "grad", lambda: kern.sgd_update(Z.copy(), Z.astype(f4), 0.1)),
        "sgd param overlaps grad": (ValueError, "overlap", lambda: kern.sgd_update((w := np.ones((5, 5)))[:4], w[1:], 0.1)),
        "sgd param strided": (ValueError, "param", lambda: kern.sgd_update(np.ones((4, 10))[:, ::2], Z, 0.1)),
        # column_sum
        "column_sum a 1-D": (ValueError, "a", lambda: kern.column_sum(np.ones(4))),
        "column_sum out shape": (ValueError, "out", lambda: kern.column_sum(Z, np.ones((5,)))),
        "column_sum out wrong (1, N)": (ValueError, "out", lambda: kern.column_sum(Z, np.ones((1, 4)))),
        "column_sum out read-only": (ValueError, "out", lambda: kern.column_sum(Z, _readonly((1, 5)))),
        # softmax
        "softmax z bool": (TypeError, "z", lambda: kern.softmax(np.ones((2, 2), bool))),
        "softmax out dtype": (TypeError, "out", lambda: kern.softmax(Z, np.ones((4, 5), f4))),
        "softmax z strided": (ValueError, "z", lambda: kern.softmax(np.ones((4, 10))[:, ::2])),
        # cross_entropy / output_delta
        "cross_entropy shapes": (ValueError, "y_onehot", lambda: kern.cross_entropy(Z, np.ones((4, 4)))),
        "cross_entropy mixed": (TypeError, "y_onehot", lambda: kern.cross_entropy(Z, Z.astype(f4))),
        "cross_entropy probs list": (TypeError, "probs", lambda: kern.cross_entropy([[1.0]], Z)),
        "output_delta out overlaps probs": (ValueError, "overlap", lambda: kern.output_delta((p := Z.copy()), Z, p)),
        "output_delta out shape": (ValueError, "out", lambda: kern.output_delta(Z, Z, np.ones((4, 4)))),
        # softmax_xent_delta
        "sxd labels out of range": (ValueError, "labels", lambda: kern.softmax_xent_delta(Z, np.array([0, 1, 2, 5], np.int32))),
        "sxd labels negative": (ValueError, "labels", lambda: kern.softmax_xent_delta(Z, np.array([0, -1, 2, 3]))),
        "sxd labels too big for int32": (ValueError, "labels", lambda: kern.softmax_xent_delta(Z, np.array([0, 1, 2, 2**32]))),
        "sxd labels float": (TypeError, "labels", lambda: kern.softmax_xent_delta(Z, lab.astype(f8))),
        "sxd labels list": (TypeError, "labels", lambda: kern.softmax_xent_delta(Z, [0, 1, 2, 3])),
        "sxd labels length": (ValueError, "labels", lambda: kern.softmax_xent_delta(Z, lab[:3])),
        "sxd labels 2-D": (ValueError, "labels", lambda: kern.softmax_xent_delta(Z, lab.reshape(2, 2))),
        "sxd delta read-only": (ValueError, "delta", lambda: kern.softmax_xent_delta(Z, lab, ro)),
        "sxd delta dtype": (TypeError, "delta", lambda: kern.softmax_xent_delta(Z, lab, np.ones((4, 5), f4))),
        "sxd probs shape": (ValueError, "probs", lambda: kern.softmax_xent_delta(Z, lab, None, np.ones((5, 4)))),
        "sxd delta overlaps z": (ValueError, "overlap", lambda: kern.softmax_xent_delta((q := Z.copy()), lab, q)),
        "sxd probs overlaps delta": (ValueError, "overlap", lambda: kern.softmax_xent_delta(Z, lab, (q := Z.copy()), q)),
        # gather_scale
        "gather idx out of range": (ValueError, "idx", lambda: kern.gather_scale(img, np.array([0, 10]), 0.5)),
        "gather idx negative": (ValueError, "idx", lambda: kern.gather_scale(img, np.array([-1]), 0.5)),
        "gather idx huge uint64": (ValueError, "idx", lambda: kern.gather_scale(img, np.array([2**63 + 1], np.uint64), 0.5)),
        "gather idx float": (TypeError, "idx", lambda: kern.gather_scale(img, np.array([0.0]), 0.5)),
        "gather images float": (TypeError, "images", lambda: kern.gather_scale(img.astype(f4), np.array([0]), 0.5)),
        "gather images 1-D": (ValueError, "images", lambda: kern.gather_scale(np.zeros(6, np.uint8), np.array([0]), 0.5)),
        "gather images strided": (ValueError, "images", lambda: kern.gather_scale(img[:, ::2], np.array([0]), 0.5)),
        "gather scale NaN": (ValueError, "scale", lambda: kern.gather_scale(img, np.array([0]), float("nan"))),
        "gather scale bool": (TypeError, "scale", lambda: kern.gather_scale(img, np.array([0]), False)),
        "gather scale None": (TypeError, "scale", lambda: kern.gather_scale(img, np.array([0]), None)),
        "gather out shape": (ValueError, "out", lambda: kern.gather_scale(img, np.array([0, 1]), 0.5, np.ones((1, 6)))),
        "gather out int": (TypeError, "out", lambda: kern.gather_scale(img, np.array([0]), 0.5, np.ones((1, 6), np.int32))),
        "gather out read-only": (ValueError, "out", lambda: kern.gather_scale(img, np.arange(4), 0.5, _readonly((4, 6)))),
        "gather dtype int": (TypeError, "dtype", lambda: kern.gather_scale(img, np.array([0]), 0.5, dtype=np.int32)),
    }
    return cases


def _readonly(shape):
    a = np.ones(shape)
    a.flags.writeable = False
    return a


BAD = _bad_cases()
ARG_NAMES = {"a", "b", "z", "out", "bias", "delta", "param", "grad", "lr", "probs", "y_onehot",
             "labels", "idx", "images", "scale", "trans_a", "trans_b", "accumulate", "p", "y"}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_argument_raises_an_error_naming_it(case):
    exc, word, call = BAD[case]
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    rest = message.split(": ", 1)[-1]
    if word in ARG_NAMES:
        # the argument must be the subject ("a must …", "delta and z …", "op(a) …"),
        # not a letter inside another word or the article in "must be a numpy…"
        assert re.search(rf"(^|\(| and | overlap | needs ){re.escape(word)}(\)| |$)", rest), \
            f"{case}: {message!r} does not name {word!r}"
    else:
        assert word in message, f"{case}: {message!r} does not mention {word!r}"
    assert message.split(":")[0] in {"matmul", "relu", "relu_backward", "sgd_update", "column_sum", "softmax",
                                     "cross_entropy", "output_delta", "softmax_xent_delta", "gather_scale"}, message


def test_in_place_targets_are_refused_not_copied():
    ro = _readonly((4, 5))
    before = ro.copy()
    with pytest.raises(ValueError):
        kern.sgd_update(ro, np.ones((4, 5)), 0.1)
    assert np.array_equal(ro, before)
    strided = np.ones((4, 10))
    with pytest.raises(ValueError):
        kern.relu_backward(strided[:, ::2], np.ones((4, 5)))
    assert np.array_equal(strided, np.ones((4, 10)))


def test_the_interpreter_survives_every_bad_input():
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, "tests")
        import test_kernels as t
        n = 0
        for name, (exc, word, call) in t.BAD.items():
            try:
                call()
            except (TypeError, ValueError):
                n += 1
            else:
                print("no error for", name); sys.exit(1)
        print("survived", n)
    """)
    r = run_python(script)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"survived {len(BAD)}" in r.stdout


def test_simd_path_is_the_best_the_cpu_offers():
    """With no switch set, the library runs the widest path the CPU supports, under any
    compiler (GCC and clang both compile the x86 SIMD code): arm64 runs NEON, x86-64 the
    widest of AVX-512 / AVX2+FMA its flags list, anything else the portable C."""
    import platform
    if any(os.environ.get(v) for v in ("BACKPROP_FORCE_GENERIC", "BACKPROP_NO_AVX512")):
        pytest.skip("a path switch is set in this environment")
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        assert kern.simd_path() == "neon"
        return
    if machine not in ("x86_64", "amd64"):
        assert kern.simd_path() == "generic"
        return
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    expected = ("generic" if not {"avx2", "fma"} <= flags
                else "avx512" if "avx512f" in flags else "avx2-fma")
    assert kern.simd_path() == expected


def test_import_refuses_a_build_older_than_its_c_sources(tmp_path):
    """Editing a C file without rebuilding must not run the stale module."""
    import os
    import shutil
    import subprocess
    import sys
    import native
    src = os.path.dirname(native.__file__)
    shutil.copytree(src, tmp_path / "native", ignore=shutil.ignore_patterns("__pycache__"))
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import native; "
             "assert native.__file__.startswith(sys.argv[1]), native.__file__; print('imported')")
    fresh = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
    assert fresh.returncode == 0 and "imported" in fresh.stdout, fresh.stderr
    with open(tmp_path / "native" / "csrc" / "train.h", "a") as f:
        f.write("/* an edit */\n")
    stale = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
    assert stale.returncode != 0
    assert "out of date" in stale.stderr and "train.h" in stale.stderr
    assert "python -m pip install -e ." in stale.stderr
