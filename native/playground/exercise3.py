"""View 1: exercise 3 step by step — every matrix of one forward and one backward pass,
computed by ``pure`` (the code a reader reads beside the chapter).

The page draws what ``view`` returns; nothing is computed in the browser.
"""

from pure.gradcheck import (backward_with_chapter_bias, check_backward, random_problem,
                            relative_error)
from pure.linalg import apply, hadamard, matmul, scale, subtract, transpose
from pure.network import backward, cross_entropy, forward, relu_derivative, sgd_update
from pure.numerical import numerical_gradient

SIZES = [4, 5, 3]      # exercise 3's network
SAMPLES = 3
MAX_STEPS = 200        # the page's "step" button counts up; each step is a few ms of pure Python


def deltas(activations, pre_activations, weights, y_onehot):
    """δ₂ = (A₂ − Y)/N and δ₁ = (δ₂ W₂ᵀ) ⊙ ReLU'(Z₁) — the lines of pure.backward (§5.5),
    written out because backward() keeps them to itself. A test checks that
    A₁ᵀδ₂ and Xᵀδ₁ equal backward()'s gradients bit for bit: these are its δ's."""
    m = len(y_onehot)
    delta2 = scale(subtract(activations[-1], y_onehot), 1.0 / m)
    delta1 = hadamard(matmul(delta2, transpose(weights[1])), apply(relu_derivative, pre_activations[0]))
    return delta1, delta2


def view(seed=0, chapter_bias=False, steps=0, lr=0.1):
    """Everything the exercise-3 view shows, after `steps` SGD steps of size `lr`.

    With ``chapter_bias`` the backward pass is the chapter's (∂L/∂b = mean(δ)), for the
    shown gradients and for the steps: the erratum, visible."""
    X, Y, W, B = random_problem(SIZES, SAMPLES, seed)
    back = backward_with_chapter_bias if chapter_bias else backward
    losses = []
    for _ in range(steps):
        acts, pres = forward(X, W, B)
        losses.append(cross_entropy(acts[-1], Y))
        grad_w, grad_b = back(acts, pres, W, Y)
        sgd_update(W, B, grad_w, grad_b, lr)             # W ← W − η·∂L/∂W   §5.6
    acts, pres = forward(X, W, B)
    loss = cross_entropy(acts[-1], Y)
    losses.append(loss)
    grad_w, grad_b = back(acts, pres, W, Y)
    delta1, delta2 = deltas(acts, pres, W, Y)

    def loss_fn():
        a, _ = forward(X, W, B)
        return cross_entropy(a[-1], Y)

    numerical = {}
    for i in range(len(W)):
        numerical[f"W{i + 1}"] = numerical_gradient(loss_fn, W[i])
        numerical[f"b{i + 1}"] = numerical_gradient(loss_fn, B[i])
    analytic = {"W1": grad_w[0], "b1": grad_b[0], "W2": grad_w[1], "b2": grad_b[1]}
    errors = {k: [[relative_error(a, n) for a, n in zip(ra, rn)]
                  for ra, rn in zip(analytic[k], numerical[k])] for k in analytic}
    verdict = {row.name: {"error": row.error, "passed": bool(row.passed), "at_kink": row.at_kink}
               for row in check_backward(X, Y, W, B, chapter_bias=chapter_bias)}
    return {
        "seed": seed, "chapter_bias": chapter_bias, "steps": steps, "lr": lr, "N": SAMPLES,
        "sizes": SIZES, "losses": losses, "loss": loss,
        "matrices": {"X": X, "Y": Y, "W1": W[0], "b1": B[0], "W2": W[1], "b2": B[1],
                     "Z1": pres[0], "A1": acts[1], "Z2": pres[1], "A2": acts[2],
                     "delta2": delta2, "gW2": grad_w[1], "gb2": grad_b[1],
                     "delta1": delta1, "gW1": grad_w[0], "gb1": grad_b[0]},
        "numerical": numerical, "relative_error": errors, "verdict": verdict,
    }
