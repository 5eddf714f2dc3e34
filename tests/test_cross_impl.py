"""The project's central claim: pure, native and numerical gradients agree.

Tests that take `impl` run once for pure, native float64 and native float32
(the same test body for every implementation); the others compare two
implementations directly, with the tolerance stated in the test.
"""
import subprocess
import sys

import numpy as np
import pytest

import native
import pure
from pure.gradcheck import max_relative_error, random_problem
from conftest import IMPLS, max_rel


def chapter_case(sizes=(4, 5, 3), samples=3, seed=0):
    """Exercise 3's problem as lists (seeded), shared by every implementation."""
    return random_problem(list(sizes), samples, seed)


def to_impl(impl, X, Y, W, B):
    return impl.make(X), impl.make(Y), [impl.make(w) for w in W], [impl.make(b) for b in B]


def gradients(api, X, Y, W, B):
    acts, pres = api.forward(X, W, B)
    return api.backward(acts, pres, W, Y)


# --- exercise 3, three ways ------------------------------------------------------

def test_native_float64_matches_pure_on_4_5_3_within_1e_12():
    X, Y, W, B = chapter_case()
    n64 = IMPLS["native-float64"]()
    Xn, Yn, Wn, Bn = to_impl(n64, X, Y, W, B)
    p_acts, p_pres = pure.forward(X, W, B)
    n_acts, n_pres = native.forward(Xn, Wn, Bn)
    for p, n in zip(p_acts + p_pres, n_acts + n_pres):
        assert max_rel(n, p) <= 1e-12
    assert native.cross_entropy(n_acts[-1], Yn) == pytest.approx(pure.cross_entropy(p_acts[-1], Y), rel=1e-12)
    p_gw, p_gb = pure.backward(p_acts, p_pres, W, Y)
    n_gw, n_gb = native.backward(n_acts, n_pres, Wn, Yn)
    for p, n in zip(p_gw + p_gb, n_gw + n_gb):
        assert max_rel(n, p) <= 1e-12, f"pure vs native differ by {max_rel(n, p):.2e}"


@pytest.mark.parametrize("name", ["pure", "native-float64"])
@pytest.mark.parametrize("sizes,samples", [((4, 5, 3), 3), ((6, 2, 3), 4), ((3, 4, 4, 4, 2), 5)])
def test_backward_matches_numerical_gradient_within_1e_7(name, sizes, samples):
    impl = IMPLS[name]()
    X, Y, W, B = to_impl(impl, *chapter_case(sizes, samples))
    grad_w, grad_b = gradients(impl.api, X, Y, W, B)

    def loss():
        return impl.api.cross_entropy(impl.api.forward(X, W, B)[0][-1], Y)

    for i in range(len(W)):
        for analytic, param in ((grad_w[i], W[i]), (grad_b[i], B[i])):
            numerical = impl.api.numerical_gradient(loss, param)
            err = max_relative_error(impl.tolist(analytic), impl.tolist(numerical))
            assert err <= 1e-7, f"layer {i + 1} (W{i + 1}, b{i + 1}): relative error {err:.2e}"


def test_native_float32_gradients_within_1e_4_of_float64():
    X, Y, W, B = chapter_case()
    g64 = gradients(native, *to_impl(IMPLS["native-float64"](), X, Y, W, B))
    g32 = gradients(native, *to_impl(IMPLS["native-float32"](), X, Y, W, B))
    for a32, a64 in zip(g32[0] + g32[1], g64[0] + g64[1]):
        assert a32.dtype == np.float32
        assert max_rel(a32, a64) <= 1e-4


def test_native_gradcheck_command_reports_every_parameter_passing_three_ways():
    out = subprocess.run([sys.executable, "-m", "native.gradcheck"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("W1", "b1", "W2", "b2"):
        assert any(line.startswith(name) and line.rstrip().endswith("pass") for line in out.stdout.splitlines())
    assert "OK: all 4 parameters agree three ways" in out.stdout


# --- the erratum --------------------------------------------------------------

def test_chapter_bias_formula_is_off_by_batch_size_in_every_implementation(impl):
    """mean(δ, axis=0) = sum(δ)/N: the chapter's bias gradient is exactly N times too small."""
    N = 3
    X, Y, W, B = to_impl(impl, *chapter_case(samples=N))
    acts, pres = impl.api.forward(X, W, B)
    _, grad_b = impl.api.backward(acts, pres, W, Y)
    delta = (np.asarray(acts[-1], dtype=np.float64) - np.asarray(Y, dtype=np.float64)) / N
    chapter = delta.mean(axis=0)                  # the chapter's line for the output layer
    ours = np.asarray(grad_b[-1], dtype=np.float64)[0]
    np.testing.assert_allclose(ours, chapter * N, rtol=impl.rtol * 10, atol=1e-7 if impl.dtype == np.float32 else 0)

    # the numerical gradient is taken in float64 (native refuses float32 there: it would be noise)
    api = native if impl.dtype is not None else pure
    X64, Y64, W64, B64 = (to_impl(IMPLS["native-float64"](), *chapter_case(samples=N))
                          if impl.dtype is not None else (X, Y, W, B))

    def loss():
        return api.cross_entropy(api.forward(X64, W64, B64)[0][-1], Y64)
    numerical = np.asarray(api.numerical_gradient(loss, B64[-1]))[0]
    ratio = numerical / chapter
    np.testing.assert_allclose(ratio, N, rtol=1e-4 if impl.dtype == np.float32 else 1e-6)


# --- trajectories ---------------------------------------------------------------

@pytest.mark.parametrize("sizes", [(4, 5, 3), (6, 8, 8, 8, 3)])
def test_pure_and_native_sgd_trajectories_agree_after_20_steps(sizes):
    X, Y, W, B = chapter_case(sizes, samples=40, seed=3)
    n64 = IMPLS["native-float64"]()
    Xn, Yn, Wn, Bn = to_impl(n64, X, Y, W, B)
    rng = np.random.default_rng(1)
    for step in range(20):
        idx = rng.choice(40, size=8, replace=False).tolist()
        lr = 0.5 * 0.95 ** step
        for api, Xs, Ys, Ws, Bs in ((pure, [X[i] for i in idx], [Y[i] for i in idx], W, B),
                                    (native, Xn[idx], Yn[idx], Wn, Bn)):
            acts, pres = api.forward(Xs, Ws, Bs)
            gw, gb = api.backward(acts, pres, Ws, Ys)
            api.sgd_update(Ws, Bs, gw, gb, lr)
    moved = max(max_rel(np.array(w), w0) for w, w0 in zip(W, chapter_case(sizes, 40, 3)[2]))
    assert moved > 1e-3, "the weights should have moved"
    for p, n in zip(W + B, Wn + Bn):
        assert np.abs(np.array(p) - n).max() <= 1e-10


def test_native_train_matches_the_same_loop_written_out():
    X, Y, W, B = to_impl(IMPLS["native-float64"](), *chapter_case((4, 5, 3), 50, 2))
    W2, B2 = [w.copy() for w in W], [b.copy() for b in B]
    losses = native.train(X, Y, W, B, epochs=3, batch_size=16, lr=0.2, decay_rate=0.9, seed=7)
    rng, lr = np.random.default_rng(7), 0.2
    for epoch in range(3):
        order = rng.permutation(50)
        batch_losses = []
        for s in range(0, 50, 16):
            idx = order[s:s + 16]
            acts, pres = native.forward(X[idx], W2, B2)
            batch_losses.append(native.cross_entropy(acts[-1], Y[idx]))
            native.sgd_update(W2, B2, *native.backward(acts, pres, W2, Y[idx]), lr)
        assert losses[epoch] == pytest.approx(np.mean(batch_losses), rel=1e-12)
        lr *= 0.9
    for a, b in zip(W + B, W2 + B2):
        np.testing.assert_array_equal(a, b)


# --- the same claims for every implementation -----------------------------------

def test_init_network_is_he_initialised_zero_biased_and_seeded(impl):
    sizes = [300, 200, 10]
    kw = {} if impl.name == "pure" else {"dtype": impl.dtype}
    W, B = impl.api.init_network(sizes, seed=5, **kw)
    W2, _ = impl.api.init_network(sizes, seed=5, **kw)
    W3, _ = impl.api.init_network(sizes, seed=6, **kw)
    assert [np.shape(w) for w in W] == [(300, 200), (200, 10)]
    assert [np.shape(b) for b in B] == [(1, 200), (1, 10)]
    assert all(np.all(np.asarray(b) == 0) for b in B)
    assert np.std(np.asarray(W[0])) == pytest.approx(np.sqrt(2 / 300), rel=0.03)
    assert np.array_equal(np.asarray(W[0]), np.asarray(W2[0]))
    assert not np.array_equal(np.asarray(W[0]), np.asarray(W3[0]))


def test_softmax_rows_sum_to_one_even_for_huge_logits(impl):
    W = [impl.make([[1.0, 0.0, -1.0]])]
    B = [impl.make([[0.0, 0.0, 0.0]])]
    X = impl.make([[1000.0], [-1000.0], [0.5]])
    acts, _ = impl.api.forward(X, W, B)
    probs = np.asarray(acts[-1], dtype=np.float64)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=10 * impl.rtol)
    assert probs[0, 0] == pytest.approx(1.0) and probs[1, 2] == pytest.approx(1.0)


def test_cross_entropy_is_finite_when_a_probability_is_zero(impl):
    loss = impl.api.cross_entropy(impl.make([[0.0, 1.0], [0.5, 0.5]]), impl.make([[1.0, 0.0], [0.0, 1.0]]))
    assert np.isfinite(loss) and loss > 40    # −log(smallest normal)/2: ≥ 43 in float32, large but finite


def test_sgd_update_changes_the_callers_arrays_in_place(impl):
    W, B = [impl.make([[1.0, 2.0]])], [impl.make([[3.0, 4.0]])]
    w_ref, b_ref = W[0], B[0]
    impl.api.sgd_update(W, B, [impl.make([[1.0, 1.0]])], [impl.make([[2.0, 0.0]])], 0.5)
    assert W[0] is w_ref and B[0] is b_ref
    assert impl.tolist(w_ref) == [[0.5, 1.5]] and impl.tolist(b_ref) == [[2.0, 4.0]]


def test_train_lowers_the_loss_on_separable_blobs_and_is_deterministic(impl):
    rng = np.random.default_rng(0)
    n = 120
    labels = np.arange(n) % 2
    Xl = (rng.standard_normal((n, 2)) * 0.5 + np.where(labels[:, None] == 1, 2.0, -2.0)).tolist()
    Yl = np.eye(2)[labels].tolist()
    kw = {} if impl.name == "pure" else {"dtype": impl.dtype}
    runs = []
    for _ in range(2):
        W, B = impl.api.init_network([2, 8, 2], seed=1, **kw)
        losses = impl.api.train(impl.make(Xl), impl.make(Yl), W, B, epochs=8, batch_size=16,
                                lr=0.1, decay_rate=0.95, seed=3)
        runs.append((losses, [impl.tolist(w) for w in W]))
    losses = runs[0][0]
    assert len(losses) == 8 and losses[-1] < 0.5 * losses[0]
    assert runs[0] == runs[1], "same seed and settings must give identical weights"
    acts, _ = impl.api.forward(impl.make(Xl), W, B)
    assert np.mean(np.argmax(np.asarray(acts[-1]), axis=1) == labels) >= 0.95


def test_nan_in_the_input_comes_out_as_nan_never_as_a_quiet_number(impl):
    X, Y, W, B = to_impl(impl, *chapter_case())
    Xl = impl.tolist(X)
    Xl[1][2] = float("nan")
    acts, _ = impl.api.forward(impl.make(Xl), W, B)
    probs = np.asarray(acts[-1], dtype=np.float64)
    assert np.isnan(probs[1]).all() and np.isfinite(probs[[0, 2]]).all()
    assert np.isnan(impl.api.cross_entropy(acts[-1], Y))


# --- native's argument checks ---------------------------------------------------

@pytest.mark.parametrize("case,exc,match", [
    ("x_wrong_columns", ValueError, "X must have 4 columns"),
    ("x_int", TypeError, "X must be float32 or float64"),
    ("x_mixed_dtype", TypeError, "X must be float64"),
    ("x_1d", ValueError, "X must be 2-D"),
    ("x_not_contiguous", ValueError, "X must be C-contiguous"),
    ("x_empty", ValueError, "empty batch"),
    ("bias_shape", ValueError, r"biases\[0\] must have shape \(1, 5\)"),
    ("weights_chain", ValueError, r"weights\[1\] must have 5 rows"),
    ("y_not_onehot", ValueError, "y_onehot row 1 must be one-hot"),
    ("y_shape", ValueError, r"y_onehot must have shape \(3, 3\)"),
    ("biases_none", ValueError, "biases must be a list of 2 one-row matrices"),
    ("activation_width", ValueError, r"activations\[1\] must have shape \(3, 5\)"),
    ("lr_nan", ValueError, "lr must be a finite real number"),
    ("lr_str", ValueError, "lr must be a finite real number"),
])
def test_native_api_rejects_bad_input_naming_the_argument(case, exc, match):
    X, Y, W, B = to_impl(IMPLS["native-float64"](), *chapter_case())
    def run():
        if case == "x_wrong_columns":
            native.forward(np.zeros((3, 5)), W, B)
        elif case == "x_int":
            native.forward(np.zeros((3, 4), dtype=np.int32), W, B)
        elif case == "x_mixed_dtype":
            native.forward(X.astype(np.float32), W, B)
        elif case == "x_1d":
            native.forward(X[0], W, B)
        elif case == "x_not_contiguous":
            native.forward(np.zeros((3, 8))[:, ::2], W, B)
        elif case == "x_empty":
            native.forward(np.zeros((0, 4)), W, B)
        elif case == "bias_shape":
            native.forward(X, W, [np.zeros((5,)).reshape(5, 1), B[1]])
        elif case == "weights_chain":
            native.forward(X, [W[0], np.zeros((4, 3))], B)
        elif case == "y_not_onehot":
            acts, pres = native.forward(X, W, B)
            bad = Y.copy()
            bad[1] = [0.5, 0.5, 0.0]
            native.backward(acts, pres, W, bad)
        elif case == "biases_none":
            native.forward(X, W, None)
        elif case == "activation_width":
            acts, pres = native.forward(X, W, B)
            native.backward([acts[0], np.zeros((3, 4)), acts[2]], pres, W, Y)
        elif case == "y_shape":
            native.cross_entropy(native.forward(X, W, B)[0][-1], Y[:2])
        elif case in ("lr_nan", "lr_str"):
            gw, gb = gradients(native, X, Y, W, B)
            native.sgd_update(W, B, gw, gb, float("nan") if case == "lr_nan" else "0.1")
    with pytest.raises(exc, match=match):
        run()


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"callback": 3}, TypeError, "callback must be a function"),
    ({"decay_rate": -0.5}, ValueError, "decay_rate must not be negative"),
    ({"shuffle": "no"}, TypeError, "shuffle must be True or False"),
])
def test_train_refuses_bad_settings_before_touching_the_weights(impl, kwargs, exc, match):
    X, Y, W, B = to_impl(impl, *chapter_case())
    before = [impl.tolist(w) for w in W]
    with pytest.raises(exc, match=match):
        impl.api.train(X, Y, W, B, epochs=2, batch_size=2, **kwargs)
    assert [impl.tolist(w) for w in W] == before


@pytest.mark.parametrize("eps", [0.0, -1e-5])
@pytest.mark.parametrize("name", ["pure", "native-float64"])
def test_numerical_gradient_refuses_a_step_that_is_not_positive(name, eps):
    impl = IMPLS[name]()
    X, Y, W, B = to_impl(impl, *chapter_case())
    with pytest.raises(ValueError, match="eps must be"):
        impl.api.numerical_gradient(lambda: 0.0, W[0], eps=eps)


# --- claims the docstrings make, each with a test that fails without it (issue 13, point 12) ----

@pytest.mark.parametrize("row", [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], ids=["two-ones", "no-one"])
def test_one_hot_check_wants_exactly_one_1_per_row(impl, row):
    """A row of zeros and ones is not enough: [1, 1, 0] and [0, 0, 0] are not one-hot."""
    X, Y, W, B = to_impl(impl, *chapter_case())
    acts, pres = impl.api.forward(X, W, B)
    bad = impl.tolist(Y)
    bad[2] = row
    bad = impl.make(bad)
    with pytest.raises(ValueError, match="one-hot"):
        impl.api.cross_entropy(acts[-1], bad)
    with pytest.raises(ValueError, match="one-hot"):
        impl.api.backward(acts, pres, W, bad)
    before = [impl.tolist(w) for w in W]
    with pytest.raises(ValueError, match="one-hot"):
        impl.api.train(X, bad, W, B, epochs=1, batch_size=2)
    assert [impl.tolist(w) for w in W] == before


def test_relu_derivative_at_exactly_zero_is_zero_like_the_chapters_z_gt_0(impl):
    """An all-zero input row with zero biases puts every hidden Z at exactly 0: no gradient passes."""
    _, _, W, _ = chapter_case()
    X = impl.make([[0.0, 0.0, 0.0, 0.0]])
    W = [impl.make(w) for w in W]
    B = [impl.make([[0.0] * 5]), impl.make([[0.0] * 3])]
    acts, pres = impl.api.forward(X, W, B)
    assert impl.tolist(pres[0]) == [[0.0] * 5]                      # z = 0 reached for real
    grad_w, grad_b = impl.api.backward(acts, pres, W, impl.make([[0.0, 1.0, 0.0]]))
    assert impl.tolist(grad_b[0]) == [[0.0] * 5]                    # ReLU'(0) = 0: δ₁ = 0
    assert any(g != 0 for g in impl.tolist(grad_b[1])[0])           # while the output layer learns


def test_pure_relu_derivative_is_0_at_0_and_1_above():
    from pure.network import relu_derivative
    assert relu_derivative(0.0) == 0.0 and relu_derivative(-0.0) == 0.0
    assert relu_derivative(1e-300) == 1.0 and relu_derivative(-1e-300) == 0.0


def test_sgd_update_refuses_a_read_only_later_layer_before_changing_any():
    X, Y, W, B = to_impl(IMPLS["native-float64"](), *chapter_case())
    grad_w, grad_b = gradients(native, X, Y, W, B)
    before = [a.copy() for a in W + B]
    B[1].flags.writeable = False
    with pytest.raises(ValueError, match=r"biases\[1\] must be writeable"):
        native.sgd_update(W, B, grad_w, grad_b, 0.1)
    for a, b in zip(W + B, before):
        np.testing.assert_array_equal(a, b)


def test_train_refuses_read_only_weights_before_changing_any():
    X, Y, W, B = to_impl(IMPLS["native-float64"](), *chapter_case())
    before = [a.copy() for a in W + B]
    W[1].flags.writeable = False
    with pytest.raises(ValueError, match=r"weights\[1\] must be writeable"):
        native.train(X, Y, W, B, epochs=1, batch_size=2)
    for a, b in zip(W + B, before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["pure", "native-float64"])
def test_numerical_gradient_puts_the_entry_back_when_loss_fn_raises(name):
    impl = IMPLS[name]()
    param = impl.make([[0.25, -2.0]])
    calls = []

    def loss_fn():
        calls.append(1)
        if len(calls) == 3:                     # the first entry done, the second at θ + ε
            raise KeyboardInterrupt
        return 0.0
    with pytest.raises(KeyboardInterrupt):
        impl.api.numerical_gradient(loss_fn, param)
    assert impl.tolist(param) == [[0.25, -2.0]]


def test_native_numerical_gradient_refuses_float32_instead_of_returning_noise():
    X, Y, W, B = to_impl(IMPLS["native-float32"](), *chapter_case())
    with pytest.raises(TypeError, match="param must be float64 for a numerical gradient, got float32"):
        native.numerical_gradient(lambda: native.cross_entropy(native.forward(X, W, B)[0][-1], Y), W[0])


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_init_network_refuses_a_seed_that_is_not_a_non_negative_int(impl, seed):
    kw = {} if impl.name == "pure" else {"dtype": impl.dtype}
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        impl.api.init_network([4, 5, 3], seed=seed, **kw)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_native_cross_entropy_clips_a_zero_probability_to_the_smallest_normal_float(dtype):
    loss = native.cross_entropy(np.array([[0.0, 1.0]], dtype=dtype), np.array([[1.0, 0.0]], dtype=dtype))
    assert loss == pytest.approx(-np.log(np.finfo(dtype).tiny.astype(np.float64)), rel=1e-6)


def test_he_init_keeps_the_size_of_the_relu_signal_from_layer_to_layer(impl):
    """init_network's reason for √(2/nᵢ): the mean square of the activations neither dies nor explodes."""
    kw = {} if impl.name == "pure" else {"dtype": impl.dtype}
    sizes = [100] * 7 + [10]
    W, B = impl.api.init_network(sizes, seed=3, **kw)
    X = impl.make(np.random.default_rng(0).standard_normal((40, 100)).tolist())
    acts, _ = impl.api.forward(X, W, B)
    power = [float(np.mean(np.asarray(a, dtype=np.float64) ** 2)) for a in acts[1:-1]]
    # one ReLU halves E[a²] of a unit-variance z; He's factor 2 doubles it back: E[a²] stays ≈ 1
    assert all(0.5 < p < 2.0 for p in power), power


def test_pure_relu_lets_nan_through_as_nan():
    import math
    from pure.network import relu
    assert math.isnan(relu(float("nan")))
    assert relu(-3.0) == 0.0 and relu(2.5) == 2.5
