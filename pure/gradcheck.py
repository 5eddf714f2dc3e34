"""§5.8 and exercise 3: check backprop against numerical gradients.

Backprop is easy to get wrong and hard to see wrong: a network with a wrong
gradient often still learns, only worse. So, for every weight and bias θ,
nudge it ε up and down and watch the loss:

    ∂L/∂θ ≈ (L(θ + ε) − L(θ − ε)) / 2ε          (central difference, §5.8)

and compare that number n with what ``backward()`` says, a:

    relative error = |a−n| / max(|a|+|n|, R/1e-7)      an entry passes when ≤ 1e-7

The chapter asks for "相对误差应小于 1e-5"; a correct float64 backward lands
near 1e-9, so 1e-7 costs a right answer nothing and catches smaller bugs.
R is the rounding error a float64 central difference can carry here, so that
|a−n| ≤ R passes too; entries whose nudge crosses a ReLU kink are not judged.
(Both are explained in ``pure.gradcheck_rules``; what a failure says about the
mistake, in ``pure.gradcheck_diagnosis``.)

    python -m pure.gradcheck                  # the chapter's case: 4→5→3, 3 samples
    python -m pure.gradcheck --chapter-bias   # the chapter's mean(δ): the biases fail
    python -m pure.gradcheck --backward mine.py:backward   # your own backward()
    python -m pure.gradcheck --numerical mine.py:numerical_gradient   # your own §5.8
"""

import random

from pure.gradcheck_rules import (CHAPTER_THRESHOLD, FLOOR, MACHINE_EPSILON,
                                  RELATIVE_ERROR, THRESHOLD, CheckRow, Judgement, KinkWatch,
                                  allowance_for, compare_gradients, count_relu_kinks, judge,
                                  max_relative_error, relative_error, relu_pattern,
                                  rounding_allowance)
from pure.gradcheck_student import BackwardError, call_backward, load_backward
from pure.gradcheck_cli import (HEADER, add_problem_arguments, check_problem_arguments,
                                describe_rule, format_table, main, table_rows, verdict)
from pure.network import backward, cross_entropy, forward, init_network
from pure.numerical import EPS, numerical_gradient

__all__ = [  # the check itself, and what its neighbours offer under this module's old names
    "check_backward", "gradient_pairs", "gradient_check", "backward_with_chapter_bias", "random_problem",
    "numerical_gradient", "relative_error", "max_relative_error", "judge", "compare_gradients",
    "rounding_allowance", "allowance_for", "count_relu_kinks", "relu_pattern", "KinkWatch", "CheckRow",
    "Judgement", "THRESHOLD", "CHAPTER_THRESHOLD", "FLOOR", "MACHINE_EPSILON", "RELATIVE_ERROR",
    "BackwardError", "call_backward", "load_backward", "HEADER", "add_problem_arguments",
    "check_problem_arguments", "describe_rule", "format_table", "main", "table_rows", "verdict",
]


def check_backward(X, y_onehot, weights, biases, chapter_bias=False, eps=EPS, threshold=THRESHOLD,
                   backward_fn=None, backward_name="backward"):
    """Exercise 3: every weight and bias, backprop against numerical. Returns ``CheckRow``s W1, b1, …"""
    pairs = gradient_pairs(X, y_onehot, weights, biases, chapter_bias, eps, backward_fn, backward_name)
    return compare_gradients(pairs, threshold, allowance_for(X, y_onehot, weights, biases, eps))


def gradient_pairs(X, y_onehot, weights, biases, chapter_bias=False, eps=EPS, backward_fn=None,
                   backward_name="backward", numerical_fn=numerical_gradient):
    """(name, analytic, numerical, at_kink) for W1, b1, W2, b2, … (``weights[0]`` is W1)."""
    if backward_fn is None:
        backward_fn = backward_with_chapter_bias if chapter_bias else backward
    activations, pre_activations = forward(X, weights, biases)
    grad_w, grad_b = call_backward(backward_fn, activations, pre_activations, weights, y_onehot,
                                   backward_name)

    def loss():                                  # the loss, and which ReLUs are open (kink watch)
        activations, pre_activations = forward(X, weights, biases)
        return relu_pattern(pre_activations), cross_entropy(activations[-1], y_onehot)

    loss_fn = KinkWatch(loss)
    pairs = []
    for i in range(len(weights)):
        for name, analytic, param in ((f"W{i + 1}", grad_w[i], weights[i]),
                                      (f"b{i + 1}", grad_b[i], biases[i])):
            numerical = numerical_fn(loss_fn, param, eps)                # (L₊ − L₋) / 2ε
            pairs.append((name, analytic, numerical, loss_fn.take(len(param), len(param[0]))))
    return pairs


def gradient_check(sizes=(4, 5, 3), samples=3, seed=0, chapter_bias=False,
                   eps=EPS, threshold=THRESHOLD, backward_fn=None):
    """Exercise 3 on a seeded random problem (see ``random_problem``); returns the table rows."""
    X, y_onehot, weights, biases = random_problem(list(sizes), samples, seed)
    return check_backward(X, y_onehot, weights, biases, chapter_bias, eps, threshold, backward_fn)


def backward_with_chapter_bias(activations, pre_activations, weights, y_onehot):
    """``backward()`` with the bias formula as the chapter prints it: ∂L/∂bₖ = mean(δₖ, axis=0).

    mean(δ) = sum(δ)/m, so this is our correct sum(δ) divided by m once more.
    It exists only to watch the gradient check catch the erratum.
    """
    grad_w, grad_b = backward(activations, pre_activations, weights, y_onehot)
    m = len(y_onehot)
    return grad_w, [[[g / m for g in row] for row in gb] for gb in grad_b]


def random_problem(sizes, samples, seed=0):
    """A seeded network and batch for a gradient check: (X, y_onehot, weights, biases).

    Weights come from ``init_network(sizes, seed)``; the biases are small random
    numbers instead of its zeros, so that the check does not sit at a special
    point; inputs are standard normal; each label is a random class.
    """
    weights, biases = init_network(sizes, seed)
    rng = random.Random(f"gradcheck data, seed {seed}")   # a stream apart from the weights'
    for b in biases:
        b[0] = [rng.gauss(0.0, 0.1) for _ in b[0]]
    X = [[rng.gauss(0.0, 1.0) for _ in range(sizes[0])] for _ in range(samples)]
    y_onehot = []
    for _ in range(samples):
        row = [0.0] * sizes[-1]
        row[rng.randrange(sizes[-1])] = 1.0
        y_onehot.append(row)
    return X, y_onehot, weights, biases


if __name__ == "__main__":
    from pure import checks
    checks.exit_with(checks.run_command, main)
