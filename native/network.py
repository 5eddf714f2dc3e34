"""The chapter's network on NumPy arrays, every matmul, ReLU mask and update in C.

Same functions, same names, same order as ``pure/network.py``; only the data
type differs. Every tensor is a C-contiguous 2-D ``numpy.ndarray`` (float32 or
float64, one dtype per call) in the chapter's shapes: X (N, n₀), weights[i]
(nᵢ, nᵢ₊₁), biases[i] (1, nᵢ₊₁), y_onehot (N, n_last).

The arguments are checked here, in the caller's names ("weights[1]"), before
the kernels of ``native.kernels`` check them again in theirs.
"""

import math
import numbers

import numpy as np

from . import kernels

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# --- argument checks, in the caller's names -----------------------------------

def _check_matrix(name, a, dtype=None):
    """`a` must be a C-contiguous 2-D float32/float64 array (of `dtype`, if given)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a 2-D numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES or not a.dtype.isnative:
        raise TypeError(f"{name} must be float32 or float64 (native byte order), got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must be {dtype} like the other arrays of this call, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (a matrix), got {a.ndim}-D with shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")
    return a.dtype


_NO_BIASES = object()   # backward() has no biases to check


def _check_layers(weights, biases):
    """Checks the parameter lists against each other; returns their dtype."""
    if not isinstance(weights, (list, tuple)) or len(weights) == 0:
        raise ValueError(f"weights must be a non-empty list of matrices, got {weights!r:.60}")
    if biases is _NO_BIASES:
        biases = None
    elif not isinstance(biases, (list, tuple)) or len(biases) != len(weights):
        got = len(biases) if isinstance(biases, (list, tuple)) else type(biases).__name__
        raise ValueError(f"biases must be a list of {len(weights)} one-row matrices, got {got}")
    dtype = _check_matrix("weights[0]", weights[0])
    for i, w in enumerate(weights):
        _check_matrix(f"weights[{i}]", w, dtype)
        if i > 0 and w.shape[0] != weights[i - 1].shape[1]:
            raise ValueError(f"weights[{i}] must have {weights[i - 1].shape[1]} rows "
                             f"(weights[{i - 1}] has that many columns), got shape {w.shape}")
        if biases is not None:
            _check_matrix(f"biases[{i}]", biases[i], dtype)
            if biases[i].shape != (1, w.shape[1]):
                raise ValueError(f"biases[{i}] must have shape (1, {w.shape[1]}), got {biases[i].shape}")
    return dtype


def _check_onehot(y_onehot, n_rows, n_classes, dtype):
    _check_matrix("y_onehot", y_onehot, dtype)
    if y_onehot.shape != (n_rows, n_classes):
        raise ValueError(f"y_onehot must have shape ({n_rows}, {n_classes}), got {y_onehot.shape}")
    ones = y_onehot == 1
    valid = (ones | (y_onehot == 0)).all(axis=1) & (ones.sum(axis=1) == 1)
    if not valid.all():
        bad = int(np.argmin(valid))
        raise ValueError(f"y_onehot row {bad} must be one-hot (a single 1, zeros elsewhere), "
                         f"got {y_onehot[bad].tolist()!r:.80}")


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def _check_writeable(weights, biases, fn):
    """Every parameter must be writeable before `fn` changes the first one (no half-done update)."""
    for name, params in (("weights", weights), ("biases", biases)):
        for i, p in enumerate(params):
            if not p.flags.writeable:
                raise ValueError(f"{name}[{i}] must be writeable: {fn} changes it in place")


def _check_lr(lr, name="lr"):
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr):
        raise ValueError(f"{name} must be a finite real number, got {lr!r}")


# --- the chapter ---------------------------------------------------------------

def init_network(sizes, seed=0, dtype=np.float64):
    """He initialisation: Wᵢ ~ N(0, 2/nᵢ) of shape (nᵢ, nᵢ₊₁), bᵢ = 0 of shape (1, nᵢ₊₁).

    The standard deviation √(2/nᵢ) keeps the variance of the ReLU activations
    roughly constant from layer to layer. Seeded: the same `seed` (an int ≥ 0)
    gives the same network — drawn from NumPy's generator, so not the same
    numbers as ``pure.init_network`` with that seed.
    """
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else sizes
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in sizes)):
        raise ValueError(f"sizes must be a list of at least 2 positive integers, got {sizes!r}")
    _check_seed(seed)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(seed)
    weights = [(rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)).astype(dtype)
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [np.zeros((1, n_out), dtype=dtype) for n_out in sizes[1:]]
    return weights, biases


def forward(X, weights, biases):
    """Forward pass (§5.4): Zᵢ = Aᵢ₋₁ @ Wᵢ + bᵢ, Aᵢ = ReLU(Zᵢ), last A = softmax(Z).

    Returns ``(activations, pre_activations)`` with ``activations = [X, A1, …, A_L]``
    and ``pre_activations = [Z1, …, Z_L]``.
    """
    dtype = _check_layers(weights, biases)
    _check_matrix("X", X, dtype)
    if X.shape[0] == 0:
        raise ValueError("X must hold at least one sample, got an empty batch (0 rows)")
    if X.shape[1] != weights[0].shape[0]:
        raise ValueError(f"X must have {weights[0].shape[0]} columns to match weights[0] "
                         f"{weights[0].shape}, got shape {X.shape}")
    activations, pre_activations = [X], []
    last = len(weights) - 1
    for i, (W, b) in enumerate(zip(weights, biases)):
        Z = kernels.matmul(activations[-1], W, bias=b)          # Zᵢ = Aᵢ₋₁ @ Wᵢ + bᵢ
        A = kernels.softmax(Z) if i == last else kernels.relu(Z)
        pre_activations.append(Z)
        activations.append(A)
    return activations, pre_activations


def cross_entropy(probs, y_onehot):
    """Mean cross-entropy −(1/N) Σₙ Σₖ Yₙₖ log Pₙₖ (§5.4).

    A probability of exactly 0 is clipped to the smallest normal float, so the
    loss stays finite.
    """
    dtype = _check_matrix("probs", probs)
    if probs.shape[0] == 0:
        raise ValueError("probs must hold at least one sample, got an empty batch (0 rows)")
    _check_onehot(y_onehot, probs.shape[0], probs.shape[1], dtype)
    return kernels.cross_entropy(probs, y_onehot)


def backward(activations, pre_activations, weights, y_onehot):
    """Backpropagation (§5.5): gradients of the mean loss for every layer.

    δ_L = (A_L − Y)/m is ∂L/∂Z_L for softmax + cross-entropy. Walking back over
    the chapter's layers k = L … 1: ∂L/∂Wₖ = Aₖ₋₁ᵀ δₖ, ∂L/∂bₖ = Σₙ δₖ, and
    δₖ₋₁ = (δₖ Wₖᵀ) ⊙ ReLU'(Zₖ₋₁). In the code, layer k is index i = k − 1:
    ``weights[i]`` is Wₖ, ``pre_activations[i]`` is Zₖ, ``activations[i]`` is
    Aₖ₋₁ (``activations[0]`` is X), and ``grad_w[0]`` is ∂L/∂W₁.

    The bias line is the chapter's one erratum (docs/erratum.md); in NumPy:

        grad_b[i] = np.mean(delta, axis=0, keepdims=True)   # the chapter: m times too small
        grad_b[i] = np.sum(delta, axis=0, keepdims=True)    # correct: δ already holds the 1/m

    (one MNIST epoch, seed 0: 94.59 % with the chapter's line, 94.50 % with the
    sum — the biases just stay small, which is why the chapter's code still works).
    """
    dtype = _check_layers(weights, _NO_BIASES)
    L = len(weights)
    if len(activations) != L + 1 or len(pre_activations) != L:
        raise ValueError(f"activations must have {L + 1} entries and pre_activations {L} "
                         f"(from forward), got {len(activations)} and {len(pre_activations)}")
    widths = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    for i, A in enumerate(activations):
        _check_matrix(f"activations[{i}]", A, dtype)
        if A.shape[1] != widths[i] or A.shape[0] != activations[0].shape[0]:
            raise ValueError(f"activations[{i}] must have shape ({activations[0].shape[0]}, {widths[i]}) "
                             f"to match the weights, got {A.shape}")
    for i, Z in enumerate(pre_activations):
        _check_matrix(f"pre_activations[{i}]", Z, dtype)
        if Z.shape != activations[i + 1].shape:
            raise ValueError(f"pre_activations[{i}] must have the shape of activations[{i + 1}] "
                             f"{activations[i + 1].shape}, got {Z.shape}")
    if activations[-1].shape[0] == 0:
        raise ValueError("activations must hold at least one sample, got an empty batch (0 rows)")
    _check_onehot(y_onehot, activations[-1].shape[0], weights[-1].shape[1], dtype)

    grad_w = [None] * L
    grad_b = [None] * L
    delta = kernels.output_delta(activations[-1], y_onehot)      # δ_L = (A_L − Y) / m
    for i in reversed(range(L)):                                  # layer k = i + 1, L down to 1
        grad_w[i] = kernels.matmul(activations[i], delta, trans_a=True)   # ∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ
        grad_b[i] = kernels.column_sum(delta)                             # ∂L/∂bₖ = sum(δₖ, axis=0)
        # chapter: np.mean(delta, axis=0) — δ is already divided by m (docs/erratum.md)
        if i > 0:
            delta = kernels.matmul(delta, weights[i], trans_b=True)      # δₖ₋₁ = (δₖ @ Wₖᵀ)
            kernels.relu_backward(delta, pre_activations[i - 1])          #        ⊙ ReLU'(Zₖ₋₁)
    return grad_w, grad_b


def sgd_update(weights, biases, grad_w, grad_b, lr):
    """Gradient descent step (§5.6), in place: W ← W − η ∂L/∂W, b ← b − η ∂L/∂b.

    Every array is checked before the first one changes: a bad argument leaves
    all the parameters as they were.
    """
    dtype = _check_layers(weights, biases)
    _check_lr(lr)
    for name, params, grads in (("grad_w", weights, grad_w), ("grad_b", biases, grad_b)):
        if not isinstance(grads, (list, tuple)) or len(grads) != len(params):
            raise ValueError(f"{name} must be a list of {len(params)} matrices, got {grads!r:.60}")
        for i, (p, g) in enumerate(zip(params, grads)):
            _check_matrix(f"{name}[{i}]", g, dtype)
            if g.shape != p.shape:
                raise ValueError(f"{name}[{i}] must have shape {p.shape}, got {g.shape}")
    _check_writeable(weights, biases, "sgd_update")   # before the first layer moves, not halfway
    for i in range(len(weights)):
        kernels.sgd_update(weights[i], grad_w[i], lr)
        kernels.sgd_update(biases[i], grad_b[i], lr)


def numerical_gradient(loss_fn, param, eps=1e-5):
    """Central differences (§5.8): ∂L/∂p ≈ (L(p + ε) − L(p − ε)) / 2ε for every entry.

    `param` is changed in place one entry at a time and restored exactly, also
    when `loss_fn` raises or Ctrl-C arrives (``finally``); `loss_fn()` takes no
    arguments and reads `param` through the caller's closure. Returns a new
    float64 array shaped like `param`.

    `param` must be float64: in float32 a loss is only good to ~1e-7, so with
    ε = 1e-5 the difference L₊ − L₋ is mostly rounding noise (relative errors
    around 0.1 against ``backward``). Check a float32 network by checking its
    float64 copy.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable taking no arguments, got {type(loss_fn).__name__}")
    _check_matrix("param", param)
    if param.dtype != np.float64:
        raise TypeError(f"param must be float64 for a numerical gradient, got {param.dtype}: in "
                        f"{param.dtype} the central difference is rounding noise; check a float64 "
                        f"copy of the whole network (.astype(np.float64)) instead")
    if not param.flags.writeable:
        raise ValueError("param must be writeable: numerical_gradient nudges it in place")
    _check_lr(eps, "eps")
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    grad = np.zeros(param.shape, dtype=np.float64)
    for idx in np.ndindex(*param.shape):
        old = param[idx]
        try:
            param[idx] = old + eps
            loss_plus = _loss_value(loss_fn)
            param[idx] = old - eps
            loss_minus = _loss_value(loss_fn)
        finally:
            param[idx] = old                    # restored even if loss_fn raised or Ctrl-C came
        grad[idx] = (loss_plus - loss_minus) / (2 * eps)
    return grad


def _loss_value(loss_fn):
    """``loss_fn()`` as a float; anything but one real number is refused by name."""
    value = loss_fn()
    try:
        if isinstance(value, (bool, np.bool_)) or not hasattr(type(value), "__float__"):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"loss_fn must return the loss as one number, got {type(value).__name__}") from None


def train(X, y_onehot, weights, biases, *, epochs=10, batch_size=64, lr=0.1,
          decay_rate=0.95, seed=0, shuffle=True, callback=None):
    """Mini-batch SGD (§5.7), updating `weights` and `biases` in place.

    Each epoch visits the samples in a fresh random order (one generator,
    seeded once), takes batches of `batch_size` (the last may be smaller),
    runs forward → loss → backward → update, then decays lr ← lr·decay_rate.
    Returns the per-epoch mean training loss (the mean of the batch losses);
    `callback(epoch, loss)` is called after each epoch.

    This is the chapter's loop, kernel by kernel. For MNIST at full speed use
    ``python -m native.train``, which runs each epoch in one C call.
    """
    dtype = _check_layers(weights, biases)
    _check_matrix("X", X, dtype)
    if X.shape[0] == 0:
        raise ValueError("X must hold at least one sample, got an empty batch (0 rows)")
    if X.shape[1] != weights[0].shape[0]:
        raise ValueError(f"X must have {weights[0].shape[0]} columns to match weights[0], got {X.shape}")
    _check_onehot(y_onehot, X.shape[0], weights[-1].shape[1], dtype)
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < (1 if name == "batch_size" else 0):
            raise ValueError(f"{name} must be a {'positive' if name == 'batch_size' else 'non-negative'} integer, got {v!r}")
    _check_lr(lr)
    _check_lr(decay_rate, "decay_rate")
    if decay_rate < 0:
        raise ValueError(f"decay_rate must not be negative (lr ← lr · decay_rate), got {decay_rate!r}")
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {type(shuffle).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function (epoch, loss) or None, got {type(callback).__name__}")
    _check_seed(seed)
    _check_writeable(weights, biases, "train")

    rng = np.random.default_rng(seed)
    N = X.shape[0]
    losses = []
    for epoch in range(epochs):
        indices = rng.permutation(N) if shuffle else np.arange(N)
        batch_losses = []
        for start in range(0, N, batch_size):
            batch_idx = indices[start:start + batch_size]
            X_batch = X[batch_idx]
            y_batch = y_onehot[batch_idx]
            activations, pre_activations = forward(X_batch, weights, biases)
            batch_losses.append(cross_entropy(activations[-1], y_batch))
            grad_w, grad_b = backward(activations, pre_activations, weights, y_batch)
            sgd_update(weights, biases, grad_w, grad_b, lr)
        losses.append(float(np.mean(batch_losses)))
        if callback is not None:
            callback(epoch, losses[-1])
        lr *= decay_rate
    return losses
