"""§5.7: the training loop — mini-batch SGD with shuffling and learning-rate decay.

The chapter's exercise 2 runs this loop on MNIST as a command, with nothing but
the standard library: ``python -m pure.exercise2`` (see pure/exercise2.py).

Same seed, different numbers: pure/ draws its initial weights with
``random.Random(seed).gauss`` and shuffles with one ``random.Random(seed)`` for
the whole run; native/ draws its weights with NumPy's
``default_rng(seed).standard_normal`` and its trainer shuffles each epoch with
``default_rng([seed, epoch])``. Both are He initialisation and a uniform
shuffle, so the two engines learn alike, but not weight for weight.
"""

import random

from pure import checks
from pure.network import backward, cross_entropy, forward, sgd_update


def train(X, y_onehot, weights, biases, *, epochs=10, batch_size=64, lr=0.1,
          decay_rate=0.95, seed=0, shuffle=True, callback=None, on_batch=None):
    """Train the network on (X, y_onehot) by mini-batch stochastic gradient descent.   §5.7

    One epoch is one pass over the whole data set. At the start of each epoch
    the order of the samples is shuffled, then the data is cut into mini-batches
    of ``batch_size`` samples (the last one may be smaller). For every batch:
    forward pass, loss, backward pass, and one ``sgd_update`` step of size
    ``lr``. A small batch gives a noisy but cheap estimate of the gradient of
    the whole data set's loss — cheap enough to take many steps (§5.6).

    After each epoch the learning rate shrinks, ``lr ← lr · decay_rate``: big
    steps early to get close, small steps late to settle (so epoch e uses
    lr · decay_rateᵉ, §5.6).

    Shuffling uses one ``random.Random(seed)``, created once for the whole run:
    each epoch ``indices = list(range(N))`` is shuffled with it (the chapter's
    ``np.random.permutation(N)``). The same seed gives the same run.

    ``weights`` and ``biases`` are updated in place. ``callback(epoch, loss)``,
    if given, is called after each epoch with the epoch number (0, 1, …) and
    that epoch's loss; ``on_batch(epoch, samples_done, batch_loss)`` after each
    mini-batch (for progress, or to record the whole curve). Returns the list of
    per-epoch training losses, each the mean of that epoch's batch losses.
    """
    N = _check_arguments(X, y_onehot, weights, biases, epochs, batch_size, lr, decay_rate,
                         shuffle, callback, on_batch)

    rng = random.Random(seed)
    losses = []
    for epoch in range(epochs):
        indices = list(range(N))
        if shuffle:
            rng.shuffle(indices)                                # indices = np.random.permutation(N)

        batch_losses = []
        for start in range(0, N, batch_size):
            batch_idx = indices[start:start + batch_size]
            X_batch = [X[k] for k in batch_idx]
            y_batch = [y_onehot[k] for k in batch_idx]

            activations, pre_activations = forward(X_batch, weights, biases)
            loss = cross_entropy(activations[-1], y_batch)
            grad_w, grad_b = backward(activations, pre_activations, weights, y_batch)
            sgd_update(weights, biases, grad_w, grad_b, lr)     # W ← W − η·∂L/∂W, b ← b − η·∂L/∂b
            batch_losses.append(loss)
            if on_batch is not None:
                on_batch(epoch, start + len(batch_idx), loss)

        epoch_loss = sum(batch_losses) / len(batch_losses)
        losses.append(epoch_loss)
        lr *= decay_rate                                        # lr = initial_lr · decay_rate^epoch
        if callback is not None:
            callback(epoch, epoch_loss)
    return losses


def _check_arguments(X, y_onehot, weights, biases, epochs, batch_size, lr, decay_rate,
                     shuffle, callback, on_batch):
    """train()'s arguments, checked before anything changes; returns N, the number of samples."""
    sizes = checks.check_network(weights, biases)
    N, _ = checks.check_shape(X, "X", cols=sizes[0],
                              why=f"weights[0] has {sizes[0]} rows: one per input feature")
    checks.check_shape(y_onehot, "y_onehot", N, sizes[-1],
                       why="one row per sample of X, one column per output of the network")
    checks.check_one_hot(y_onehot)
    checks.check_positive_int(epochs, "epochs", minimum=0)
    checks.check_positive_int(batch_size, "batch_size", minimum=1)
    checks.check_finite_number(lr, "lr")
    checks.check_finite_number(decay_rate, "decay_rate")
    if decay_rate < 0:
        raise ValueError(f"decay_rate must not be negative (lr ← lr · decay_rate), got {decay_rate!r}")
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {type(shuffle).__name__}")
    for name, fn, args in (("callback", callback, "(epoch, loss)"),
                           ("on_batch", on_batch, "(epoch, samples_done, batch_loss)")):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a function {args} or None, got {type(fn).__name__}")
    return N


if __name__ == "__main__":
    # The package imports this module for train(), so running it with -m would
    # run it twice; the command lives in its own module.
    import sys
    sys.exit("python -m pure.train: this file is §5.7's train() function; exercise 2 is "
             "`python -m pure.exercise2` (--help lists its options)")
