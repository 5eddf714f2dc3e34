"""Backprop in ``pure`` agrees with numerical gradients (§5.8, exercise 3), and the erratum."""

import pytest

from pure import backward, cross_entropy, forward, numerical_gradient
from pure.gradcheck import (THRESHOLD, backward_with_chapter_bias, count_relu_kinks,
                            format_table, gradient_check, max_relative_error, random_problem,
                            relative_error)


def loss_function(X, y_onehot, weights, biases):
    def loss_fn():
        activations, _ = forward(X, weights, biases)
        return cross_entropy(activations[-1], y_onehot)
    return loss_fn


def backprop_and_numerical(sizes, samples, seed, backprop=backward):
    """Every parameter's (name, analytic, numerical) on a seeded random problem."""
    X, y_onehot, weights, biases = random_problem(sizes, samples, seed)
    _, pre_activations = forward(X, weights, biases)
    assert count_relu_kinks(pre_activations) == 0, "pick a seed with no ReLU kink within eps"
    activations, pre_activations = forward(X, weights, biases)
    grad_w, grad_b = backprop(activations, pre_activations, weights, y_onehot)
    loss_fn = loss_function(X, y_onehot, weights, biases)
    pairs = []
    for i in range(len(weights)):
        pairs.append((f"W{i + 1}", grad_w[i], numerical_gradient(loss_fn, weights[i])))
        pairs.append((f"b{i + 1}", grad_b[i], numerical_gradient(loss_fn, biases[i])))
    return pairs


@pytest.mark.parametrize("name", ["W1", "b1", "W2", "b2"])
def test_backward_matches_numerical_on_4_5_3_with_3_samples(name):
    pairs = dict((n, (a, num)) for n, a, num in backprop_and_numerical([4, 5, 3], 3, seed=0))
    analytic, numerical = pairs[name]
    assert max_relative_error(analytic, numerical) <= 1e-7


@pytest.mark.parametrize("sizes, samples, seed", [
    ([3, 4, 4, 4, 2], 5, 0),     # four layers deep
    ([6, 2, 3], 4, 1),           # a 2-unit bottleneck
    ([2, 7, 1], 3, 2),           # a single output class: softmax is 1, every gradient is 0
    ([5, 3], 2, 0),              # no hidden layer: softmax regression
])
def test_backward_matches_numerical_on_other_shapes(sizes, samples, seed):
    for name, analytic, numerical in backprop_and_numerical(sizes, samples, seed):
        error = max_relative_error(analytic, numerical)
        assert error <= 1e-7, f"{name}: max relative error {error:.2e}"


def test_backward_returns_gradients_shaped_like_the_parameters():
    X, y_onehot, weights, biases = random_problem([4, 5, 3], 3, seed=0)
    activations, pre_activations = forward(X, weights, biases)
    grad_w, grad_b = backward(activations, pre_activations, weights, y_onehot)
    assert [(len(g), len(g[0])) for g in grad_w] == [(4, 5), (5, 3)]
    assert [(len(g), len(g[0])) for g in grad_b] == [(1, 5), (1, 3)]


def test_chapter_bias_formula_is_off_by_batch_size():
    """mean(δ) on top of δ = (A − Y)/N divides by N twice: biases N× too small, weights fine."""
    N = 3
    pairs = backprop_and_numerical([4, 5, 3], N, seed=0, backprop=backward_with_chapter_bias)
    for name, chapter, numerical in pairs:
        if name.startswith("W"):
            assert max_relative_error(chapter, numerical) <= 1e-7
            continue
        assert max_relative_error(chapter, numerical) > 0.4     # fails the check loudly
        for c, n in zip(chapter[0], numerical[0]):
            assert n / c == pytest.approx(N, rel=1e-6)


def test_chapter_bias_ratio_follows_the_batch_size():
    N = 7
    for name, chapter, numerical in backprop_and_numerical([4, 5, 3], N, seed=0,
                                                           backprop=backward_with_chapter_bias):
        if name.startswith("b"):
            assert [n / c for c, n in zip(chapter[0], numerical[0])] == \
                pytest.approx([N] * len(chapter[0]), rel=1e-6)


def test_gradient_check_reports_every_parameter_of_the_4_5_3_network():
    rows = gradient_check([4, 5, 3], 3, seed=0)
    assert [(row.name, row.shape) for row in rows] == \
        [("W1", (4, 5)), ("b1", (1, 5)), ("W2", (5, 3)), ("b2", (1, 3))]
    assert all(row.passed and row.by_rounding == 0 and row.at_kink == 0 for row in rows)
    assert all(row.error <= THRESHOLD for row in rows)


def test_numerical_gradient_restores_every_entry_exactly():
    param = [[0.1, -0.2, 0.3], [1e-3, 7.0, -1 / 3]]
    before = [row[:] for row in param]
    grad = numerical_gradient(lambda: sum(x * x for row in param for x in row), param)
    assert param == before
    assert grad is not param and len(grad) == 2 and len(grad[0]) == 3
    # L = Σ θ² has slope 2θ; the loss is ≈ 49 here, so rounding limits agreement to ~1e-8
    assert max_relative_error(grad, [[2 * x for x in row] for row in before]) < 1e-6


def test_numerical_gradient_restores_the_entry_when_loss_fn_raises_midway():
    param = [[0.5, -1.5]]
    calls = []

    def loss_fn():
        calls.append(param[0][0])
        if len(calls) == 2:             # the second evaluation, at θ − ε
            raise KeyboardInterrupt     # what Ctrl-C raises in the middle of a check
        return param[0][0] ** 2

    with pytest.raises(KeyboardInterrupt):
        numerical_gradient(loss_fn, param)
    assert calls == [0.5 + 1e-5, 0.5 - 1e-5]
    assert param == [[0.5, -1.5]]


@pytest.mark.parametrize("value", [None, "1.0", [1.0], True])
def test_numerical_gradient_refuses_a_loss_fn_that_does_not_return_a_number(value):
    param = [[0.5]]
    with pytest.raises(TypeError, match="loss_fn must return the loss as one number"):
        numerical_gradient(lambda: value, param)
    assert param == [[0.5]]


def test_numerical_gradient_is_the_central_difference():
    param = [[2.0]]
    # L = θ³: (L(θ+ε) − L(θ−ε)) / 2ε = 3θ² + ε², exactly the central difference
    grad = numerical_gradient(lambda: param[0][0] ** 3, param, eps=1e-2)
    assert grad[0][0] == pytest.approx(3 * 4.0 + 1e-4, rel=1e-12)


def test_relative_error_is_cs231n_style():
    assert relative_error(1.0, 1.0) == 0.0
    assert relative_error(0.0, 0.0) == 0.0          # the floor keeps 0/0 away
    assert relative_error(1.0, 0.0) == 1.0
    assert relative_error(1.0, -1.0) == 1.0
    assert relative_error(3.0, 1.0) == pytest.approx(0.5)
    assert relative_error(1e-13, 0.0) == pytest.approx(0.1)   # |a−n| / 1e-12


def test_max_relative_error_accepts_any_nested_rows_and_rejects_mismatched_shapes():
    assert max_relative_error(((1.0, 2.0),), [[1.0, 2.0 * (1 + 2e-9)]]) == pytest.approx(1e-9, rel=1e-3)
    with pytest.raises(ValueError, match="2 entries"):
        max_relative_error([[1.0, 2.0]], [[1.0]])


def test_count_relu_kinks_counts_hidden_preactivations_within_eps_of_zero():
    pre_activations = [[[1e-6, 0.5], [-2e-6, -0.1]], [[1e-9, 0.0]]]   # the last layer is not ReLU
    assert count_relu_kinks(pre_activations) == 2


def test_format_table_prints_a_header_a_rule_and_one_aligned_line_per_row():
    text = format_table([("W1", (4, 5), 2.5e-10, True), ("b12", (1, 5), 0.5, False)])
    assert text.splitlines() == [
        "parameter  shape  max rel. error  result",
        "---------  -----  --------------  ------",
        "W1         4×5    2.50e-10        pass",
        "b12        1×5    5.00e-01        FAIL",
    ]


def test_format_table_takes_any_header_for_other_comparisons():
    header = ("parameter", "shape", "pure vs numerical", "native vs pure", "result")
    lines = format_table([("W1", (4, 5), 1e-10, 0.0, True)], header=header).splitlines()
    assert lines[0].split("  ")[:3] == ["parameter", "shape", "pure vs numerical"]
    assert lines[2].split() == ["W1", "4×5", "1.00e-10", "0.00e+00", "pass"]
    with pytest.raises(ValueError, match="table row 0 has 4 cells, expected 5"):
        format_table([("W1", (4, 5), 1e-10, True)], header=header)
