"""The hand-derived gradients of §5.3 and exercise 1 agree with numerical gradients."""

import math

import pytest

from pure.examples import (EXERCISE1_EXAMPLE, NEURON_EXAMPLE, exercise1_forward,
                           exercise1_gradients, exercise1_loss, exercise1_numerical_gradients,
                           exercise1_squared_gradients, exercise1_squared_loss,
                           exercise1_squared_numerical_gradients,
                           neuron_gradients, neuron_loss, neuron_numerical_gradients, sigmoid)
from pure.gradcheck import relative_error


def assert_close(analytic, numerical, tolerance=1e-7):
    assert analytic.keys() == numerical.keys()
    for name in analytic:
        error = relative_error(analytic[name], numerical[name])
        assert error <= tolerance, f"{name}: {analytic[name]} vs {numerical[name]} ({error:.1e})"


def test_single_neuron_gradient_is_2_a_minus_y_times_relu_prime_times_x():
    p, x, y = NEURON_EXAMPLE["params"], NEURON_EXAMPLE["x"], NEURON_EXAMPLE["y"]
    # z = 0.5·2 + 0.1 = 1.1 > 0, a = 1.1: ∂L/∂w = 2(1.1 − 0.3)·1·2 = 3.2, ∂L/∂b = 1.6
    assert neuron_loss(p, x, y) == pytest.approx(0.64)
    assert neuron_gradients(p, x, y) == pytest.approx({"w": 3.2, "b": 1.6})


@pytest.mark.parametrize("w, b, x, y", [
    (0.5, 0.1, 2.0, 0.3), (-1.2, 0.4, -3.0, 2.0), (2.0, -0.5, 0.7, 0.0), (0.3, 0.2, 1.5, 5.0),
])
def test_single_neuron_analytic_gradients_match_numerical(w, b, x, y):
    params = {"w": w, "b": b}
    assert_close(neuron_gradients(params, x, y), neuron_numerical_gradients(params, x, y))


def test_a_switched_off_neuron_gets_no_gradient():
    params, x, y = {"w": -0.5, "b": 0.1}, 2.0, 0.3        # z = −0.9 ≤ 0
    assert neuron_gradients(params, x, y) == {"w": 0.0, "b": 0.0}
    assert neuron_numerical_gradients(params, x, y) == {"w": 0.0, "b": 0.0}


def test_sigmoid_is_stable_and_symmetric():
    assert sigmoid(0.0) == 0.5
    assert sigmoid(1000.0) == 1.0 and sigmoid(-1000.0) == 0.0
    for z in (-3.0, -0.2, 0.7, 4.0):
        assert sigmoid(z) + sigmoid(-z) == pytest.approx(1.0)
        assert sigmoid(z) == pytest.approx(1 / (1 + math.exp(-z)))


def test_exercise1_output_error_is_a2_minus_y():
    p, x, y = EXERCISE1_EXAMPLE["params"], EXERCISE1_EXAMPLE["x"], EXERCISE1_EXAMPLE["y"]
    _, a1, _, a2 = exercise1_forward(p, x)
    grads = exercise1_gradients(p, x, y)
    assert grads["b2"] == pytest.approx(a2 - y)
    assert grads["w2"] == pytest.approx((a2 - y) * a1)


@pytest.mark.parametrize("params, x, y", [
    (EXERCISE1_EXAMPLE["params"], EXERCISE1_EXAMPLE["x"], EXERCISE1_EXAMPLE["y"]),
    ({"w1_1": 0.4, "w1_2": -0.3, "b1": 0.1, "w2": 0.8, "b2": -0.2}, (1.5, 0.5), 0.0),
    ({"w1_1": -1.1, "w1_2": 0.9, "b1": 0.3, "w2": -2.5, "b2": 0.7}, (-0.4, 2.0), 1.0),
    ({"w1_1": 2.0, "w1_2": 1.0, "b1": -0.5, "w2": 3.0, "b2": 1.0}, (1.0, 1.0), 0.0),
])
def test_exercise1_analytic_gradients_match_numerical(params, x, y):
    assert_close(exercise1_gradients(params, x, y), exercise1_numerical_gradients(params, x, y))


def test_exercise1_hidden_gradients_vanish_when_the_relu_is_off():
    params = {"w1_1": -1.0, "w1_2": -1.0, "b1": 0.0, "w2": 0.8, "b2": -0.2}
    grads = exercise1_gradients(params, (1.0, 2.0), 1.0)    # z₁ = −3
    assert grads["w1_1"] == grads["w1_2"] == grads["b1"] == grads["w2"] == 0.0
    assert grads["b2"] != 0.0
    assert_close(grads, exercise1_numerical_gradients(params, (1.0, 2.0), 1.0))


def test_exercise1_loss_is_binary_cross_entropy():
    params = {"w1_1": 0.0, "w1_2": 0.0, "b1": 0.0, "w2": 0.0, "b2": 0.0}   # a₂ = σ(0) = 1/2
    assert exercise1_loss(params, (1.0, 1.0), 1.0) == pytest.approx(math.log(2))
    assert exercise1_loss(params, (1.0, 1.0), 0.0) == pytest.approx(math.log(2))


@pytest.mark.parametrize("params, x, y", [
    (EXERCISE1_EXAMPLE["params"], EXERCISE1_EXAMPLE["x"], EXERCISE1_EXAMPLE["y"]),
    ({"w1_1": -1.1, "w1_2": 0.9, "b1": 0.3, "w2": -2.5, "b2": 0.7}, (-0.4, 2.0), 1.0),
    ({"w1_1": 2.0, "w1_2": 1.0, "b1": -0.5, "w2": 3.0, "b2": 1.0}, (1.0, 1.0), 0.0),
])
def test_exercise1_with_squared_error_matches_numerical(params, x, y):
    assert_close(exercise1_squared_gradients(params, x, y),
                 exercise1_squared_numerical_gradients(params, x, y))


def test_exercise1_squared_error_keeps_the_sigmoid_slope_in_its_output_error():
    p, x, y = EXERCISE1_EXAMPLE["params"], EXERCISE1_EXAMPLE["x"], EXERCISE1_EXAMPLE["y"]
    _, _, _, a2 = exercise1_forward(p, x)
    assert exercise1_squared_loss(p, x, y) == pytest.approx((a2 - y) ** 2)
    assert exercise1_squared_gradients(p, x, y)["b2"] == pytest.approx(2 * (a2 - y) * a2 * (1 - a2))
    # saturated and wrong: cross-entropy still pushes hard, squared error hardly at all
    saturated = dict(p, b2=-30.0)
    assert abs(exercise1_gradients(saturated, x, 1.0)["b2"]) > 0.99
    assert abs(exercise1_squared_gradients(saturated, x, 1.0)["b2"]) < 1e-10
