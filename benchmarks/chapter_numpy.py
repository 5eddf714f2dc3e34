"""The chapter's own NumPy code (§5.4–5.7), the baseline the native core is measured against.

Written as a reader of the chapter would type it — NumPy with its BLAS, one
mini-batch at a time — with one change: the bias gradient is the sum of δ,
not the mean (the erratum in the README). The cost is the same either way.
"""
import numpy as np


def relu(z):
    return np.maximum(z, 0)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(X, weights, biases):
    activations, pre_activations = [X], []
    for i, (W, b) in enumerate(zip(weights, biases)):
        Z = activations[-1] @ W + b
        pre_activations.append(Z)
        activations.append(softmax(Z) if i == len(weights) - 1 else relu(Z))
    return activations, pre_activations


def cross_entropy(probs, y_onehot):
    return -np.mean(np.sum(y_onehot * np.log(probs + 1e-12), axis=1))


def backward(activations, pre_activations, weights, y_onehot):
    num_layers = len(weights)
    m = y_onehot.shape[0]
    grad_w = [None] * num_layers
    grad_b = [None] * num_layers
    delta = (activations[-1] - y_onehot) / m
    for i in reversed(range(num_layers)):
        grad_w[i] = activations[i].T @ delta
        grad_b[i] = np.sum(delta, axis=0, keepdims=True)
        if i > 0:
            delta = (delta @ weights[i].T) * (pre_activations[i - 1] > 0)
    return grad_w, grad_b


def train_epoch(X_train, y_onehot, weights, biases, indices, lr, batch_size=64):
    """One epoch of §5.7 over `indices`; returns the mean batch loss."""
    N = len(indices)
    losses = []
    for start in range(0, N, batch_size):
        batch_idx = indices[start:start + batch_size]
        X_batch = X_train[batch_idx]
        y_batch = y_onehot[batch_idx]
        activations, pre_activations = forward(X_batch, weights, biases)
        losses.append(cross_entropy(activations[-1], y_batch))
        grad_w, grad_b = backward(activations, pre_activations, weights, y_batch)
        for i in range(len(weights)):
            weights[i] -= lr * grad_w[i]
            biases[i] -= lr * grad_b[i]
    return float(np.mean(losses))
