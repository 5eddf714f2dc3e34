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

import functools
import numbers
import threading

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
    """(uint8 pointer, row_start, col, pix, nnz, checked, n): the C arguments for dense or
    sparse images. A SparseImages was checked once, when built, and cannot be changed
    since (see its docstring): C reads it without checking it again."""
    if isinstance(images, SparseImages):
        if images.shape[1] != n_features:
            raise ValueError(f"images must have {n_features} pixels a row, got {images.shape[1]}")
        return (ffi.NULL, *images._c(), images.shape[0])
    _check_images("images", images, n_features)
    return (ffi.from_buffer("uint8_t[]", images), ffi.NULL, ffi.NULL, ffi.NULL, 0, 0, images.shape[0])


def _check_step(name, v, dtype, upper):
    """lr and scale: finite, > 0, at most `upper`, checked in Python (10**400 is an
    int no float holds: a ValueError, not an OverflowError from the conversion)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {type(v).__name__}")
    try:
        x = float(v)
    except (OverflowError, ValueError, TypeError):
        x = float("nan")
    if not (0 < x <= upper and x <= np.finfo(dtype).max):    # also refuses NaN
        raise ValueError(f"{name} must be a number in (0, {upper:g}], got {v!r}")
    return x


# Beyond these a step cannot be meant: lr 100 already diverges, and a scale past 1
# makes the inputs larger than raw pixel values (scale=1e30 returned NaN).
MAX_LR, MAX_SCALE = 1e4, 1.0


def _check_apart(named):
    """No two of these arrays may share memory: the C loop writes each in place."""
    arrays = [(n, a) for n, a in named if isinstance(a, np.ndarray)]
    for i, (na, a) in enumerate(arrays):
        for nb, b in arrays[i + 1:]:
            if np.may_share_memory(a, b):
                raise ValueError(f"{na} and {nb} share memory; training writes both, so each "
                                 "must be its own array (pass a copy)")


def _explain_refusal(fn, rc):
    """C refused an epoch or prediction whose arguments Python had checked (should not happen)."""
    raise ValueError(f"{fn} rejected its arguments (code {rc})")


def _indices(name, x, upper, length=None, what="lie in"):
    """A private int64/int32 copy of a 1-D integer array whose values lie in [0, upper).

    Refuses what native.kernels refuses — floats, bools, other shapes — instead of
    casting (2**32 + 3 would wrap to 3, 2.7 truncate to 2). The copy is what C reads
    while the GIL is released, so a caller's thread changing its array mid-epoch
    cannot steer C out of bounds; it costs ~1 % of an epoch's memory traffic."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of integers, got {type(x).__name__}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if length is not None and x.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got {x.shape}")
    copy = np.array(x, dtype=np.int64, copy=True) if x.dtype != np.uint64 else x.copy()
    if copy.size and (copy.min() < 0 or copy.max() >= upper):
        bad = copy[(copy < 0) | (copy >= upper)][0]
        raise ValueError(f"{name} must {what} [0, {upper}), got {bad}")
    return copy.astype(np.int64, copy=False)


def _check_positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _one_call_at_a_time(method):
    """Holds the Engine's lock for the whole call: two threads training one Engine (or
    predicting during training) would interleave their copies in and out of the shared
    workspace and parameters, a result of no serial order. A second call waits its turn."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


MAX_LAYERS, MAX_THREADS = 64, 256     # train.c's BP_MAX_LAYERS, BP_MAX_THREADS


def workspace_len(sizes, batch_size, threads):
    """Elements of the C workspace for this network (train.c's bp_train_workspace_len),
    computed in Python integers, which cannot overflow. ValueError names what is out
    of range; C checks the same products again."""
    sizes = [int(n) for n in sizes]
    if not 2 <= len(sizes) <= MAX_LAYERS + 1:
        raise ValueError(f"sizes must have 2 to {MAX_LAYERS + 1} widths (at most {MAX_LAYERS} "
                         f"layers), got {len(sizes)}")
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be in [1, {MAX_THREADS}], got {threads}")
    r16 = lambda k: (k + 15) // 16 * 16
    private = sum(r16(batch_size * n) for n in sizes) + sum(r16(batch_size * n) for n in sizes[1:])
    total = r16(batch_size * sizes[1]) + r16(sizes[0]) + threads * private
    largest = max(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    if max(total, largest) >= 2 ** 60:
        raise MemoryError(f"sizes {sizes} with batch size {batch_size} and {threads} threads "
                          f"need about 2^{max(total, largest).bit_length()} numbers: beyond any memory")
    n = lib.bp_train_workspace_len(len(sizes) - 1, ffi.new("int64_t[]", sizes), batch_size, threads)
    if n != total:      # C and Python must agree on the layout (a stale build would not)
        raise ValueError(f"the C workspace length {n} differs from the expected {total}")
    return total


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
        _check_apart(self._named())
        self._lock = threading.Lock()           # see _one_call_at_a_time
        self.batch_size, self.threads = int(batch_size), int(threads)
        self.sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
        self._ctype = "float" if self.dtype == np.float32 else "double"
        self._suffix = "_f32" if self.dtype == np.float32 else "_f64"

        self._sizes_c = ffi.new("int64_t[]", self.sizes)
        n = workspace_len(self.sizes, self.batch_size, self.threads)
        if n * self.dtype.itemsize > 2 ** 50:
            raise MemoryError(f"sizes {self.sizes} with batch size {self.batch_size} and "
                              f"{self.threads} threads need a {n * self.dtype.itemsize / 2**30:,.0f} GiB "
                              "workspace")
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

    @_one_call_at_a_time
    def train_epoch(self, images, labels, order, lr, scale=1.0 / 255.0, batch_losses=None):
        """One epoch over images[order] in mini-batches; returns the mean batch loss.

        images: (n, n₀) uint8, or their SparseImages; labels: (n,) integer class
        indices; order: the epoch's sample order, integer indices into images (a
        slice of whole batches runs part of an epoch: the trainer calls it so).
        batch_losses: None, or a writeable 1-D float64 array of one entry per
        mini-batch (ceil(len(order) / batch_size)) that receives each batch's loss.
        """
        img = _image_args(images, self.sizes[0])
        n = img[-1]
        labels = _indices("labels", labels, self.sizes[-1], length=n,
                          what="be class indices in").astype(np.int32)
        order = _indices("order", order, n, what="index images, i in")
        if order.size == 0:
            raise ValueError("order must hold at least one sample index, got an empty array")
        lr = _check_step("lr", lr, self.dtype, MAX_LR)
        scale = _check_step("scale", scale, self.dtype, MAX_SCALE)
        n_batches = -(-order.size // self.batch_size)
        if batch_losses is None:
            losses_c = ffi.NULL
        else:
            if (not isinstance(batch_losses, np.ndarray) or batch_losses.dtype != np.float64
                    or batch_losses.shape != (n_batches,) or not batch_losses.flags.c_contiguous
                    or not batch_losses.flags.writeable):
                got = (f"{batch_losses.dtype} {batch_losses.shape}" if isinstance(batch_losses, np.ndarray)
                       else type(batch_losses).__name__)
                raise ValueError(f"batch_losses must be a writeable C-contiguous float64 array of "
                                 f"shape ({n_batches},) (one entry per mini-batch), got {got}")
            _check_apart([("batch_losses", batch_losses),
                          ("images", images if isinstance(images, np.ndarray) else None),
                          *self._named()])
            losses_c = ffi.from_buffer("double[]", batch_losses, require_writable=True)
        loss = ffi.new("double *")
        self._copy_in()
        rc = getattr(lib, "bp_train_epoch_losses" + self._suffix)(
            len(self.weights), self._sizes_c, self._w_c, self._b_c, *img,
            ffi.from_buffer("int32_t[]", labels),
            ffi.from_buffer("int64_t[]", order), order.size, self.batch_size,
            lr, scale, self._ws_c, self._workspace.size,
            ffi.from_buffer("int32_t[]", self._label_buf, require_writable=True),
            self.threads, loss, losses_c)
        if rc != 0:
            _explain_refusal(f"bp_train_epoch{self._suffix}", rc)
        self._copy_out()
        return float(loss[0])

    @_one_call_at_a_time
    def predict(self, images, scale=1.0 / 255.0):
        """Class index (argmax of the output) for every row of `images` (uint8 or SparseImages)."""
        img = _image_args(images, self.sizes[0])
        scale = _check_step("scale", scale, self.dtype, MAX_SCALE)
        pred = np.empty(img[-1], dtype=np.int32)
        if img[-1] == 0:
            return pred
        self._copy_in()
        rc = getattr(lib, "bp_predict" + self._suffix)(
            len(self.weights), self._sizes_c, self._w_c, self._b_c, *img, scale, self.batch_size,
            self._ws_c, self._workspace.size, self.threads,
            ffi.from_buffer("int32_t[]", pred, require_writable=True))
        if rc != 0:
            _explain_refusal(f"bp_predict{self._suffix}", rc)
        return pred

    def accuracy(self, images, labels, scale=1.0 / 255.0):
        """Fraction of rows whose predicted class equals `labels` ((n,) integer class indices)."""
        n = images.shape[0] if isinstance(images, (np.ndarray, SparseImages)) else None
        labels = _indices("labels", labels, self.sizes[-1], length=n, what="be class indices in")
        pred = self.predict(images, scale)
        if pred.size == 0:
            raise ValueError("accuracy of no images is undefined: images has 0 rows")
        return float(np.mean(pred == labels))
