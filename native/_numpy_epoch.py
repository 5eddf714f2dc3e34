"""The NumPy backend's whole-epoch training and batched prediction (csrc/train.h).

The same loop as ``csrc/train_impl.inc`` and the chapter's §5.7, one mini-batch at a
time in Python: gather and scale the batch, forward (ReLU on the hidden layers),
fused softmax + cross-entropy + output error, δ̃ = −η·δ, backward with the old
weights (δₗ₋₁ = (δₗ @ Wₗᵀ) * ReLU'(Zₗ₋₁)), then Wₗ += Aₗᵀ δ̃ₗ and bₗ += sum(δ̃ₗ, axis=0).
Each step calls the backend's own kernels, so what the kernel tests prove holds here.
A sparse image set is made dense once and kept while the set lives (_dense_images):
NumPy has no faster product for a sparse batch of 64 rows.

Arguments arrive as the engine passes them to C (native/engine.py), with the
pass-through ffi of _numpy_backend: arrays instead of pointers, the weights as lists.
``workspace`` is not used (NumPy allocates per batch); its length is still checked.
"""
import weakref

import numpy as np

from . import _numpy_backend as K

MAX_LAYERS, MAX_THREADS, MAX_LEN = 64, 256, 1 << 60     # train.c's BP_MAX_*


def _r16(n):
    return (n + 15) // 16 * 16


def bp_train_workspace_len(n_layers, sizes, batch_size, n_threads):
    """train.c's formula (native/engine.py checks that Python and the backend agree)."""
    if not (1 <= n_layers <= MAX_LAYERS and batch_size >= 1 and 1 <= n_threads <= MAX_THREADS):
        return -1
    s = [int(x) for x in sizes[:n_layers + 1]]
    if any(not 1 <= x <= MAX_LEN for x in s):
        return -1
    private = sum(_r16(batch_size * n) for n in s) + sum(_r16(batch_size * n) for n in s[1:])
    total = _r16(batch_size * s[1]) + _r16(s[0]) + n_threads * private
    if total > MAX_LEN or any(s[i] * s[i + 1] > MAX_LEN for i in range(n_layers)):
        return -1
    return total


def _layers(n_layers, sizes, weights, biases):
    """The weight and bias matrices, checked against sizes (None if they do not fit)."""
    if weights is None or biases is None or len(weights) < n_layers or len(biases) < n_layers:
        return None
    ws, bs = [], []
    for l in range(n_layers):
        w, b = weights[l], biases[l]
        if w.size != sizes[l] * sizes[l + 1] or b.size != sizes[l + 1]:
            return None
        ws.append(w.reshape(sizes[l], sizes[l + 1]))
        bs.append(b.reshape(1, sizes[l + 1]))
    return ws, bs


def _check(n_layers, sizes, weights, biases, images, rs, col, pix, nnz, checked, n_images, batch_size,
           workspace_len, n_threads):
    """check_common of train.c: (weights, biases) or None."""
    if n_images < 0:
        return None
    need = bp_train_workspace_len(n_layers, sizes, batch_size, n_threads)
    if need < 0 or workspace_len < need:
        return None
    if rs is not None:
        if pix is None or not K.bp_sparse_usable(n_images, sizes[0], rs, col, nnz, checked):
            return None
    elif images is None or images.size < n_images * sizes[0]:
        return None
    return _layers(n_layers, sizes, weights, biases)


_DENSE = {}     # id(row_start) -> (weak refs to row_start, col, pix; their uint8 images)


def _dense_images(rs, col, pix, n, D):
    """The uint8 images (n, D) of a sparse set, rebuilt once per set and kept while the set
    lives: gathering a batch from them is 3x cheaper than rebuilding the batch each time,
    and NumPy has no faster product for a sparse batch of 64 rows."""
    hit = _DENSE.get(id(rs))
    if hit and hit[0]() is rs and hit[1]() is col and hit[2]() is pix:
        return hit[3]
    dense = np.zeros((n, D), np.uint8)
    nnz = int(rs[n])
    dense.reshape(-1)[np.repeat(np.arange(0, n * D, D), np.diff(rs[:n + 1])) + col[:nnz]] = pix[:nnz]
    key = id(rs)
    _DENSE[key] = (weakref.ref(rs, lambda _: _DENSE.pop(key, None)), weakref.ref(col), weakref.ref(pix), dense)
    return dense


class _Batches:
    """X for a batch of image rows, gathered and scaled from the uint8 pixels (of a sparse
    set: from its images rebuilt once, so both give the same numbers)."""

    def __init__(self, sizes, images, rs, col, pix, n_images, scale, dtype):
        self.n0, self.dtype, self.scale, self.n_images = int(sizes[0]), dtype, scale, n_images
        self.images = images if rs is None else _dense_images(rs, col, pix, n_images, self.n0)

    def x(self, rows):
        B = rows.shape[0]
        out = np.empty((B, self.n0), self.dtype)
        K.bp_gather_scale(B, self.n0, self.images, self.n_images, rows, self.scale, out)
        return out


def _forward(ws, bs, X):
    """[X, A₁, …, A_{L-1}, Z_L]: ReLU on the hidden layers, the logits last."""
    acts = [X]
    L = len(ws)
    for l in range(L):
        Z = np.empty((X.shape[0], ws[l].shape[1]), X.dtype)
        K.bp_matmul(Z.shape[0], Z.shape[1], ws[l].shape[0], acts[-1], ws[l].shape[0], 0,
                    ws[l], ws[l].shape[1], 0, bs[l], Z, Z.shape[1], 0)
        if l < L - 1:
            K.bp_relu(Z.size, Z, Z)
        acts.append(Z)
    return acts


@K._quiet
def bp_train_epoch_losses(n_layers, sizes, weights, biases, images, sp_row_start, sp_col, sp_pix,
                          sp_nnz, sp_checked, n_images, labels, order, n_order, batch_size, lr, scale,
                          workspace, workspace_len, label_buf, n_threads, mean_loss, batch_losses):
    layers = _check(n_layers, sizes, weights, biases, images, sp_row_start, sp_col, sp_pix, sp_nnz,
                    sp_checked, n_images, batch_size, workspace_len, n_threads)
    if (layers is None or labels is None or order is None or n_order < 1 or mean_loss is None
            or label_buf is None):
        return K.BP_EINVAL
    order, labels = order[:n_order], labels[:n_images]
    if order.min() < 0 or order.max() >= n_images or (n_images and (labels.min() < 0 or labels.max() >= sizes[n_layers])):
        return K.BP_EINVAL
    ws, bs = layers
    dtype = ws[0].dtype
    neg_lr = dtype.type(-lr)
    batches = _Batches(sizes, images, sp_row_start, sp_col, sp_pix, n_images, scale, dtype)
    loss = np.zeros(1)
    loss_sum = 0.0
    for k, start in enumerate(range(0, n_order, batch_size)):
        rows = order[start:start + batch_size]
        B = rows.shape[0]
        acts = _forward(ws, bs, batches.x(rows))
        # δ_L = (softmax(Z_L) − onehot) / B, and the batch's loss   §5.4–5.5
        delta = np.empty_like(acts[-1])
        K.bp_softmax_xent_delta(B, delta.shape[1], acts[-1], labels[rows].astype(np.int32), None, delta, loss)
        loss_sum += loss[0]
        if batch_losses is not None:
            batch_losses[k] = loss[0]
        delta *= neg_lr                     # δ̃ = −η·δ: each update below is W += Aᵀ δ̃
        for l in range(n_layers - 1, -1, -1):
            w = ws[l]
            prev = None
            if l > 0:                       # δₗ₋₁ = (δₗ @ Wₗᵀ) * ReLU'(Zₗ₋₁), with the old Wₗ
                prev = delta @ w.T
                K.bp_relu_backward(prev.size, prev, acts[l])
            # (sparse images too: acts[0] is the batch made dense, the numbers C reads)
            K.bp_matmul(w.shape[0], w.shape[1], B, acts[l], w.shape[0], 1, delta, w.shape[1], 0,
                        None, w, w.shape[1], 1)
            bs[l] += delta.sum(axis=0, keepdims=True)     # ∂L/∂b = sum(δ, axis=0) (the erratum)
            delta = prev
    mean_loss[0] = loss_sum / (-(-n_order // batch_size))
    return K.BP_OK


def bp_train_epoch(n_layers, sizes, weights, biases, images, sp_row_start, sp_col, sp_pix, sp_nnz,
                   sp_checked, n_images, labels, order, n_order, batch_size, lr, scale, workspace,
                   workspace_len, label_buf, n_threads, mean_loss):
    return bp_train_epoch_losses(n_layers, sizes, weights, biases, images, sp_row_start, sp_col, sp_pix,
                                 sp_nnz, sp_checked, n_images, labels, order, n_order, batch_size, lr,
                                 scale, workspace, workspace_len, label_buf, n_threads, mean_loss, None)


@K._quiet
def bp_predict(n_layers, sizes, weights, biases, images, sp_row_start, sp_col, sp_pix, sp_nnz, sp_checked,
               n_images, scale, batch_size, workspace, workspace_len, n_threads, pred):
    layers = _check(n_layers, sizes, weights, biases, images, sp_row_start, sp_col, sp_pix, sp_nnz,
                    sp_checked, n_images, batch_size, workspace_len, n_threads)
    if layers is None or pred is None:
        return K.BP_EINVAL
    ws, bs = layers
    batches = _Batches(sizes, images, sp_row_start, sp_col, sp_pix, n_images, scale, ws[0].dtype)
    for start in range(0, n_images, batch_size):
        rows = np.arange(start, min(start + batch_size, n_images), dtype=np.int64)
        pred[start:start + rows.shape[0]] = np.argmax(_forward(ws, bs, batches.x(rows))[-1], axis=1)
    return K.BP_OK
