"""Wrong input to ``pure`` fails at the door with a message that names what was expected and what came."""

import math

import pytest

from pure import (backward, cross_entropy, forward, init_network, numerical_gradient,
                  sgd_update, train)


@pytest.fixture
def net():
    """A 4→5→3 network, a 3-sample batch and its labels."""
    weights, biases = init_network([4, 5, 3], seed=0)
    X = [[0.1, 0.2, 0.3, 0.4], [0.5, -0.6, 0.7, 0.8], [-0.9, 1.0, 1.1, 1.2]]
    y_onehot = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    return X, y_onehot, weights, biases


# --- forward -----------------------------------------------------------------

def test_forward_rejects_a_ragged_batch_naming_the_row(net):
    X, _, weights, biases = net
    X[2] = [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match=r"X row 2 has 3 entries, expected 4"):
        forward(X, weights, biases)


def test_forward_names_the_short_row_even_when_it_is_row_0(net):
    X, _, weights, biases = net
    X[0] = [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match=r"X row 0 has 3 entries, expected 4$"):
        forward(X, weights, biases)


def test_a_ragged_matrix_with_no_expected_width_is_measured_against_row_0():
    with pytest.raises(ValueError, match=r"probs row 1 has 1 entries, expected 2 \(like row 0\)"):
        cross_entropy([[0.5, 0.5], [1.0]], [[1.0, 0.0], [1.0, 0.0]])


def test_forward_rejects_x_with_the_wrong_number_of_features(net):
    _, _, weights, biases = net
    with pytest.raises(ValueError, match=r"X has 3 columns, expected 4 .*weights\[0\] has 4 rows"):
        forward([[1.0, 2.0, 3.0]], weights, biases)


def test_forward_rejects_an_empty_batch(net):
    _, _, weights, biases = net
    with pytest.raises(ValueError, match=r"X is empty: expected at least one row"):
        forward([], weights, biases)


def test_forward_rejects_weights_that_do_not_chain(net):
    X, _, weights, biases = net
    weights[1] = [[0.0] * 3 for _ in range(4)]
    with pytest.raises(ValueError, match=r"weights\[1\] has 4 rows, expected 5 .*weights\[0\] has 5 columns"):
        forward(X, weights, biases)


def test_forward_rejects_a_ragged_weight_matrix(net):
    X, _, weights, biases = net
    weights[0][3] = [0.0, 0.0]
    with pytest.raises(ValueError, match=r"weights\[0\] row 3 has 2 entries, expected 5"):
        forward(X, weights, biases)


def test_forward_rejects_a_bias_that_does_not_match_its_weights(net):
    X, _, weights, biases = net
    biases[1] = [[0.0, 0.0]]
    with pytest.raises(ValueError, match=r"biases\[1\] has 2 entries, expected 3 .*weights\[1\] has 3 columns"):
        forward(X, weights, biases)


def test_forward_rejects_a_bias_that_is_not_one_row(net):
    X, _, weights, biases = net
    biases[0] = [[0.0] * 5, [0.0] * 5]
    with pytest.raises(ValueError, match=r"biases\[0\] has 2 rows, expected a bias of one row, shape \(1, 5\)"):
        forward(X, weights, biases)


def test_forward_rejects_a_flat_bias_and_shows_the_one_row_form(net):
    X, _, weights, biases = net
    biases[0] = [0.0] * 5
    with pytest.raises(ValueError, match=r"biases\[0\] is a flat list of 5 numbers, expected a one-row matrix \[\[b0, b1, \.\.\.\]\]"):
        forward(X, weights, biases)


def test_forward_rejects_a_missing_bias(net):
    X, _, weights, biases = net
    with pytest.raises(ValueError, match=r"biases must be a list of 2 one-row matrices .*got 1"):
        forward(X, weights, biases[:1])


def test_forward_rejects_no_layers_at_all(net):
    X, *_ = net
    with pytest.raises(ValueError, match=r"weights must be a non-empty list"):
        forward(X, [], [])


def test_forward_rejects_a_non_number_entry_naming_where_it_is(net):
    X, _, weights, biases = net
    X[1][2] = "0.7"
    with pytest.raises(TypeError, match=r"X row 1 entry 2 is '0.7' \(str\), expected a number"):
        forward(X, weights, biases)


def test_forward_rejects_a_flat_list_as_x(net):
    _, _, weights, biases = net
    with pytest.raises(ValueError, match=r"X row 0 must be a list of numbers, got 0.1 \(float\)"):
        forward([0.1, 0.2, 0.3, 0.4], weights, biases)


# --- cross_entropy -------------------------------------------------------------

def test_cross_entropy_rejects_labels_that_are_not_one_hot():
    with pytest.raises(ValueError, match=r"y_onehot row 1 is not one-hot: expected exactly one 1 and zeros, got \[0.5, 0.5\]"):
        cross_entropy([[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0], [0.5, 0.5]])


def test_cross_entropy_rejects_a_row_with_two_ones():
    with pytest.raises(ValueError, match=r"y_onehot row 0 is not one-hot"):
        cross_entropy([[0.5, 0.5]], [[1.0, 1.0]])


def test_cross_entropy_rejects_an_all_zero_label_row():
    with pytest.raises(ValueError, match=r"y_onehot row 0 is not one-hot"):
        cross_entropy([[0.5, 0.5]], [[0.0, 0.0]])


def test_cross_entropy_accepts_integer_one_hot_labels():
    assert cross_entropy([[0.5, 0.5]], [[0, 1]]) == pytest.approx(math.log(2))


def test_cross_entropy_rejects_labels_of_another_shape():
    with pytest.raises(ValueError, match=r"y_onehot has 3 columns, expected 2 .*the shape of probs, \(1, 2\)"):
        cross_entropy([[0.5, 0.5]], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"y_onehot has 2 rows, expected 1"):
        cross_entropy([[0.5, 0.5]], [[1.0, 0.0], [0.0, 1.0]])


def test_cross_entropy_rejects_an_empty_batch():
    with pytest.raises(ValueError, match=r"probs is empty"):
        cross_entropy([], [])


# --- backward ------------------------------------------------------------------

def test_backward_rejects_labels_that_are_not_one_hot(net):
    X, y_onehot, weights, biases = net
    activations, pre_activations = forward(X, weights, biases)
    y_onehot[2] = [0.0, 2.0, 0.0]
    with pytest.raises(ValueError, match=r"y_onehot row 2 is not one-hot"):
        backward(activations, pre_activations, weights, y_onehot)


def test_backward_rejects_labels_for_another_batch_size(net):
    X, y_onehot, weights, biases = net
    activations, pre_activations = forward(X, weights, biases)
    with pytest.raises(ValueError, match=r"y_onehot has 2 rows, expected 3"):
        backward(activations, pre_activations, weights, y_onehot[:2])


def test_backward_rejects_activations_of_the_wrong_length(net):
    X, y_onehot, weights, biases = net
    activations, pre_activations = forward(X, weights, biases)
    with pytest.raises(ValueError, match=r"activations must be \[X, A1, \.\.\., A2\], 3 matrices .*got 2"):
        backward(activations[1:], pre_activations, weights, y_onehot)
    with pytest.raises(ValueError, match=r"pre_activations must be \[Z1, \.\.\., Z2\], 2 matrices .*got 1"):
        backward(activations, pre_activations[:1], weights, y_onehot)


def test_backward_rejects_a_pre_activation_of_the_wrong_shape(net):
    X, y_onehot, weights, biases = net
    activations, pre_activations = forward(X, weights, biases)
    pre_activations[0] = [row[:4] for row in pre_activations[0]]
    with pytest.raises(ValueError, match=r"pre_activations\[0\] has 4 columns, expected 5"):
        backward(activations, pre_activations, weights, y_onehot)


def test_backward_rejects_an_empty_batch(net):
    _, _, weights, _ = net
    with pytest.raises(ValueError, match=r"activations\[0\] is empty"):
        backward([[], [], []], [[], []], weights, [])


# --- init_network ----------------------------------------------------------------

@pytest.mark.parametrize("sizes, message", [
    ([784], r"sizes must list at least 2 layer sizes"),
    ([], r"sizes must list at least 2 layer sizes"),
    ([4, 0, 3], r"sizes\[1\] must be a positive int, got 0"),
    ([4, -5, 3], r"sizes\[1\] must be a positive int, got -5"),
    ([4, 5.0, 3], r"sizes\[1\] must be a positive int, got 5.0 \(float\)"),
    ([4, True], r"sizes\[1\] must be a positive int, got True"),
    ("43", r"sizes must list at least 2 layer sizes"),
])
def test_init_network_rejects_bad_sizes(sizes, message):
    with pytest.raises(ValueError, match=message):
        init_network(sizes)


# --- sgd_update ------------------------------------------------------------------

def test_sgd_update_rejects_gradients_of_another_shape(net):
    _, _, weights, biases = net
    grad_w = [[[0.0] * 5 for _ in range(4)], [[0.0] * 2 for _ in range(5)]]
    grad_b = [[[0.0] * 5], [[0.0] * 3]]
    with pytest.raises(ValueError, match=r"grad_w\[1\] has 2 columns, expected 3"):
        sgd_update(weights, biases, grad_w, grad_b, 0.1)


def test_sgd_update_rejects_biases_that_do_not_match_the_weights(net):
    _, _, weights, biases = net
    with pytest.raises(ValueError, match=r"biases must be a list of 2 one-row matrices .*got 1"):
        sgd_update(weights, biases[:1], [[[0.0] * 5] * 4, [[0.0] * 3] * 5], [[[0.0] * 5]], 0.1)


def test_sgd_update_rejects_a_non_finite_learning_rate(net):
    X, y_onehot, weights, biases = net
    grads = backward(*forward(X, weights, biases), weights, y_onehot)
    with pytest.raises(ValueError, match=r"lr must be a finite number, got nan"):
        sgd_update(weights, biases, *grads, float("nan"))


# --- train ---------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_train_rejects_a_batch_size_below_one(net, batch_size):
    X, y_onehot, weights, biases = net
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got"):
        train(X, y_onehot, weights, biases, batch_size=batch_size)


@pytest.mark.parametrize("lr", [float("inf"), float("-inf"), float("nan"), "0.1"])
def test_train_rejects_a_non_finite_learning_rate(net, lr):
    X, y_onehot, weights, biases = net
    with pytest.raises(ValueError, match=r"lr must be a finite number"):
        train(X, y_onehot, weights, biases, lr=lr)


def test_train_rejects_labels_for_another_number_of_samples(net):
    X, y_onehot, weights, biases = net
    with pytest.raises(ValueError, match=r"y_onehot has 2 rows, expected 3"):
        train(X, y_onehot[:2], weights, biases)


def test_train_rejects_labels_that_are_not_one_hot(net):
    X, y_onehot, weights, biases = net
    y_onehot[0] = [0.2, 0.3, 0.5]
    with pytest.raises(ValueError, match=r"y_onehot row 0 is not one-hot"):
        train(X, y_onehot, weights, biases)


def test_train_rejects_an_empty_data_set(net):
    _, _, weights, biases = net
    with pytest.raises(ValueError, match=r"X is empty"):
        train([], [], weights, biases)


def test_train_rejects_a_ragged_data_set(net):
    X, y_onehot, weights, biases = net
    X[1] = X[1] + [0.0]
    with pytest.raises(ValueError, match=r"X row 1 has 5 entries, expected 4"):
        train(X, y_onehot, weights, biases)


def test_train_rejects_a_negative_number_of_epochs(net):
    X, y_onehot, weights, biases = net
    with pytest.raises(ValueError, match=r"epochs must be an int >= 0, got -1"):
        train(X, y_onehot, weights, biases, epochs=-1)


def test_train_rejects_bad_input_before_changing_any_weight(net):
    X, y_onehot, weights, biases = net
    before = [[row[:] for row in W] for W in weights]
    with pytest.raises(ValueError):
        train(X, y_onehot, weights, biases, decay_rate=float("nan"))
    assert weights == before


# --- numerical_gradient ------------------------------------------------------------

def test_numerical_gradient_rejects_a_ragged_param():
    with pytest.raises(ValueError, match=r"param row 1 has 1 entries, expected 2"):
        numerical_gradient(lambda: 0.0, [[1.0, 2.0], [3.0]])


def test_numerical_gradient_rejects_a_param_it_cannot_change_in_place():
    with pytest.raises(TypeError, match=r"param row 0 is a tuple; .* must be a list"):
        numerical_gradient(lambda: 0.0, [(1.0, 2.0)])


def test_sgd_update_rejects_rows_it_cannot_change_in_place():
    with pytest.raises(TypeError, match=r"weights\[0\] row 0 is a tuple"):
        sgd_update([[(1.0, 2.0)]], [[[0.0, 0.0]]], [[[0.0, 0.0]]], [[[0.0, 0.0]]], 0.1)


def test_forward_points_an_array_user_to_tolist(net):
    class FakeArray:                       # stands in for numpy.ndarray without importing NumPy
        def tolist(self):
            return []
    _, _, weights, biases = net
    with pytest.raises(TypeError, match=r"X must be a list of rows, got FakeArray .*\.tolist\(\)"):
        forward(FakeArray(), weights, biases)
