"""Validated Python wrappers over the C kernels of ``native._kernels``.

Every wrapper checks its arguments *before* the C call (the project's rule for handing
NumPy arrays to C, in full here): each array must be a ``numpy.ndarray``; float arrays
exactly float32 or float64 in native byte order, one dtype per call; 2-D (``labels``/``idx``: 1-D);
shapes that agree; C-contiguous; outputs and in-place targets writeable, of the
exact expected shape and dtype, and not overlapping an input.  Nothing is copied
or reallocated behind the caller's back: an in-place target is updated in place or
the call is refused.  Wrong input raises TypeError/ValueError naming the function,
the argument, what was expected and what came.

    matmul(a, b, out=None, *, trans_a=False, trans_b=False, bias=None, accumulate=False)
    relu(z, out=None)                       relu_backward(delta, z)      (in place)
    sgd_update(param, grad, lr)  (in place) column_sum(a, out=None)  -> (1, N)
    softmax(z, out=None)                    cross_entropy(probs, y_onehot) -> float
    output_delta(probs, y_onehot, out=None) -> (P - Y) / M
    softmax_xent_delta(z, labels, delta=None, probs=None) -> (loss, delta)
    gather_scale(images, idx, scale, out=None, *, dtype=float64)
    SparseImages(images)      the nonzero pixels of a uint8 image array, kept once
    sparse_matmul(images, w, idx=None, scale=1.0, *, bias=None, out=None) -> X @ W (+ bias)
    sparse_matmul_t_acc(images, d, w, idx=None, scale=1.0)       W += Xᵀ @ D (in place)
        (X = the SparseImages' rows idx, times scale)
    simd_path(), openmp_threads(), BACKEND ('c' or 'numpy'), ffi, lib
"""
import math as _math
import numbers as _numbers

import numpy as np

# The C extension, or — where it was not built — the NumPy backend, with the same
# function names and status codes (native/_backend.py decides; a stale build is an error).
from ._backend import load as _load_backend

ffi, lib, _BACKEND_NOTE = _load_backend()
BACKEND = "numpy" if _BACKEND_NOTE else "c"

__all__ = ["matmul", "relu", "relu_backward", "sgd_update", "column_sum", "softmax",
           "cross_entropy", "output_delta", "softmax_xent_delta", "gather_scale",
           "SparseImages", "sparse_matmul", "sparse_matmul_t_acc", "simd_path", "openmp_threads", "BACKEND", "ffi", "lib"]

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_CTYPE = {_F32: "float[]", _F64: "double[]"}
# the C functions for each dtype: _FUN[dtype]["matmul"] is lib.bp_matmul_f32 / _f64
_FUN = {dt: {name: getattr(lib, f"bp_{name}_{sfx}") for name in
             ("matmul", "relu", "relu_backward", "sgd_update", "column_sum", "softmax",
              "cross_entropy", "output_delta", "softmax_xent_delta", "gather_scale",
              "sparse_matmul", "sparse_matmul_t_acc")}
        for dt, sfx in ((_F32, "f32"), (_F64, "f64"))}
_ndarray = np.ndarray
_from_buffer = ffi.from_buffer
_may_share = np.may_share_memory
_NULL = ffi.NULL


# ---------------------------------------------------------------------------
# The shared checks.

def _arr(fn, name, a, dtype=None, ndim=2, writable=False):
    """Check one float array argument of `fn`; return its dtype.

    dtype None: float32 or float64 (native byte order); else exactly `dtype`
    (the dtype of the call's first float array, which `name` must share)."""
    if type(a) is _ndarray:  # fast path for the usual case: identity tests, one flags lookup
        dt = a.dtype
        if (dt is dtype if dtype is not None else (dt is _F64 or dt is _F32)) and a.ndim == ndim:
            flags = a.flags
            if flags.c_contiguous and (flags.writeable or not writable):
                return dt
    if not isinstance(a, _ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    dt = a.dtype
    if dt not in _CTYPE:
        order = " in native byte order" if dt.kind == "f" and not dt.isnative else ""
        raise TypeError(f"{fn}: {name} must be float32 or float64{order}, got {dt.str if order else dt}")
    if dtype is not None and dt is not dtype and dt != dtype:
        raise TypeError(f"{fn}: {name} must have the same dtype as the other arrays of this call "
                        f"({dtype}), got {dt}")
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D, got {a.ndim}-D with shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} must be C-contiguous; pass np.ascontiguousarray({name})")
    if writable and not a.flags.writeable:
        raise ValueError(f"{fn}: {name} is written in place and must be writeable, got a read-only array")
    return dt


def _out(fn, name, out, shape, dtype):
    """Check an output array: exact shape and dtype, C-contiguous, writeable."""
    _arr(fn, name, out, dtype, len(shape), writable=True)
    if out.shape != shape:
        raise ValueError(f"{fn}: {name} must have shape {shape}, got {out.shape}")


def _apart(fn, out_name, out, in_name, a, allow_same=False):
    """`out` must not overlap the input `a` (unless it is exactly the same memory and allowed).

    Both are C-contiguous, so overlapping byte ranges is overlapping memory."""
    if allow_same and out is a:
        return
    if out is not a and out.flags.owndata and a.flags.owndata:
        return  # two separate allocations
    if _may_share(out, a):
        if allow_same and out.shape == a.shape and \
                out.__array_interface__["data"][0] == a.__array_interface__["data"][0]:
            return
        raise ValueError(f"{fn}: {out_name} must not overlap {in_name}"
                         + (" (it may be the very same array)" if allow_same else ""))


def _same_shape_out(fn, z, out):
    """Check input `z` and an optional `out` of z's shape (z itself allowed: in place);
    return (dtype, out), allocating out when it is None."""
    dt = _arr(fn, "z", z)
    if out is None:
        return dt, np.empty(z.shape, dt)
    _out(fn, "out", out, z.shape, dt)
    _apart(fn, "out", out, "z", z, allow_same=True)
    return dt, out


def _same_shape(fn, name_a, a, name_b, b):
    if a.shape != b.shape:
        raise ValueError(f"{fn}: {name_a} and {name_b} must have the same shape, "
                         f"got {name_a} {a.shape} and {name_b} {b.shape}")


def _real(fn, name, x):
    """A finite real number (bool excluded), as a Python float."""
    if type(x) is not float:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, _numbers.Real):
            raise TypeError(f"{fn}: {name} must be a real number, got {type(x).__name__}")
        try:
            x = float(x)
        except OverflowError:       # an int like 10**400: no float holds it
            raise ValueError(f"{fn}: {name} must be finite, got an integer of "
                             f"{len(str(abs(x)))} digits") from None
    if not _math.isfinite(x):
        raise ValueError(f"{fn}: {name} must be finite, got {x}")
    return x


def _flag(fn, name, x):
    if x is False or x is True:
        return x
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be a bool, got {type(x).__name__}")
    return bool(x)


def _rd(a, dt):
    return _from_buffer(_CTYPE[dt], a)


def _wr(a, dt):
    return _from_buffer(_CTYPE[dt], a, require_writable=True)


def _call(fn, status):
    if status:  # the checks above should make this unreachable
        raise ValueError(f"{fn}: the C kernel rejected its arguments (error code {status})")


# ---------------------------------------------------------------------------
# The kernels.

def matmul(a, b, out=None, *, trans_a=False, trans_b=False, bias=None, accumulate=False):
    """out = op(a) @ op(b) (+ bias, a (1, N) row added to every row) (+ out if accumulate).

    op(x) is x, or x.T when its trans flag is set (the transpose is read in place,
    never copied).  With accumulate=True, `out` is required and is added to."""
    fn = "matmul"
    dt = _arr(fn, "a", a)
    _arr(fn, "b", b, dt)
    ta, tb = _flag(fn, "trans_a", trans_a), _flag(fn, "trans_b", trans_b)
    acc = _flag(fn, "accumulate", accumulate)
    M, K = (a.shape[1], a.shape[0]) if ta else a.shape
    Kb, N = (b.shape[1], b.shape[0]) if tb else b.shape
    if K != Kb:
        raise ValueError(f"{fn}: op(a) @ op(b) needs op(a).shape[1] == op(b).shape[0] "
                         f"(trans_a={ta}, trans_b={tb}), got a {a.shape} and b {b.shape}")
    if bias is not None:
        _arr(fn, "bias", bias, dt)
        if bias.shape != (1, N):
            raise ValueError(f"{fn}: bias must have shape (1, {N}), got {bias.shape}")
    if out is None:
        if acc:
            raise ValueError(f"{fn}: accumulate=True needs out (the matrix to add to)")
        out = np.empty((M, N), dt)
    else:
        _out(fn, "out", out, (M, N), dt)
        _apart(fn, "out", out, "a", a)
        _apart(fn, "out", out, "b", b)
        if bias is not None:
            _apart(fn, "out", out, "bias", bias)
    if M == 0 or N == 0:
        return out
    ct = _CTYPE[dt]
    _call(fn, _FUN[dt]["matmul"](M, N, K, _from_buffer(ct, a), a.shape[1], ta, _from_buffer(ct, b), b.shape[1], tb,
                                 _NULL if bias is None else _from_buffer(ct, bias),
                                 _from_buffer(ct, out, require_writable=True), N, acc))
    return out


def relu(z, out=None):
    """out = max(z, 0); out may be z itself (in place)."""
    fn = "relu"
    dt, out = _same_shape_out(fn, z, out)
    _call(fn, _FUN[dt]["relu"](z.size, _rd(z, dt), _wr(out, dt)))
    return out


def relu_backward(delta, z):
    """delta *= (z > 0), in place (ReLU'(z) is 1 where z > 0, else 0); returns delta."""
    fn = "relu_backward"
    dt = _arr(fn, "delta", delta, writable=True)
    _arr(fn, "z", z, dt)
    _same_shape(fn, "delta", delta, "z", z)
    _apart(fn, "delta", delta, "z", z, allow_same=True)
    _call(fn, _FUN[dt]["relu_backward"](delta.size, _wr(delta, dt), _rd(z, dt)))
    return delta


def sgd_update(param, grad, lr):
    """param -= lr * grad, in place; returns param."""
    fn = "sgd_update"
    dt = _arr(fn, "param", param, writable=True)
    _arr(fn, "grad", grad, dt)
    _same_shape(fn, "param", param, "grad", grad)
    lr = _real(fn, "lr", lr)
    if abs(lr) > float(np.finfo(dt).max):      # C would round it to inf: every entry ±inf or NaN
        raise ValueError(f"{fn}: lr {lr:g} does not fit in {np.dtype(dt).name} "
                         f"(at most {np.finfo(dt).max:g})")
    _apart(fn, "param", param, "grad", grad)
    _call(fn, _FUN[dt]["sgd_update"](param.size, _wr(param, dt), _rd(grad, dt), lr))
    return param


def column_sum(a, out=None):
    """out[0, j] = sum_i a[i, j], shape (1, N): the bias gradient sum(delta, axis=0)."""
    fn = "column_sum"
    dt = _arr(fn, "a", a)
    M, N = a.shape
    if out is None:
        out = np.empty((1, N), dt)
    else:
        _out(fn, "out", out, (1, N), dt)
        _apart(fn, "out", out, "a", a)
    _call(fn, _FUN[dt]["column_sum"](M, N, _rd(a, dt), N, _wr(out, dt)))
    return out


def softmax(z, out=None):
    """Row-wise softmax, max-subtracted (stable for logits like 1000); out may be z itself."""
    fn = "softmax"
    dt, out = _same_shape_out(fn, z, out)
    _call(fn, _FUN[dt]["softmax"](z.shape[0], z.shape[1], _rd(z, dt), _wr(out, dt)))
    return out


def cross_entropy(probs, y_onehot):
    """-(1/M) sum(y * log(max(p, tiny))), tiny the smallest normal number: finite even for p == 0.

    Returns 0.0 for an empty batch (M == 0)."""
    fn = "cross_entropy"
    dt = _arr(fn, "probs", probs)
    _arr(fn, "y_onehot", y_onehot, dt)
    _same_shape(fn, "probs", probs, "y_onehot", y_onehot)
    loss = ffi.new("double *")
    M, N = probs.shape
    _call(fn, _FUN[dt]["cross_entropy"](M, N, _rd(probs, dt), _rd(y_onehot, dt), loss))
    return loss[0]


def output_delta(probs, y_onehot, out=None):
    """out = (P - Y) / M, the output layer's error signal for softmax + cross-entropy."""
    fn = "output_delta"
    dt = _arr(fn, "probs", probs)
    _arr(fn, "y_onehot", y_onehot, dt)
    _same_shape(fn, "probs", probs, "y_onehot", y_onehot)
    if out is None:
        out = np.empty(probs.shape, dt)
    else:
        _out(fn, "out", out, probs.shape, dt)
        _apart(fn, "out", out, "probs", probs)
        _apart(fn, "out", out, "y_onehot", y_onehot)
    M, N = probs.shape
    _call(fn, _FUN[dt]["output_delta"](M, N, _rd(probs, dt), _rd(y_onehot, dt), _wr(out, dt)))
    return out


def _int_vector(fn, name, x, ctype_dtype, length, upper):
    """A 1-D integer array, as a C-contiguous array of `ctype_dtype` (a converted copy when
    needed: `x` is an input, never written).  Values are range-checked here only when a
    conversion could wrap them; otherwise the C kernel checks and _range_error explains."""
    if not isinstance(x, _ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray of integers, got {type(x).__name__}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {name} must have an integer dtype, got {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"{fn}: {name} must be 1-D, got {x.ndim}-D with shape {x.shape}")
    if length is not None and x.shape[0] != length:
        raise ValueError(f"{fn}: {name} must have {length} entries (one per row), got {x.shape[0]}")
    if x.dtype != ctype_dtype or not x.flags.c_contiguous:
        _range_error(fn, name, x, upper)
        x = np.ascontiguousarray(x, dtype=ctype_dtype)
    return x


def _range_error(fn, name, x, upper):
    """Raise ValueError if some value of the integer array x lies outside [0, upper)."""
    if x.size and (x.min() < 0 or x.max() >= upper):
        bad = x[(x < 0) | (x >= upper)][0]
        raise ValueError(f"{fn}: {name} must lie in [0, {upper}), got {bad}")


def softmax_xent_delta(z, labels, delta=None, probs=None):
    """Fused output layer: probs = softmax(z) (stored only if `probs` is given),
    loss = mean cross-entropy against integer `labels`, delta = (probs - onehot(labels)) / M.

    Returns (loss, delta).  `labels` (1-D, values in [0, N)) is read only; any integer
    dtype is accepted (a converted copy goes to C)."""
    fn = "softmax_xent_delta"
    dt = _arr(fn, "z", z)
    M, N = z.shape
    labels = _int_vector(fn, "labels", labels, np.int32, M, N)
    if delta is None:
        delta = np.empty((M, N), dt)
    else:
        _out(fn, "delta", delta, (M, N), dt)
        _apart(fn, "delta", delta, "z", z)
    if probs is not None:
        _out(fn, "probs", probs, (M, N), dt)
        _apart(fn, "probs", probs, "z", z)
        _apart(fn, "probs", probs, "delta", delta)
    loss = ffi.new("double *")
    status = _FUN[dt]["softmax_xent_delta"](
        M, N, _rd(z, dt), _from_buffer("int32_t[]", labels),
        ffi.NULL if probs is None else _wr(probs, dt), _wr(delta, dt), loss)
    if status:
        _range_error(fn, "labels", labels, N)
        _call(fn, status)
    return loss[0], delta


def gather_scale(images, idx, scale, out=None, *, dtype=np.float64):
    """out[i, :] = images[idx[i], :] * scale: a mini-batch gathered straight from uint8 pixels.

    images: 2-D uint8, C-contiguous; idx: 1-D integers in [0, len(images)) (int64, else a
    converted copy).  out's dtype is float32 or float64 (`dtype` when out is None)."""
    fn = "gather_scale"
    if not isinstance(images, _ndarray):
        raise TypeError(f"{fn}: images must be a numpy.ndarray, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(f"{fn}: images must be uint8, got {images.dtype}")
    if images.ndim != 2:
        raise ValueError(f"{fn}: images must be 2-D (n_images, D), got shape {images.shape}")
    if not images.flags.c_contiguous:
        raise ValueError(f"{fn}: images must be C-contiguous; pass np.ascontiguousarray(images)")
    n_images, D = images.shape
    idx = _int_vector(fn, "idx", idx, np.int64, None, n_images)
    scale = _real(fn, "scale", scale)
    B = idx.shape[0]
    if out is None:
        dt = np.dtype(dtype)
        if dt not in _CTYPE:
            raise TypeError(f"{fn}: dtype must be float32 or float64, got {dt}")
        out = np.empty((B, D), dt)
    else:
        dt = _arr(fn, "out", out, writable=True)
        _out(fn, "out", out, (B, D), dt)
        _apart(fn, "out", out, "images", images)
    status = _FUN[dt]["gather_scale"](B, D, _from_buffer("uint8_t[]", images), n_images,
                                      _from_buffer("int64_t[]", idx), scale, _wr(out, dt))
    if status:
        _range_error(fn, "idx", idx, n_images)
        _call(fn, status)
    return out


class SparseImages:
    """The nonzero pixels of a uint8 image array (n, D), image by image (csrc/sparse.h).

    Built once per dataset, 3 bytes a nonzero pixel (MNIST's training set: 27 MB
    against 47 MB dense). ``row_start``, ``col`` and ``pix`` are read-only views:
    image i's pixels are col[row_start[i]:row_start[i+1]] (increasing), their values
    pix[...]. ``density`` is the fraction of nonzero pixels: the sparse first layer
    pays while it is well below 1/2 (the trainer's threshold is 0.3).

    The set lives in NumPy memory allocated here, checked once when it is built
    (bp_sparse_valid) and never handed out writeable: the object keeps only views whose
    buffer is read-only, which NumPy refuses to make writeable, so no caller — nor a
    second thread during an epoch — can damage it, and C reads it without checking it
    again at every call. Both backends hold it so (ffi.from_buffer reads it in place).
    """

    def __init__(self, images):
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2:
            got = (f"{images.dtype} array of shape {images.shape}" if isinstance(images, np.ndarray)
                   else type(images).__name__)
            raise TypeError(f"SparseImages: images must be a 2-D numpy uint8 array, got {got}")
        n, d = images.shape
        if not 1 <= d <= 65536:
            raise ValueError(f"SparseImages: images must have 1 to 65536 pixels a row, got {d}")
        images = np.ascontiguousarray(images)
        src = ffi.from_buffer("uint8_t[]", images)
        rs = np.empty(n + 1, np.int64)
        rc = lib.bp_sparse_count(n, d, src, ffi.from_buffer("int64_t[]", rs, require_writable=True))
        nnz = int(rs[n])
        col, pix = np.empty(nnz, np.uint16), np.empty(nnz, np.uint8)
        rc = rc or lib.bp_sparse_fill(n, d, src, ffi.from_buffer("int64_t[]", rs),
                                      ffi.from_buffer("uint16_t[]", col, require_writable=True),
                                      ffi.from_buffer("uint8_t[]", pix, require_writable=True))
        # images changing under us between the two passes is the only way to fail
        if rc != 0 or not self._keep((n, d), rs, col, pix):
            raise RuntimeError("bp_sparse_count/bp_sparse_fill failed: were the images modified "
                               "while being read?")

    def _keep(self, shape, rs, col, pix):
        """Check the set once; if valid, keep read-only views of it (and no writeable
        reference) and return True."""
        n, d = shape
        if not lib.bp_sparse_valid(n, d, ffi.from_buffer("int64_t[]", rs), ffi.from_buffer("uint16_t[]", col),
                                   col.size):
            return False
        self.__views = tuple(np.asarray(memoryview(a).toreadonly()) for a in (rs, col, pix))
        self.__nnz, self._shape = col.size, shape
        return True

    shape = property(lambda self: self._shape, doc="(n images, D pixels a row)")

    def __reduce__(self):       # pickle and deepcopy: the three arrays' bytes
        return SparseImages._from_parts, (self._shape, *(a.tobytes() for a in self.__views))

    @classmethod
    def _from_parts(cls, shape, row_start, col, pix):
        """A set from its arrays' bytes (an unpickled one): copied into fresh memory and
        checked like a new set, so a damaged or hand-made pickle is refused."""
        n, d = shape
        nnz = len(pix)
        if (not 0 <= n or not 1 <= d <= 65536 or len(row_start) != 8 * (n + 1)
                or len(col) != 2 * nnz):
            raise ValueError(f"SparseImages: inconsistent parts for shape {shape}")
        self = cls.__new__(cls)
        if not self._keep((n, d), *(np.frombuffer(b, dt).copy() for b, dt in
                                    ((row_start, np.int64), (col, np.uint16), (pix, np.uint8)))):
            raise ValueError("SparseImages: the parts are not a valid set of images (row starts "
                             "or pixel indices out of order or out of range)")
        return self

    row_start = property(lambda self: self.__views[0])
    col = property(lambda self: self.__views[1])
    pix = property(lambda self: self.__views[2])

    def _c(self):
        """(row_start, col, pix, nnz, checked=1): the C arguments. Memory only C and the
        read-only views see, checked when built: C need not check it again."""
        rs, col, pix = self.__views
        return (_from_buffer("int64_t[]", rs), _from_buffer("uint16_t[]", col),
                _from_buffer("uint8_t[]", pix), self.__nnz, 1)

    def __len__(self):
        return self._shape[0]

    @property
    def nnz(self):
        return self.__nnz

    @property
    def density(self):
        return self.nnz / max(1, self._shape[0] * self._shape[1])

    @property
    def nbytes(self):
        return sum(a.nbytes for a in self.__views)

    def __repr__(self):
        return f"SparseImages({self._shape[0]} x {self._shape[1]}, density {self.density:.3f})"


def _sparse_batch(fn, images, idx):
    """Check the SparseImages argument and the optional row selection; return (idx, M, K)."""
    if not isinstance(images, SparseImages):
        raise TypeError(f"{fn}: images must be a native.kernels.SparseImages (build one with "
                        f"SparseImages(uint8_array)), got {type(images).__name__}")
    n, K = images.shape
    if idx is None:
        return None, n, K
    idx = _int_vector(fn, "idx", idx, np.int64, None, n)
    _range_error(fn, "idx", idx, n)
    return idx, idx.shape[0], K


def _sparse_call(fn, images, status):
    _call(fn, status)


def sparse_matmul(images, w, idx=None, scale=1.0, *, bias=None, out=None):
    """X @ W (+ bias) for X[i, :] = images[idx[i], :] * scale (all rows when idx is None),
    on the nonzero pixels only.

    images: SparseImages of D pixels a row; w: (D, N) float32/float64; bias: (1, N);
    out: (M, N), M = len(idx). The result equals the dense product up to rounding order."""
    fn = "sparse_matmul"
    idx, M, K = _sparse_batch(fn, images, idx)
    dt = _arr(fn, "w", w)
    if w.shape[0] != K:
        raise ValueError(f"{fn}: w must have {K} rows (one per pixel), got shape {w.shape}")
    N = w.shape[1]
    scale = _real(fn, "scale", scale)
    if bias is not None:
        _arr(fn, "bias", bias, dt)
        if bias.shape != (1, N):
            raise ValueError(f"{fn}: bias must have shape (1, {N}), got {bias.shape}")
    if out is None:
        out = np.empty((M, N), dt)
    else:
        _out(fn, "out", out, (M, N), dt)
        _apart(fn, "out", out, "w", w)
        if bias is not None:
            _apart(fn, "out", out, "bias", bias)
    _sparse_call(fn, images, _FUN[dt]["sparse_matmul"](
        M, N, K, *images._c(), images.shape[0], _NULL if idx is None else _from_buffer("int64_t[]", idx),
        scale, _rd(w, dt), N, _NULL if bias is None else _rd(bias, dt), _wr(out, dt), N))
    return out


def sparse_matmul_t_acc(images, d, w, idx=None, scale=1.0):
    """W += Xᵀ @ D in place, for X[i, :] = images[idx[i], :] * scale (all rows when idx is
    None): the first layer's update with D = -lr * delta, on the nonzero pixels only.

    images: SparseImages of K pixels a row; d: (M, N), M = len(idx); w: (K, N), same dtype."""
    fn = "sparse_matmul_t_acc"
    idx, M, K = _sparse_batch(fn, images, idx)
    dt = _arr(fn, "d", d)
    _arr(fn, "w", w, dt, writable=True)
    if d.shape[0] != M:
        raise ValueError(f"{fn}: d must have {M} rows (one per selected image), got shape {d.shape}")
    if w.shape != (K, d.shape[1]):
        raise ValueError(f"{fn}: w must have shape ({K}, {d.shape[1]}), got {w.shape}")
    _apart(fn, "w", w, "d", d)
    N = d.shape[1]
    scale = _real(fn, "scale", scale)
    _sparse_call(fn, images, _FUN[dt]["sparse_matmul_t_acc"](
        M, N, K, *images._c(), images.shape[0], _NULL if idx is None else _from_buffer("int64_t[]", idx),
        scale, _rd(d, dt), N, _wr(w, dt), N))
    return w


def simd_path():
    """The code path the kernels use: 'avx512' (matmul and the sparse first layer; the rest
    AVX2), 'avx2-fma' (x86-64), 'neon' (arm64) or 'generic' (portable C); or, without the
    C extension, 'numpy (<why>)', e.g. 'numpy (no C extension: ...)' (BACKEND is 'numpy').

    Chosen from the CPU at the first call (native/csrc/kernels_select.c; the paths and how
    each was verified: docs/platforms.md); BACKPROP_FORCE_GENERIC=1 forces 'generic',
    BACKPROP_NO_AVX512=1 stops at 'avx2-fma' (both read once, at the first call);
    BACKPROP_NUMPY_ONLY=1 (read at import) the NumPy backend."""
    return ffi.string(lib.bp_simd_path()).decode() + _BACKEND_NOTE


def openmp_threads():
    """omp_get_max_threads() of the compiled library, or 1 if it was built without OpenMP."""
    return int(lib.bp_openmp_threads())
