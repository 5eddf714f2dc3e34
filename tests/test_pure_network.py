"""The forward pass, softmax, cross-entropy, initialisation and the SGD step of ``pure``."""

import math
import statistics

import pytest

from pure import (backward, cross_entropy, forward, init_network, relu, sgd_update,
                  softmax)
from pure.linalg import add_row, column_sums, matmul, transpose


def test_init_network_has_the_chapters_shapes_and_zero_biases():
    weights, biases = init_network([784, 64, 32, 10], seed=0)
    assert [(len(W), len(W[0])) for W in weights] == [(784, 64), (64, 32), (32, 10)]
    assert biases == [[[0.0] * 64], [[0.0] * 32], [[0.0] * 10]]
    assert all(type(x) is float for W in weights for row in W for x in row)


def test_init_network_is_he_initialisation_with_std_sqrt_2_over_fan_in():
    weights, _ = init_network([784, 64, 32, 10], seed=0)
    for W in weights:
        entries = [x for row in W for x in row]
        expected = math.sqrt(2 / len(W))
        assert statistics.fmean(entries) == pytest.approx(0.0, abs=4 * expected / math.sqrt(len(entries)))
        assert statistics.pstdev(entries) == pytest.approx(expected, rel=0.15)


def test_init_network_draws_from_one_seeded_generator_row_by_row():
    import random
    rng = random.Random(5)
    expected_first = [[rng.gauss(0, math.sqrt(2 / 3)) for _ in range(2)] for _ in range(3)]
    weights, _ = init_network([3, 2, 4], seed=5)
    assert weights[0] == expected_first
    assert init_network([3, 2, 4], seed=5) == init_network([3, 2, 4], seed=5)
    assert init_network([3, 2, 4], seed=5) != init_network([3, 2, 4], seed=6)


def test_linalg_helpers_do_what_numpy_would():
    A = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    B = [[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]]
    assert matmul(A, B) == [[5.0, 2.0, 0.0], [11.0, 4.0, -1.0], [17.0, 6.0, -2.0]]
    assert transpose(A) == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
    assert add_row(A, [[10.0, 20.0]]) == [[11.0, 22.0], [13.0, 24.0], [15.0, 26.0]]
    assert column_sums(A) == [[9.0, 12.0]]


def test_forward_returns_every_layer_with_x_first():
    weights, biases = init_network([4, 5, 6, 3], seed=0)
    X = [[0.1, -0.2, 0.3, 0.4], [1.0, 0.0, -1.0, 2.0]]
    activations, pre_activations = forward(X, weights, biases)
    assert activations[0] is X
    assert [(len(A), len(A[0])) for A in activations] == [(2, 4), (2, 5), (2, 6), (2, 3)]
    assert [(len(Z), len(Z[0])) for Z in pre_activations] == [(2, 5), (2, 6), (2, 3)]


def test_forward_is_relu_on_hidden_layers_and_softmax_on_the_last():
    weights, biases = init_network([3, 4, 2], seed=1)
    biases[0][0] = [0.1, -0.1, 0.2, -0.2]
    X = [[1.0, -2.0, 0.5]]
    activations, pre_activations = forward(X, weights, biases)
    Z1 = add_row(matmul(X, weights[0]), biases[0])
    assert pre_activations[0] == Z1
    assert activations[1] == [[max(0.0, z) for z in Z1[0]]]
    assert activations[2] == softmax(pre_activations[1])


def test_relu_switches_negative_signals_off():
    assert [relu(z) for z in (-2.0, 0.0, 3.5)] == [0.0, 0.0, 3.5]


def test_softmax_rows_sum_to_one():
    Z = [[1.0, 2.0, 3.0], [-5.0, 0.0, 5.0], [0.0, 0.0, 0.0]]
    for row in softmax(Z):
        assert math.fsum(row) == pytest.approx(1.0, abs=1e-15)
        assert all(p > 0 for p in row)
    assert softmax([[0.0, 0.0]]) == [[0.5, 0.5]]


def test_softmax_is_stable_for_huge_logits():
    probs = softmax([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    assert probs[0] == [1.0, 0.0, 0.0]
    assert probs[1][0] == probs[1][1] == pytest.approx(1 / (2 + math.exp(-1)))
    assert probs[2] == pytest.approx([1 / 3] * 3)
    assert all(math.isfinite(p) for row in probs for p in row)


def test_cross_entropy_is_the_mean_negative_log_probability_of_the_true_class():
    probs = [[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]
    y_onehot = [[1.0, 0.0, 0.0], [0, 0, 1]]
    assert cross_entropy(probs, y_onehot) == pytest.approx(-(math.log(0.7) + math.log(0.5)) / 2)


def test_cross_entropy_is_finite_when_a_probability_is_exactly_zero():
    loss = cross_entropy([[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [1.0, 0.0]])
    assert math.isfinite(loss)
    # clipped to the smallest normal float: −log(2.2e-308) ≈ 708.4
    assert loss == pytest.approx((708.3964185322641 + math.log(2)) / 2)


def test_cross_entropy_of_a_confident_right_answer_is_zero():
    assert cross_entropy([[1.0, 0.0]], [[1.0, 0.0]]) == 0.0


def test_forward_then_cross_entropy_stays_finite_on_logits_of_1000():
    weights = [[[1000.0, -1000.0]]]
    biases = [[[0.0, 0.0]]]
    activations, _ = forward([[1.0]], weights, biases)
    assert math.isfinite(cross_entropy(activations[-1], [[0.0, 1.0]]))


def test_sgd_update_moves_against_the_gradient_in_place():
    weights, biases = [[[1.0, 2.0]]], [[[0.5, -0.5]]]
    W_row, b_row = weights[0][0], biases[0][0]
    result = sgd_update(weights, biases, [[[10.0, -10.0]]], [[[1.0, 2.0]]], lr=0.1)
    assert result is None
    assert weights == [[[0.0, 3.0]]]
    assert biases == [[[0.4, -0.7]]]
    assert weights[0][0] is W_row and biases[0][0] is b_row    # the same row lists, changed


def test_one_sgd_step_on_the_backprop_gradient_lowers_the_loss():
    weights, biases = init_network([4, 5, 3], seed=0)
    X = [[0.5, -1.0, 2.0, 0.1], [1.0, 1.0, -0.5, 0.0], [-1.5, 0.2, 0.3, 0.8]]
    y_onehot = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    activations, pre_activations = forward(X, weights, biases)
    before = cross_entropy(activations[-1], y_onehot)
    sgd_update(weights, biases, *backward(activations, pre_activations, weights, y_onehot), lr=0.01)
    after = cross_entropy(forward(X, weights, biases)[0][-1], y_onehot)
    assert after < before


def test_linalg_helpers_return_new_matrices_and_leave_their_arguments_alone():
    """pure.linalg's promise: only subtract_scaled_in_place changes its argument."""
    from pure.linalg import apply, hadamard, scale, subtract, subtract_scaled_in_place
    A = [[1.0, -2.0], [3.0, 4.0]]
    B = [[0.5, 0.5], [-1.0, 2.0]]
    A0, B0 = [r[:] for r in A], [r[:] for r in B]
    results = [transpose(A), matmul(A, B), add_row(A, [[1.0, 1.0]]), subtract(A, B),
               hadamard(A, B), scale(A, 2.0), apply(abs, A), column_sums(A)]
    assert A == A0 and B == B0
    for result in results:
        assert result is not A and all(row is not a_row for row in result for a_row in A)
    subtract_scaled_in_place(A, B, 2.0)
    assert A == [[0.0, -3.0], [5.0, 0.0]] and B == B0


def test_cross_entropy_of_a_zero_probability_is_minus_log_of_the_smallest_normal_float():
    """The docstring's number: one such sample costs −log(2.2e-308) ≈ 708.4, not inf."""
    import math
    import sys
    loss = cross_entropy([[0.0, 1.0]], [[1.0, 0.0]])
    assert loss == -math.log(sys.float_info.min)
    assert 708.3 < loss < 708.4
