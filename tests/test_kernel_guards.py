"""Every kernel's output and in-place target sits between guard zones: a write one past the
end (or one before the start) changes a guard and fails a value check here, instead of
corrupting the heap and aborting the run later. Shapes cover the SIMD paths' tails
(1, 7, 15, 17, 33 and 65 columns: less than, just under and just over a vector and a
block). Also: sgd_update's lr, and the dtype range."""
import numpy as np
import pytest

from native import kernels as kern

GUARD = 64                               # elements on each side (a 512-byte AVX-512 block)
SENTINEL = {np.float32: np.float32(-7.25e3), np.float64: -7.25e3}
SHAPES = [(1, 1), (3, 7), (5, 15), (2, 17), (4, 33), (3, 65), (17, 9)]


def guarded(shape, dtype, fill=0.0):
    """A C-contiguous array of `shape` inside a buffer whose GUARD elements on each side
    hold a sentinel; returns (array, check) where check() asserts the guards are intact."""
    n = int(np.prod(shape))
    buf = np.full(n + 2 * GUARD, SENTINEL[dtype], dtype=dtype)
    a = buf[GUARD:GUARD + n].reshape(shape)
    a[...] = fill

    def check(name):
        before, after = buf[:GUARD], buf[GUARD + n:]
        assert (before == SENTINEL[dtype]).all(), f"{name}: a write before the start"
        assert (after == SENTINEL[dtype]).all(), f"{name}: a write past the end"
    return a, check


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_guarded_detects_a_write_one_past_the_end():
    """The guard itself can fail: a write one past the end is caught."""
    a, check = guarded((2, 3), np.float64)
    a.base[GUARD + 6] = 1.0
    with pytest.raises(AssertionError, match="past the end"):
        check("planted")


@pytest.mark.parametrize("shape", SHAPES)
def test_matmul_writes_only_its_output(dtype, shape):
    m, n = shape
    a, b = rand((m, 11), dtype), rand((11, n), dtype, 1)
    for kw in ({}, {"bias": rand((1, n), dtype, 2)}, {"accumulate": True}):
        out, check = guarded((m, n), dtype, fill=1.0)
        kern.matmul(a, b, out=out, **kw)
        want = a.astype(np.float64) @ b + (kw["bias"] if "bias" in kw else 0) + (1.0 if kw else 0)
        if "bias" in kw:
            want -= 1.0
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
        check(f"matmul {kw}")
    out, check = guarded((m, n), dtype)
    kern.matmul(np.ascontiguousarray(a.T), b, out=out, trans_a=True)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    check("matmul trans_a")


@pytest.mark.parametrize("shape", SHAPES)
def test_elementwise_kernels_write_only_their_output(dtype, shape):
    z = rand(shape, dtype)
    out, check = guarded(shape, dtype)
    kern.relu(z, out=out)
    assert np.array_equal(out, np.maximum(z, 0))
    check("relu")
    delta, check = guarded(shape, dtype)
    delta[...] = rand(shape, dtype, 3)
    want = np.where(z > 0, delta, 0)
    kern.relu_backward(delta, z)
    assert np.array_equal(delta, want)
    check("relu_backward")
    param, check = guarded(shape, dtype)
    param[...] = rand(shape, dtype, 4)
    grad = rand(shape, dtype, 5)
    want = param - dtype(0.5) * grad
    kern.sgd_update(param, grad, 0.5)
    np.testing.assert_allclose(param, want, rtol=1e-6)
    check("sgd_update")


@pytest.mark.parametrize("shape", SHAPES)
def test_row_and_column_kernels_write_only_their_output(dtype, shape):
    m, n = shape
    z = rand(shape, dtype)
    out, check = guarded((1, n), dtype)
    kern.column_sum(z, out=out)
    np.testing.assert_allclose(out, z.sum(axis=0, keepdims=True, dtype=np.float64), rtol=1e-5, atol=1e-5)
    check("column_sum")
    probs, check = guarded(shape, dtype)
    kern.softmax(z, out=probs)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    check("softmax")
    y = np.eye(n, dtype=dtype)[np.arange(m) % n]
    out, check = guarded(shape, dtype)
    kern.output_delta(probs, y, out=out)
    np.testing.assert_allclose(out, (probs - y) / m, rtol=1e-5, atol=1e-7)
    check("output_delta")
    labels = (np.arange(m) % n).astype(np.int64)
    delta, check_d = guarded(shape, dtype)
    probs2, check_p = guarded(shape, dtype)
    loss, _ = kern.softmax_xent_delta(z, labels, delta=delta, probs=probs2)
    np.testing.assert_allclose(probs2, probs, rtol=1e-5)
    np.testing.assert_allclose(delta, (probs - y) / m, rtol=1e-5, atol=1e-6)
    check_d("softmax_xent_delta delta")
    check_p("softmax_xent_delta probs")


@pytest.mark.parametrize("shape", SHAPES)
def test_gather_scale_writes_only_its_output(dtype, shape):
    m, n = shape
    images = np.random.default_rng(0).integers(0, 256, (40, n), dtype=np.uint8)
    idx = np.random.default_rng(1).integers(0, 40, m)
    out, check = guarded((m, n), dtype)
    kern.gather_scale(images, idx, 1 / 255, out=out)
    np.testing.assert_allclose(out, images[idx] / 255, rtol=1e-6)
    check("gather_scale")


# --- sgd_update's lr (issue 21, point 7) -------------------------------------------------

@pytest.mark.parametrize("lr,message", [
    (1e300, "does not fit in float32"),      # C would have rounded it to inf: −inf weights
    (10 ** 400, "must be finite"),           # was an OverflowError traceback
    (float("inf"), "must be finite"),
])
def test_sgd_update_refuses_an_lr_the_dtype_cannot_hold(lr, message):
    p, g = np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=message):
        kern.sgd_update(p, g, lr)
    assert (p == 1).all()


def test_sgd_update_accepts_the_largest_lr_float64_holds():
    p, g = np.zeros((1, 2)), np.ones((1, 2))
    kern.sgd_update(p, g, 1e300)
    assert (p == -1e300).all()
