"""The NumPy backend: every C kernel of ``native._kernels``, written with NumPy.

Used when the C extension was not built (no C compiler at install time, or
``BACKPROP_NUMPY_ONLY=1``); ``native/_backend.py`` makes the choice. It offers what
the wrappers in ``native/kernels.py`` and ``native/engine.py`` call — ``lib`` with the
C functions' names, arguments and status codes (0 ok, 1 refused), and ``ffi`` with
the few cffi calls they make — so the wrappers and every check in them are shared by
both backends. The "pointers" are the NumPy arrays themselves: ``ffi.from_buffer``
hands the array through, ``ffi.new("double *")`` is a one-element array.

Results agree with the C kernels within rounding (NumPy's BLAS sums in another
order); the ReLU mask, the clipping in the cross-entropy and the checks on indices
are the same. The whole-epoch calls of ``csrc/train.c`` are in ``_numpy_epoch.py``.
"""
import numpy as np

BP_OK, BP_EINVAL = 0, 1
# C computes inf and NaN without a word (the trainer reports a diverging run itself);
# so do these kernels: no RuntimeWarning from NumPy.
_quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
_TINY = {np.dtype(np.float32): np.finfo(np.float32).tiny, np.dtype(np.float64): np.finfo(np.float64).tiny}


class PassThroughFFI:
    """The part of cffi's FFI that the wrappers use, for arrays that stay arrays."""

    NULL = None

    @staticmethod
    def from_buffer(ctype, obj, require_writable=False):
        if require_writable and not obj.flags.writeable:  # cffi refuses these too
            raise TypeError("from_buffer() requires a writable buffer, got a read-only array")
        return obj

    @staticmethod
    def new(ctype, init=None):
        if ctype == "double *":
            return np.zeros(1, np.float64)
        if ctype == "int64_t[]":
            return np.array(init, dtype=np.int64)
        if ctype in ("float *[]", "double *[]"):     # the engine's lists of weight pointers
            return list(init)
        raise TypeError(f"the NumPy backend cannot make a {ctype!r}")

    @staticmethod
    def string(s):
        return s


ffi = PassThroughFFI()


def _mat(x, rows, cols, ld):
    """The rows x cols matrix of row stride ld that starts at x's first element."""
    return x.reshape(-1)[:rows * ld].reshape(rows, ld)[:, :cols] if rows else x.reshape(-1)[:0].reshape(0, cols)


# ---------------------------------------------------------------------------
# kernels.h

@_quiet
def bp_matmul(M, N, K, A, lda, trans_a, B, ldb, trans_b, bias, C, ldc, accumulate):
    if min(M, N, K) < 0 or A is None or B is None or C is None:
        return BP_EINVAL
    a = _mat(A, K, M, lda).T if trans_a else _mat(A, M, K, lda)
    b = _mat(B, N, K, ldb).T if trans_b else _mat(B, K, N, ldb)
    c = _mat(C, M, N, ldc)
    if accumulate:
        c += a @ b
    else:
        np.matmul(a, b, out=c)
    if bias is not None:
        c += bias.reshape(-1)[:N]
    return BP_OK


@_quiet
def bp_relu(n, z, a):
    np.maximum(z.reshape(-1)[:n], 0, out=a.reshape(-1)[:n])    # NaN stays NaN, as in C
    return BP_OK


@_quiet
def bp_relu_backward(n, delta, z):
    d = delta.reshape(-1)[:n]
    d *= z.reshape(-1)[:n] > 0          # ReLU'(z) = 1 where z > 0, else 0 (also at z = 0)
    return BP_OK


@_quiet
def bp_sgd_update(n, param, grad, lr):
    p = param.reshape(-1)[:n]
    p -= p.dtype.type(lr) * grad.reshape(-1)[:n]
    return BP_OK


@_quiet
def bp_column_sum(M, N, a, lda, out):
    np.sum(_mat(a, M, N, lda), axis=0, out=out.reshape(-1)[:N])
    return BP_OK


def _softmax_rows(z, out):
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


@_quiet
def bp_softmax(M, N, z, p):
    if M and N:
        _softmax_rows(_mat(z, M, N, N), _mat(p, M, N, N))
    return BP_OK


@_quiet
def bp_cross_entropy(M, N, p, y, loss):
    if M == 0:
        loss[0] = 0.0
        return BP_OK
    p, y = _mat(p, M, N, N), _mat(y, M, N, N)
    q = np.maximum(p, _TINY[p.dtype])    # 0 gives a large finite loss; NaN stays NaN
    nz = y != 0
    loss[0] = -float(np.sum(y[nz].astype(np.float64) * np.log(q[nz].astype(np.float64)))) / M
    return BP_OK


@_quiet
def bp_output_delta(M, N, p, y, delta):
    d = _mat(delta, M, N, N)
    np.subtract(_mat(p, M, N, N), _mat(y, M, N, N), out=d)
    d /= d.dtype.type(M)
    return BP_OK


@_quiet
def bp_softmax_xent_delta(M, N, z, labels, p, delta, loss):
    if M < 0 or N < 1 or delta is None or loss is None:
        return BP_EINVAL
    if M == 0:
        loss[0] = 0.0
        return BP_OK
    lab = labels[:M]
    if lab.min() < 0 or lab.max() >= N:
        return BP_EINVAL
    z = _mat(z, M, N, N)
    rows = np.arange(M)
    mx = z.max(axis=1, keepdims=True)
    d = _mat(delta, M, N, N)
    np.subtract(z, mx, out=d)
    zl = d[rows, lab].astype(np.float64)                 # z[label] - max
    np.exp(d, out=d)
    s = d.sum(axis=1, keepdims=True)
    loss[0] = float(np.mean(np.log(s[:, 0].astype(np.float64)) - zl))   # log-sum-exp: finite
    d /= s
    if p is not None:
        _mat(p, M, N, N)[...] = d
    d[rows, lab] -= 1
    d /= d.dtype.type(M)
    return BP_OK


@_quiet
def bp_gather_scale(B, D, images, n_images, idx, scale, out):
    if B == 0:
        return BP_OK
    idx = idx[:B]
    if idx.min() < 0 or idx.max() >= n_images:
        return BP_EINVAL
    o = _mat(out, B, D, D)
    np.multiply(_mat(images, n_images, D, D)[idx], o.dtype.type(scale), out=o, casting="unsafe")
    return BP_OK


def bp_simd_path():
    return b"numpy"


def bp_simd_level():
    return -1


def bp_openmp_threads():
    return 1


# ---------------------------------------------------------------------------
# sparse.h

def bp_sparse_count(n, D, images, row_start):
    row_start[0] = 0
    np.cumsum(np.count_nonzero(_mat(images, n, D, D), axis=1), out=row_start[1:n + 1])
    return BP_OK


def bp_sparse_fill(n, D, images, row_start, col, pix):
    img = _mat(images, n, D, D)
    expected = np.zeros(n + 1, np.int64)
    bp_sparse_count(n, D, images, expected)
    if not np.array_equal(expected, row_start[:n + 1]) or col.size != expected[n]:
        return BP_EINVAL
    flat = np.flatnonzero(img)            # row by row, columns increasing: the set's order
    np.remainder(flat, D, out=flat)
    col[:] = flat
    pix[:] = img.reshape(-1)[img.reshape(-1) != 0]
    return BP_OK


def bp_sparse_valid(n, D, row_start, col, nnz):
    rs = row_start[:n + 1]
    if rs.shape[0] != n + 1 or rs[0] != 0 or rs[n] != nnz or col.shape[0] < nnz or np.any(np.diff(rs) < 0):
        return 0
    c = col[:nnz]
    if nnz and int(c.max()) >= D:
        return 0
    rising = c[1:] > c[:-1]
    rising[rs[1:-1][(rs[1:-1] > 0) & (rs[1:-1] < nnz)] - 1] = True   # a new image starts over
    return int(bool(np.all(rising)))


def bp_sparse_usable(n, D, row_start, col, nnz, checked):
    """sparse.c's: the full check, or for a set checked when built (checked=1) its ends."""
    if not checked:
        return bp_sparse_valid(n, D, row_start, col, nnz)
    return int(0 <= n < row_start.shape[0] and 1 <= D <= 65536 and 0 <= nnz <= col.shape[0]
               and row_start[0] == 0 and row_start[n] == nnz)


def _densify(row_start, col, pix, n_images, idx, M, K, scale, dtype):
    """X[i, :] = image idx[i] (or i) of the set, times scale, as a dense (M, K) matrix:
    the same numbers the dense path gathers, so sparse and dense give the same bits."""
    rows = np.arange(M) if idx is None else idx[:M]
    starts = row_start[rows]
    lens = row_start[rows + 1] - starts
    total = int(lens.sum())
    X = np.zeros((M, K), dtype)
    if total:
        offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total)
        X[np.repeat(np.arange(M), lens), col[offsets]] = pix[offsets]
        X *= dtype.type(scale)
    return X


def _sparse_args_ok(M, N, K, row_start, col, nnz, checked, n_images, idx):
    if min(M, N, K, n_images) < 0 or not bp_sparse_usable(n_images, K, row_start, col, nnz, checked):
        return False
    if idx is not None and M and (idx[:M].min() < 0 or idx[:M].max() >= n_images):
        return False
    return idx is not None or M <= n_images


@_quiet
def bp_sparse_matmul(M, N, K, row_start, col, pix, nnz, checked, n_images, idx, scale, W, ldw, bias, C,
                     ldc):
    if not _sparse_args_ok(M, N, K, row_start, col, nnz, checked, n_images, idx):
        return BP_EINVAL
    c = _mat(C, M, N, ldc)
    np.matmul(_densify(row_start, col, pix, n_images, idx, M, K, scale, c.dtype), _mat(W, K, N, ldw), out=c)
    if bias is not None:
        c += bias.reshape(-1)[:N]
    return BP_OK


@_quiet
def bp_sparse_matmul_t_acc(M, N, K, row_start, col, pix, nnz, checked, n_images, idx, scale, D, ldd, W,
                           ldw):
    if not _sparse_args_ok(M, N, K, row_start, col, nnz, checked, n_images, idx):
        return BP_EINVAL
    w = _mat(W, K, N, ldw)
    w += _densify(row_start, col, pix, n_images, idx, M, K, scale, w.dtype).T @ _mat(D, M, N, ldd)
    return BP_OK


# ---------------------------------------------------------------------------
# The lib namespace: bp_<name>_f32 / _f64 for the typed kernels (one body serves both:
# NumPy follows the arrays' dtype), plus train.h from _numpy_epoch.

class _Lib:
    pass


lib = _Lib()
lib.BP_OK, lib.BP_EINVAL = BP_OK, BP_EINVAL
for _name in ("matmul", "relu", "relu_backward", "sgd_update", "column_sum", "softmax", "cross_entropy",
              "output_delta", "softmax_xent_delta", "gather_scale", "sparse_matmul", "sparse_matmul_t_acc"):
    for _sfx in ("f32", "f64"):
        setattr(lib, f"bp_{_name}_{_sfx}", globals()[f"bp_{_name}"])
for _name in ("simd_path", "simd_level", "openmp_threads", "sparse_count", "sparse_fill", "sparse_valid",
              "sparse_usable"):
    setattr(lib, f"bp_{_name}", globals()[f"bp_{_name}"])

from . import _numpy_epoch  # noqa: E402  (it uses the kernels above)

lib.bp_train_workspace_len = _numpy_epoch.bp_train_workspace_len
for _sfx in ("f32", "f64"):
    setattr(lib, f"bp_train_epoch_{_sfx}", _numpy_epoch.bp_train_epoch)
    setattr(lib, f"bp_train_epoch_losses_{_sfx}", _numpy_epoch.bp_train_epoch_losses)
    setattr(lib, f"bp_predict_{_sfx}", _numpy_epoch.bp_predict)
