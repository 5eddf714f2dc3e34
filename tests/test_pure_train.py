"""The §5.7 training loop of ``pure``: it learns, it is reproducible, and the learning rate decays."""

import random

import pytest

from pure import backward, cross_entropy, forward, init_network, sgd_update, train


def two_blobs(n_per_class=60, seed=0):
    """Two Gaussian blobs in the plane, centred at (−2, −2) and (2, 2): linearly separable."""
    rng = random.Random(seed)
    X, y_onehot = [], []
    for label, centre in ((0, -2.0), (1, 2.0)):
        for _ in range(n_per_class):
            X.append([rng.gauss(centre, 0.7), rng.gauss(centre, 0.7)])
            y_onehot.append([1.0, 0.0] if label == 0 else [0.0, 1.0])
    return X, y_onehot


def accuracy(X, y_onehot, weights, biases):
    probs = forward(X, weights, biases)[0][-1]
    right = sum(p.index(max(p)) == y.index(1.0) for p, y in zip(probs, y_onehot))
    return right / len(X)


def copy_network(weights, biases):
    return [[row[:] for row in W] for W in weights], [[row[:] for row in b] for b in biases]


def test_train_lowers_the_loss_and_separates_two_blobs():
    X, y_onehot = two_blobs()
    weights, biases = init_network([2, 8, 2], seed=0)
    losses = train(X, y_onehot, weights, biases, epochs=15, batch_size=16, lr=0.1, seed=0)
    assert len(losses) == 15
    assert losses[-1] < losses[0] / 2
    assert accuracy(X, y_onehot, weights, biases) >= 0.95


def test_train_is_deterministic_for_a_seed():
    X, y_onehot = two_blobs()
    runs = []
    for _ in range(2):
        weights, biases = init_network([2, 8, 2], seed=3)
        losses = train(X, y_onehot, weights, biases, epochs=3, batch_size=10, seed=7)
        runs.append((losses, weights, biases))
    assert runs[0] == runs[1]


def test_train_with_another_seed_shuffles_differently():
    X, y_onehot = two_blobs()
    results = []
    for seed in (0, 1):
        weights, biases = init_network([2, 8, 2], seed=3)
        train(X, y_onehot, weights, biases, epochs=1, batch_size=10, seed=seed)
        results.append(weights)
    assert results[0] != results[1]


def manual_loop(X, y_onehot, weights, biases, epochs, batch_size, lr, decay_rate, seed):
    """§5.7 written out longhand, with the learning rate of each epoch computed as lr·decayᵉ."""
    rng = random.Random(seed)
    N = len(X)
    for epoch in range(epochs):
        lr_epoch = lr * decay_rate ** epoch                  # lr = initial_lr · decay_rate^epoch
        indices = list(range(N))
        rng.shuffle(indices)
        for start in range(0, N, batch_size):
            batch = indices[start:start + batch_size]
            X_batch, y_batch = [X[k] for k in batch], [y_onehot[k] for k in batch]
            activations, pre_activations = forward(X_batch, weights, biases)
            grad_w, grad_b = backward(activations, pre_activations, weights, y_batch)
            sgd_update(weights, biases, grad_w, grad_b, lr_epoch)


def test_train_decays_the_learning_rate_after_every_epoch():
    X, y_onehot = two_blobs(n_per_class=20)
    start = init_network([2, 4, 2], seed=2)
    trained, by_hand, undecayed = copy_network(*start), copy_network(*start), copy_network(*start)

    train(X, y_onehot, *trained, epochs=3, batch_size=8, lr=0.2, decay_rate=0.5, seed=4)
    manual_loop(X, y_onehot, *by_hand, epochs=3, batch_size=8, lr=0.2, decay_rate=0.5, seed=4)
    manual_loop(X, y_onehot, *undecayed, epochs=3, batch_size=8, lr=0.2, decay_rate=1.0, seed=4)

    for W_train, W_hand in zip(trained[0] + trained[1], by_hand[0] + by_hand[1]):
        for row_train, row_hand in zip(W_train, W_hand):
            assert row_train == pytest.approx(row_hand, rel=1e-12, abs=1e-15)
    assert trained[0] != undecayed[0]


def test_train_with_lr_zero_after_the_first_epoch_changes_nothing_more():
    X, y_onehot = two_blobs(n_per_class=10)
    weights, biases = init_network([2, 3, 2], seed=0)
    snapshots = []
    train(X, y_onehot, weights, biases, epochs=3, batch_size=5, lr=0.1, decay_rate=0.0,
          callback=lambda epoch, loss: snapshots.append(copy_network(weights, biases)))
    assert snapshots[0] != copy_network(*init_network([2, 3, 2], seed=0))
    assert snapshots[0] == snapshots[1] == snapshots[2]


def test_train_calls_back_after_each_epoch_with_the_epoch_and_its_loss():
    X, y_onehot = two_blobs(n_per_class=10)
    weights, biases = init_network([2, 3, 2], seed=0)
    calls = []
    losses = train(X, y_onehot, weights, biases, epochs=4, batch_size=6,
                   callback=lambda epoch, loss: calls.append((epoch, loss)))
    assert calls == list(enumerate(losses))


def test_train_loss_is_the_mean_of_the_batch_losses_including_a_short_last_batch():
    X, y_onehot = two_blobs(n_per_class=5)         # 10 samples, batches of 4, 4, 2
    weights, biases = init_network([2, 3, 2], seed=0)
    before = copy_network(weights, biases)
    (loss,) = train(X, y_onehot, weights, biases, epochs=1, batch_size=4, lr=0.0, shuffle=False)
    batch_losses = [cross_entropy(forward(X[s:s + 4], *before)[0][-1], y_onehot[s:s + 4])
                    for s in (0, 4, 8)]
    assert loss == pytest.approx(sum(batch_losses) / 3, rel=1e-15)


def test_train_updates_the_callers_matrices_in_place():
    X, y_onehot = two_blobs(n_per_class=5)
    weights, biases = init_network([2, 3, 2], seed=0)
    W0, first_row = weights[0], weights[0][0]
    old = first_row[:]
    train(X, y_onehot, weights, biases, epochs=1, batch_size=4)
    assert weights[0] is W0 and weights[0][0] is first_row and first_row != old


def test_train_with_zero_epochs_returns_no_losses_and_changes_nothing():
    X, y_onehot = two_blobs(n_per_class=5)
    weights, biases = init_network([2, 3, 2], seed=0)
    before = copy_network(weights, biases)
    assert train(X, y_onehot, weights, biases, epochs=0) == []
    assert (weights, biases) == before
