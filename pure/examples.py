"""Worked examples of the chain rule, small enough to do on paper.   §5.3, §5.9

§5.3's single neuron with squared error, and exercise 1 (2 inputs → 1 ReLU
neuron → 1 sigmoid output) with either loss a student may pick: binary
cross-entropy, or the squared error §5.3 uses. Each comes as three functions:
the loss, its gradient derived by hand (the chain rule, one link at a time),
and the same gradient measured by ``numerical_gradient``. The parameters are a
dict of named numbers, e.g. ``{"w": 0.5, "b": 0.1}``; the gradients come back as
a dict with the same names.

    python -m pure.examples      # prints them all, analytic next to numerical
"""

import argparse
import math
import sys

from pure import checks
from pure.gradcheck import relative_error
from pure.network import TINY, relu, relu_derivative
from pure.numerical import numerical_gradient


# ---------------------------------------------------------------------------
# §5.3: one neuron, squared error
# ---------------------------------------------------------------------------

def neuron_loss(params, x, y):
    """The §5.3 example: z = w·x + b, a = ReLU(z), L = (a − y)²."""
    z = params["w"] * x + params["b"]        # z = w·x + b
    a = relu(z)                              # a = max(0, z)
    return (a - y) ** 2                      # L = (a − y)²


def neuron_gradients(params, x, y):
    """∂L/∂w and ∂L/∂b of ``neuron_loss``, by the chain rule.   §5.3

    L depends on w only through a, and a only through z, so the slopes multiply:

        ∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w = 2(a − y) · ReLU'(z) · x
        ∂L/∂b = ∂L/∂a · ∂a/∂z · ∂z/∂b = 2(a − y) · ReLU'(z) · 1

    If the neuron is switched off (z ≤ 0), ReLU'(z) = 0 and both are 0: a neuron
    that did not fire takes no blame.
    """
    z = params["w"] * x + params["b"]
    a = relu(z)
    dL_da = 2.0 * (a - y)                    # ∂L/∂a = 2(a − y)
    dL_dz = dL_da * relu_derivative(z)       # ∂L/∂z = ∂L/∂a · ReLU'(z)
    return {"w": dL_dz * x,                  # ∂z/∂w = x
            "b": dL_dz}                      # ∂z/∂b = 1


def neuron_numerical_gradients(params, x, y, eps=1e-5):
    """∂L/∂w and ∂L/∂b of ``neuron_loss``, measured by central differences."""
    return numerical_gradients(lambda p: neuron_loss(p, x, y), params, eps)


# ---------------------------------------------------------------------------
# Exercise 1: 2 inputs → 1 ReLU hidden neuron → 1 sigmoid output
# ---------------------------------------------------------------------------

def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)), squashing any number into (0, 1).

    Written two ways so that exp() never overflows: for z < 0 we use the equal
    form e^z / (1 + e^z).
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def exercise1_forward(params, x):
    """The forward pass of exercise 1; returns (z₁, a₁, z₂, a₂).

        z₁ = w₁₁·x₁ + w₁₂·x₂ + b₁      a₁ = ReLU(z₁)      (the hidden neuron)
        z₂ = w₂·a₁ + b₂                a₂ = σ(z₂)         (the output: a probability)

    ``params`` has the keys "w1_1", "w1_2", "b1", "w2", "b2"; ``x`` is (x₁, x₂).
    """
    x1, x2 = x
    z1 = params["w1_1"] * x1 + params["w1_2"] * x2 + params["b1"]
    a1 = relu(z1)
    z2 = params["w2"] * a1 + params["b2"]
    a2 = sigmoid(z2)
    return z1, a1, z2, a2


def exercise1_loss(params, x, y):
    """Binary cross-entropy of exercise 1: L = −[y·log a₂ + (1 − y)·log(1 − a₂)], y ∈ {0, 1}.

    It is the two-class case of the chapter's cross-entropy: −log of the
    probability given to the right answer (a₂ if y = 1, 1 − a₂ if y = 0).
    Probabilities are clipped to at least TINY, as in ``cross_entropy``.
    """
    _, _, _, a2 = exercise1_forward(params, x)
    return -(y * math.log(max(a2, TINY)) + (1 - y) * math.log(max(1.0 - a2, TINY)))


def exercise1_gradients(params, x, y):
    """The gradient of ``exercise1_loss`` for all five parameters, by hand.   §5.9, exercise 1

    We choose binary cross-entropy, L = −[y·log a₂ + (1 − y)·log(1 − a₂)], because
    with a sigmoid output it simplifies exactly as softmax + cross-entropy does
    in §5.4. Walk the chain backwards, one link at a time:

    1. Loss → output.  ∂L/∂a₂ = −y/a₂ + (1 − y)/(1 − a₂) = (a₂ − y) / (a₂(1 − a₂)).
    2. Output → its input.  σ'(z) = σ(z)(1 − σ(z)), so ∂a₂/∂z₂ = a₂(1 − a₂).
    3. Multiply: the a₂(1 − a₂) cancels, and the output's error signal is
           δ₂ = ∂L/∂z₂ = a₂ − y
       (prediction minus truth, the one-output version of δ₃ = A₃ − Y).
    4. Output layer's parameters, from z₂ = w₂·a₁ + b₂:
           ∂L/∂w₂ = δ₂ · a₁          ∂L/∂b₂ = δ₂
    5. Back to the hidden neuron: ∂L/∂a₁ = δ₂ · w₂ (the error handed back
       through the weight), then through the ReLU:
           δ₁ = ∂L/∂z₁ = δ₂ · w₂ · ReLU'(z₁)
       (the one-neuron version of δ₂ = (δ₃ @ W₃ᵀ) * ReLU'(Z₂)).
    6. Hidden layer's parameters, from z₁ = w₁₁·x₁ + w₁₂·x₂ + b₁:
           ∂L/∂w₁₁ = δ₁ · x₁      ∂L/∂w₁₂ = δ₁ · x₂      ∂L/∂b₁ = δ₁

    Had we picked squared error (a₂ − y)² instead, step 3 would keep the factor:
    δ₂ = 2(a₂ − y) · a₂(1 − a₂), which fades to 0 when the sigmoid saturates —
    one reason cross-entropy is the usual partner of sigmoid and softmax
    (``exercise1_squared_gradients`` works that variant through).
    """
    x1, x2 = x
    z1, a1, z2, a2 = exercise1_forward(params, x)
    delta2 = a2 - y                                              # δ₂ = a₂ − y
    delta1 = delta2 * params["w2"] * relu_derivative(z1)         # δ₁ = δ₂ · w₂ · ReLU'(z₁)
    return {"w1_1": delta1 * x1,                                 # ∂L/∂w₁₁ = δ₁ · x₁
            "w1_2": delta1 * x2,                                 # ∂L/∂w₁₂ = δ₁ · x₂
            "b1": delta1,                                        # ∂L/∂b₁ = δ₁
            "w2": delta2 * a1,                                   # ∂L/∂w₂ = δ₂ · a₁
            "b2": delta2}                                        # ∂L/∂b₂ = δ₂


def exercise1_numerical_gradients(params, x, y, eps=1e-5):
    """The gradient of ``exercise1_loss``, measured by central differences."""
    return numerical_gradients(lambda p: exercise1_loss(p, x, y), params, eps)


# Exercise 1 with the squared error of §5.3, the loss many students reach for first

def exercise1_squared_loss(params, x, y):
    """Exercise 1's network with §5.3's squared error: L = (a₂ − y)²."""
    _, _, _, a2 = exercise1_forward(params, x)
    return (a2 - y) ** 2


def exercise1_squared_gradients(params, x, y):
    """The gradient of ``exercise1_squared_loss`` for all five parameters, by hand.

    Only the first links differ from the cross-entropy version:

    1. Loss → output.  ∂L/∂a₂ = 2(a₂ − y).
    2. Output → its input.  ∂a₂/∂z₂ = σ'(z₂) = a₂(1 − a₂).
    3. Multiply: nothing cancels this time,
           δ₂ = ∂L/∂z₂ = 2(a₂ − y) · a₂(1 − a₂)
       which fades to 0 when the sigmoid saturates (a₂ near 0 or 1), even if
       the answer is wrong — the network then learns slowly. Cross-entropy's
       δ₂ = a₂ − y has no such factor; that is why it is the usual partner of
       sigmoid and softmax.
    4.–6. From δ₂ on, the chain is the same as in ``exercise1_gradients``:
           ∂L/∂w₂ = δ₂ · a₁,  ∂L/∂b₂ = δ₂,  δ₁ = δ₂ · w₂ · ReLU'(z₁),
           ∂L/∂w₁ⱼ = δ₁ · xⱼ,  ∂L/∂b₁ = δ₁.
    """
    x1, x2 = x
    z1, a1, z2, a2 = exercise1_forward(params, x)
    delta2 = 2.0 * (a2 - y) * a2 * (1.0 - a2)                    # δ₂ = 2(a₂ − y) · a₂(1 − a₂)
    delta1 = delta2 * params["w2"] * relu_derivative(z1)         # δ₁ = δ₂ · w₂ · ReLU'(z₁)
    return {"w1_1": delta1 * x1,
            "w1_2": delta1 * x2,
            "b1": delta1,
            "w2": delta2 * a1,
            "b2": delta2}


def exercise1_squared_numerical_gradients(params, x, y, eps=1e-5):
    """The gradient of ``exercise1_squared_loss``, measured by central differences."""
    return numerical_gradients(lambda p: exercise1_squared_loss(p, x, y), params, eps)


# ---------------------------------------------------------------------------
# Shared: numerical gradients of a loss of named scalar parameters
# ---------------------------------------------------------------------------

def numerical_gradients(loss_of_params, params, eps=1e-5):
    """Numerical ∂L/∂p for every named number p in ``params``.

    ``numerical_gradient`` works on a matrix, so we lay the numbers out as one
    row, let the loss read them back by name, and label the slopes again.
    """
    names = list(params)
    row = [[float(params[name]) for name in names]]

    def loss_fn():
        return loss_of_params(dict(zip(names, row[0])))

    (slopes,) = numerical_gradient(loss_fn, row, eps)
    return dict(zip(names, slopes))


# Worked values: chosen away from ReLU's kink at 0, where no slope exists.
NEURON_EXAMPLE = {"params": {"w": 0.5, "b": 0.1}, "x": 2.0, "y": 0.3}
NEURON_OFF_EXAMPLE = {"params": {"w": -0.5, "b": 0.1}, "x": 2.0, "y": 0.3}
EXERCISE1_EXAMPLE = {"params": {"w1_1": 0.4, "w1_2": -0.3, "b1": 0.1, "w2": 0.8, "b2": -0.2},
                     "x": (1.5, 0.5), "y": 1.0}


def _print_comparison(title, analytic, numerical):
    print(title)
    print(f"  {'parameter':<10} {'analytic':>14} {'numerical':>14} {'rel. error':>11}")
    for name in analytic:
        a, n = analytic[name] + 0.0, numerical[name] + 0.0   # + 0.0 turns −0.0 into 0.0
        error = relative_error(a, n)
        print(f"  {name:<10} {a:>14.8f} {n:>14.8f} {error:>11.2e}")
    print()


def main(argv=None):
    """Print the worked examples, analytic gradients next to numerical ones."""
    parser = checks.ArgumentParser(
        prog="python -m pure.examples",
        description=(
            "Worked examples of the chain rule (chapter 5, §5.3 and exercise 1), each\n"
            "gradient derived by hand and printed next to the numerical gradient\n"
            "(central differences, eps = 1e-5) with their relative error:\n\n"
            "  §5.3        one ReLU neuron, squared error L = (a - y)^2, firing and off\n"
            "  exercise 1  2 inputs -> 1 ReLU neuron -> 1 sigmoid output, twice:\n"
            "              binary cross-entropy (delta2 = a2 - y) and the squared\n"
            "              error of §5.3 (delta2 = 2(a2 - y) a2 (1 - a2))\n\n"
            "Takes no options besides --help; the code is in pure/examples.py."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)

    for label, ex in (("z > 0, the neuron fires", NEURON_EXAMPLE),
                      ("z ≤ 0, the neuron is off: no blame", NEURON_OFF_EXAMPLE)):
        p, x, y = ex["params"], ex["x"], ex["y"]
        z = p["w"] * x + p["b"]
        a = relu(z)
        _print_comparison(
            f"§5.3  z = w·x + b, a = ReLU(z), L = (a − y)²   ({label})\n"
            f"      w = {p['w']}, b = {p['b']}, x = {x}, y = {y}:  z = {z:.3f}, a = {a:.3f}, "
            f"L = {neuron_loss(p, x, y):.4f}\n"
            f"      ∂L/∂w = 2(a − y)·ReLU'(z)·x,  ∂L/∂b = 2(a − y)·ReLU'(z)",
            neuron_gradients(p, x, y), neuron_numerical_gradients(p, x, y))

    p, x, y = EXERCISE1_EXAMPLE["params"], EXERCISE1_EXAMPLE["x"], EXERCISE1_EXAMPLE["y"]
    z1, a1, z2, a2 = exercise1_forward(p, x)
    _print_comparison(
        "Exercise 1  2 inputs → 1 ReLU neuron → 1 sigmoid output, binary cross-entropy\n"
        f"      x = {x}, y = {y}:  z₁ = {z1:.3f}, a₁ = {a1:.3f}, z₂ = {z2:.3f}, a₂ = {a2:.4f}, "
        f"L = {exercise1_loss(p, x, y):.4f}\n"
        "      δ₂ = a₂ − y,  δ₁ = δ₂·w₂·ReLU'(z₁),  ∂L/∂w₂ = δ₂·a₁,  ∂L/∂w₁ⱼ = δ₁·xⱼ",
        exercise1_gradients(p, x, y), exercise1_numerical_gradients(p, x, y))
    _print_comparison(
        "Exercise 1  the same network with §5.3's squared error L = (a₂ − y)²\n"
        f"      same x, y and parameters:  a₂ = {a2:.4f}, L = {exercise1_squared_loss(p, x, y):.4f}\n"
        "      δ₂ = 2(a₂ − y)·a₂(1 − a₂)  (the sigmoid's slope stays in: small when it saturates),\n"
        "      then as above: δ₁ = δ₂·w₂·ReLU'(z₁),  ∂L/∂w₂ = δ₂·a₁,  ∂L/∂w₁ⱼ = δ₁·xⱼ",
        exercise1_squared_gradients(p, x, y), exercise1_squared_numerical_gradients(p, x, y))
    return 0


if __name__ == "__main__":
    sys.exit(checks.run_command(main))
