"""§5.7: the training loop — mini-batch SGD with shuffling and learning-rate decay."""

import random

from pure import checks
from pure.network import backward, cross_entropy, forward, sgd_update


def train(X, y_onehot, weights, biases, *, epochs=10, batch_size=64, lr=0.1,
          decay_rate=0.95, seed=0, shuffle=True, callback=None):
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
    that epoch's loss. Returns the list of per-epoch training losses, each the
    mean of that epoch's batch losses.
    """
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
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function (epoch, loss) or None, "
                        f"got {type(callback).__name__}")

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

        epoch_loss = sum(batch_losses) / len(batch_losses)
        losses.append(epoch_loss)
        lr *= decay_rate                                        # lr = initial_lr · decay_rate^epoch
        if callback is not None:
            callback(epoch, epoch_loss)
    return losses
