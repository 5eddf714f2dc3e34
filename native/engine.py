"""The trainer's fast path: a whole epoch, or a whole prediction pass, in one C call.

``native.train()`` runs the chapter's loop in Python, calling a kernel per
step (~20 calls per mini-batch). For MNIST that overhead would cost more than
the arithmetic, so ``Engine`` hands the C loop in ``csrc/train.c`` the uint8
images, the labels and the epoch's sample order; it gathers and scales each
mini-batch itself and runs the same kernels. The workspace is allocated once
per Engine, never per batch.

``SparseImages`` keeps only the nonzero pixels of an image array (81 % of
MNIST's pixels are zero). Given one instead of the uint8 array, the engine's
first layer — nearly all of the arithmetic — runs on those pixels only: the
same products (a skipped term is 0·w), about a fifth of the work.
"""

import numbers

import numpy as np

from .kernels import SparseImages, ffi, lib
from .network import _check_layers


def _check_images(name, images, n_features):
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        got = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(f"{name} must be a numpy uint8 array, got {got}")
    if images.ndim != 2 or images.shape[1] != n_features:
        raise ValueError(f"{name} must have shape (n, {n_features}), got {images.shape}")
    if not images.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")


def _aligned_empty(shape, dtype, align=64):
    """An uninitialised C-contiguous array whose data starts on an `align`-byte boundary."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(n + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + n].view(dtype).reshape(shape)


def _image_args(images, n_features):
    """(uint8 pointer, row_start, col, pix, n): the C arguments for dense or sparse images."""
    if isinstance(images, SparseImages):
        if images.shape[1] != n_features:
            raise ValueError(f"images must have {n_features} pixels a row, got {images.shape[1]}")
        return (ffi.NULL, *images._c(), images.shape[0])
    _check_images("images", images, n_features)
    return (ffi.from_buffer("uint8_t[]", images), ffi.NULL, ffi.NULL, ffi.NULL, 0, images.shape[0])


def _check_real(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
        raise ValueError(f"{name} must be a finite real number, got {v!r}")


def _explain_refusal(images, fn, rc):
    """C refused an epoch or prediction whose other arguments Python had checked."""
    if isinstance(images, SparseImages):
        rs, col, _, nnz = images._c()
        if not lib.bp_sparse_valid(images.shape[0], images.shape[1], rs, col, nnz):
            raise ValueError("images: this SparseImages is damaged (its row starts or pixel indices "
                             "were changed); build it again from the uint8 images")
    raise ValueError(f"{fn} rejected its arguments (code {rc})")


def _check_positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")


class Engine:
    """Binds one network (weights and biases, updated in place) to a C workspace.

    weights/biases: the chapter's lists of C-contiguous float32 or float64
    arrays; batch_size: the mini-batch size; threads: OpenMP threads (1 = none).
    """

    def __init__(self, weights, biases, batch_size=64, threads=1):
        self.dtype = _check_layers(weights, biases)
        _check_positive_int("batch_size", batch_size)
        _check_positive_int("threads", threads)
        for name, params in (("weights", weights), ("biases", biases)):
            for i, p in enumerate(params):
                if not p.flags.writeable:
                    raise ValueError(f"{name}[{i}] must be writeable: training updates it in place")
        # The arrays bound now are the ones updated: later changes to the caller's
        # lists (not to the arrays) do not reach the engine.
        self.weights, self.biases = list(weights), list(biases)
        self.batch_size, self.threads = int(batch_size), int(threads)
        self.sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
        self._ctype = "float" if self.dtype == np.float32 else "double"
        self._suffix = "_f32" if self.dtype == np.float32 else "_f64"

        self._sizes_c = ffi.new("int64_t[]", self.sizes)
        n = lib.bp_train_workspace_len(len(weights), self._sizes_c, self.batch_size, self.threads)
        if n < 0:
            raise ValueError(f"network sizes {self.sizes} with {self.threads} threads are not "
                             "supported (at most 64 layers, 256 threads)")
        self._workspace = _aligned_empty(n, self.dtype)
        self._label_buf = np.empty(self.batch_size, dtype=np.int32)
        # The C loop works on 64-byte-aligned copies of the parameters: threads split
        # W₀ and A₁ by columns at cache-line boundaries, which only holds when the
        # arrays start on one (NumPy guarantees 16 bytes). Each call copies the
        # caller's arrays in and the results back out: updates land in their arrays.
        self._params = [_aligned_empty(a.shape, self.dtype) for a in (*weights, *biases)]
        buf = lambda a: ffi.from_buffer(f"{self._ctype}[]", a, require_writable=True)
        self._keep = [buf(a) for a in self._params]
        self._w_c = ffi.new(f"{self._ctype} *[]", self._keep[:len(weights)])
        self._b_c = ffi.new(f"{self._ctype} *[]", self._keep[len(weights):])
        self._ws_c = buf(self._workspace)

    def _named(self):
        return [(f"weights[{i}]", w) for i, w in enumerate(self.weights)] + \
               [(f"biases[{i}]", b) for i, b in enumerate(self.biases)]

    def _copy_in(self):
        for mine, (name, theirs) in zip(self._params, self._named()):
            if theirs.shape != mine.shape or theirs.dtype != mine.dtype or not theirs.flags.writeable:
                raise ValueError(f"{name} was changed since the Engine was made: it must stay a "
                                 f"writeable {mine.dtype} array of shape {mine.shape}, got "
                                 f"{theirs.dtype} {theirs.shape}"
                                 + ("" if theirs.flags.writeable else " (read-only)"))
            np.copyto(mine, theirs)

    def _copy_out(self):
        for mine, theirs in zip(self._params, (*self.weights, *self.biases)):
            np.copyto(theirs, mine)

    def train_epoch(self, images, labels, order, lr, scale=1.0 / 255.0):
        """One epoch over images[order] in mini-batches; returns the mean batch loss.

        images: (n, n₀) uint8, or their SparseImages; labels: (n,) integer class
        indices; order: the epoch's sample order, int64 indices into images.
        """
        img = _image_args(images, self.sizes[0])
        n = img[-1]
        labels = np.ascontiguousarray(labels, dtype=np.int32)   # a copy of an input, never written
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= self.sizes[-1]):
            raise ValueError(f"labels must be class indices in [0, {self.sizes[-1]}), "
                             f"got values from {labels.min()} to {labels.max()}")
        order = np.ascontiguousarray(order, dtype=np.int64)
        if order.ndim != 1 or order.size == 0:
            raise ValueError(f"order must be a non-empty 1-D array of sample indices, got shape {order.shape}")
        if order.min() < 0 or order.max() >= n:
            raise ValueError(f"order must index images (0 ≤ i < {n}), "
                             f"got values from {order.min()} to {order.max()}")
        _check_real("lr", lr)
        _check_real("scale", scale)
        loss = ffi.new("double *")
        self._copy_in()
        rc = getattr(lib, "bp_train_epoch" + self._suffix)(
            len(self.weights), self._sizes_c, self._w_c, self._b_c, *img,
            ffi.from_buffer("int32_t[]", labels),
            ffi.from_buffer("int64_t[]", order), order.size, self.batch_size,
            lr, scale, self._ws_c, self._workspace.size,
            ffi.from_buffer("int32_t[]", self._label_buf, require_writable=True),
            self.threads, loss)
        if rc != 0:
            _explain_refusal(images, f"bp_train_epoch{self._suffix}", rc)
        self._copy_out()
        return float(loss[0])

    def predict(self, images, scale=1.0 / 255.0):
        """Class index (argmax of the output) for every row of `images` (uint8 or SparseImages)."""
        img = _image_args(images, self.sizes[0])
        _check_real("scale", scale)
        pred = np.empty(img[-1], dtype=np.int32)
        if img[-1] == 0:
            return pred
        self._copy_in()
        rc = getattr(lib, "bp_predict" + self._suffix)(
            len(self.weights), self._sizes_c, self._w_c, self._b_c, *img, scale, self.batch_size,
            self._ws_c, self._workspace.size, self.threads,
            ffi.from_buffer("int32_t[]", pred, require_writable=True))
        if rc != 0:
            _explain_refusal(images, f"bp_predict{self._suffix}", rc)
        return pred

    def accuracy(self, images, labels, scale=1.0 / 255.0):
        """Fraction of rows whose predicted class equals `labels`."""
        return float(np.mean(self.predict(images, scale) == np.asarray(labels)))
