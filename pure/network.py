"""The network of chapter 5, §5.4–§5.6, on plain Python lists.

The chapter's network is 784 → 64 → 32 → 10:

    Z₁ = X  @ W₁ + b₁   →  A₁ = ReLU(Z₁)
    Z₂ = A₁ @ W₂ + b₂   →  A₂ = ReLU(Z₂)
    Z₃ = A₂ @ W₃ + b₃   →  A₃ = Softmax(Z₃)
    Loss = CrossEntropy(A₃, Y)

The code here works for any number of layers: ``weights[i]`` has shape
(nᵢ, nᵢ₊₁) and ``biases[i]`` has shape (1, nᵢ₊₁), so ``weights[0]`` is the
chapter's W₁. Every layer but the last uses ReLU; the last uses softmax.

Shapes: X is (N, n₀), one sample per row; y_onehot is (N, n_L), one-hot rows.
"""

import math
import random
import sys

from pure import checks
from pure.linalg import (add_row, apply, column_sums, hadamard, matmul, scale,
                         subtract, subtract_scaled_in_place, transpose)


def init_network(sizes, seed=0):
    """Random starting weights and zero biases for a network with layer ``sizes``.

    He initialisation: every entry of Wᵢ is drawn from a normal distribution with
    mean 0 and standard deviation √(2/nᵢ), where nᵢ is the number of inputs to
    the layer. With ReLU, about half the inputs are switched off, and the factor
    2 keeps the size of the signal roughly the same from layer to layer.

    ``sizes`` is [n₀, n₁, …, n_L], e.g. [784, 64, 32, 10]. All draws come from
    one ``random.Random(seed)``, layer by layer, row by row, so a seed always
    gives the same network. (``native.init_network`` draws from NumPy's
    generator instead: the same seed gives other numbers there. To compare the
    two, build the network once and convert it, as ``pure.gradcheck`` does.)
    ``seed`` is an int ≥ 0. Returns ``(weights, biases)``.
    """
    checks.check_sizes(sizes)
    checks.check_seed(seed)
    rng = random.Random(seed)
    weights, biases = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        std = math.sqrt(2.0 / n_in)
        weights.append([[rng.gauss(0.0, std) for _ in range(n_out)] for _ in range(n_in)])
        biases.append([[0.0] * n_out])
    return weights, biases


def relu(z):
    """ReLU(z) = max(0, z): let positive signals through, switch negative ones off.

    (Written so that a NaN passes through as NaN, as in NumPy, instead of
    quietly becoming 0.)"""
    return 0.0 if z <= 0.0 else z


def relu_derivative(z):
    """ReLU'(z) = 1 if z > 0 else 0 — the chapter's ``(Z > 0)``; we take 0 at z = 0."""
    return 1.0 if z > 0.0 else 0.0


def softmax(Z):
    """Turn each row of scores into probabilities: softmax(z)ⱼ = exp(zⱼ) / Σₖ exp(zₖ).

    Every row of the result is positive and sums to 1. Subtracting the row's
    largest score first changes nothing mathematically (the factor exp(−max)
    cancels between top and bottom) but keeps exp() from overflowing: the
    largest exponent is exp(0) = 1, so logits like 1000 are fine.
    """
    probs = []
    for row in Z:
        biggest = max(row)
        exps = [math.exp(z - biggest) for z in row]
        total = sum(exps)
        probs.append([e / total for e in exps])
    return probs


def forward(X, weights, biases):
    """Run the batch X through the network, keeping what backprop will need.   §5.4

    For each layer k = 1 … L: Zₖ = Aₖ₋₁ @ Wₖ + bₖ (with A₀ = X), then Aₖ = ReLU(Zₖ)
    on the hidden layers and A_L = Softmax(Z_L) on the last, so each row of A_L
    is a probability distribution over the classes. (In the code, layer k is
    index i = k − 1: ``weights[i]`` is Wₖ, ``pre_activations[i]`` is Zₖ, and
    ``activations[i]`` is Aᵢ, so that ``activations[0]`` is X.)

    Returns ``(activations, pre_activations)`` with
    ``activations = [X, A₁, …, A_L]`` and ``pre_activations = [Z₁, …, Z_L]``.
    """
    sizes = checks.check_network(weights, biases)
    checks.check_shape(X, "X", cols=sizes[0],
                       why=f"weights[0] has {sizes[0]} rows: one per input feature")

    num_layers = len(weights)
    activations = [X]
    pre_activations = []
    for i in range(num_layers):                                        # layer k = i + 1
        Z = add_row(matmul(activations[-1], weights[i]), biases[i])   # Zₖ = Aₖ₋₁ @ Wₖ + bₖ   §5.4
        if i < num_layers - 1:
            A = apply(relu, Z)                                         # Aₖ = ReLU(Zₖ)
        else:
            A = softmax(Z)                                             # A_L = Softmax(Z_L)
        pre_activations.append(Z)
        activations.append(A)
    return activations, pre_activations


# The smallest positive normal float, ≈ 2.2e-308: −log(TINY) ≈ 708, large but finite.
TINY = sys.float_info.min


def cross_entropy(probs, y_onehot):
    """The mean cross-entropy loss of a batch: L = −(1/N) Σₙ Σⱼ Yₙⱼ · log(Pₙⱼ).   §5.4

    With one-hot labels only the true class counts, so each sample adds
    −log(probability it gave to the right answer): 0 when it was sure and right,
    large when it was sure and wrong. We average over the N samples of the batch.

    A probability of exactly 0 (softmax can underflow to 0.0) would give
    log(0) = −inf. We clip every probability to at least the smallest normal
    float, ``TINY`` ≈ 2.2e-308, so one such sample costs about 708 instead of inf.
    """
    n, k = checks.check_matrix(probs, "probs")
    checks.check_shape(y_onehot, "y_onehot", n, k, why=f"the shape of probs, ({n}, {k})")
    checks.check_one_hot(y_onehot)

    m = len(y_onehot)
    total = 0.0
    for p_row, y_row in zip(probs, y_onehot):
        total += sum(y * math.log(max(p, TINY)) for p, y in zip(p_row, y_row))
    return -total / m


def backward(activations, pre_activations, weights, y_onehot):
    """Backpropagation: the gradient of the mean loss for every weight and bias.   §5.5

    Start from the error signal of the output layer. For softmax followed by
    cross-entropy the chain rule collapses to δ_L = (A_L − Y)/m, where the 1/m
    comes from averaging the loss over the m samples of the batch. Then walk
    the layers from last to first. For layer k (code index i = k − 1):

    * ∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ — each weight connects an input of the layer to an
      output, so its gradient is (that input) × (that output's error), summed
      over the batch;
    * ∂L/∂bₖ = sum(δₖ, axis=0) — a bias adds to its output for every sample, so
      its gradient is that output's error summed over the batch (not the mean:
      the 1/m is already inside δ — see the note in the code);
    * if there is a layer before, hand the error back through the weights and
      keep it only where that layer's ReLU was open: δₖ₋₁ = (δₖ @ Wₖᵀ) * ReLU'(Zₖ₋₁).

    The chapter's bias line is the one erratum (docs/erratum.md). In its NumPy:

        grad_b[i] = np.mean(delta, axis=0, keepdims=True)   # the chapter: m times too small
        grad_b[i] = np.sum(delta, axis=0, keepdims=True)    # correct: δ already holds the 1/m

    The chapter's line trains just as well (one MNIST epoch, seed 0: 94.59 %
    with it, 94.50 % with the sum; seeds 0–4 in docs/erratum.md) because the
    biases only stay small — but the gradient check of exercise 3 catches it.

    Returns ``(grad_w, grad_b)``, matrices shaped like ``weights`` and the biases:
    ``grad_w[0]`` is ∂L/∂W₁, the first layer's, as in the chapter.
    """
    checks.check_backward_inputs(activations, pre_activations, weights, y_onehot)

    num_layers = len(weights)
    m = len(y_onehot)
    grad_w = [None] * num_layers
    grad_b = [None] * num_layers

    delta = scale(subtract(activations[-1], y_onehot), 1.0 / m)      # δ_L = (A_L − Y) / m   §5.4
    for i in reversed(range(num_layers)):                             # layer k = i + 1, L down to 1
        grad_w[i] = matmul(transpose(activations[i]), delta)         # ∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ
        grad_b[i] = column_sums(delta)                                # ∂L/∂bₖ = sum(δₖ, axis=0)
        # chapter: np.mean(delta, axis=0)  ✗ δ already holds the 1/m: mean divides by m twice
        if i > 0:
            delta = hadamard(matmul(delta, transpose(weights[i])),    # δₖ₋₁ = (δₖ @ Wₖᵀ) * ReLU'(Zₖ₋₁)
                             apply(relu_derivative, pre_activations[i - 1]))
    return grad_w, grad_b


def sgd_update(weights, biases, grad_w, grad_b, lr):
    """One step of gradient descent: move every parameter a little downhill.   §5.6

    W ← W − η · ∂L/∂W and b ← b − η · ∂L/∂b, with η = ``lr`` the learning rate.
    The matrices are changed in place (their own rows are updated), so anyone
    holding a reference to ``weights[i]`` sees the new values. Returns None.
    """
    checks.check_network(weights, biases)
    checks.check_same_shapes(weights, grad_w, "weights", "grad_w")
    checks.check_same_shapes(biases, grad_b, "biases", "grad_b")
    checks.check_finite_number(lr, "lr")

    for i in range(len(weights)):
        subtract_scaled_in_place(weights[i], grad_w[i], lr)           # W ← W − η · ∂L/∂W   §5.6
        subtract_scaled_in_place(biases[i], grad_b[i], lr)            # b ← b − η · ∂L/∂b


if __name__ == "__main__":     # python -m pure.network: the chapter's 4→5→3 case, forward and back once
    from pure.gradcheck import random_problem
    X, y_onehot, weights, biases = random_problem([4, 5, 3], 3)
    activations, pre_activations = forward(X, weights, biases)
    grad_w, grad_b = backward(activations, pre_activations, weights, y_onehot)
    print(f"pure.network on exercise 3's 4→5→3 network, 3 samples: "
          f"loss {cross_entropy(activations[-1], y_onehot):.4f}")
    for k, (gw, gb) in enumerate(zip(grad_w, grad_b), 1):
        print(f"  ∂L/∂W{k}: {len(gw)}×{len(gw[0])}   ∂L/∂b{k}: 1×{len(gb[0])}")
    print("These are functions to read beside the chapter (§5.4–§5.6). Commands: python -m "
          "pure.gradcheck (exercise 3), python -m pure.examples (exercise 1), python -m pure.exercise2")
