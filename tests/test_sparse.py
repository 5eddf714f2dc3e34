"""The sparse first layer: SparseImages, the two sparse products, and the engine on them.

Claims: the set holds exactly the nonzero pixels; the sparse products equal the
dense ones up to rounding order, for every column count (each SIMD block width
and the scalar tail); an epoch on SparseImages equals the dense epoch; how the
columns are split between threads changes no bit; bad input is refused by name.
"""
import numpy as np
import pytest

import native
from native import kernels as kern
from native.engine import Engine
from native.kernels import SparseImages, ffi, lib

DTYPES = [np.float64, np.float32]
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5}
# 1..200 columns: every block width of every SIMD path (1, 2, 4, 8 vectors of 2 to 16
# lanes), with and without a scalar tail; 400: a W₀ of more than 1 MB, whose update
# prefetches its rows (sparse_impl.inc, SP_PF_BYTES).
WIDTHS = [1, 3, 4, 8, 16, 21, 32, 48, 64, 100, 131, 200, 400]


def digit_like(rng, n, d=784, density=0.2):
    """uint8 images with about `density` nonzero pixels; like digits, a border of pixels
    that are zero in every image, and (unlike them) some images all zero."""
    img = (rng.random((n, d)) < density) * rng.integers(1, 256, (n, d))
    img[:, : d // 10] = 0
    img[::7] = 0
    return img.astype(np.uint8)


def assert_close(got, ref, bound, dtype):
    """|got - ref| within TOL of `bound`, the sum of the magnitudes that went into ref."""
    err = np.abs(got.astype(np.float64) - ref) / (bound + 1)
    assert err.max() <= TOL[np.dtype(dtype)], err.max()


def test_sparse_images_hold_exactly_the_nonzero_pixels_row_by_row():
    rng = np.random.default_rng(0)
    img = digit_like(rng, 40, d=70)
    sp = SparseImages(img)
    rows, cols = np.nonzero(img)
    assert sp.shape == img.shape and len(sp) == 40 and sp.nnz == rows.size
    np.testing.assert_array_equal(sp.col, cols)
    np.testing.assert_array_equal(sp.pix, img[rows, cols])
    np.testing.assert_array_equal(np.diff(sp.row_start), np.count_nonzero(img, axis=1))
    assert sp.density == pytest.approx(rows.size / img.size)
    for a in (sp.row_start, sp.col, sp.pix):
        assert not a.flags.writeable


def test_sparse_images_of_an_all_zero_or_empty_array():
    assert SparseImages(np.zeros((5, 784), np.uint8)).nnz == 0
    sp = SparseImages(np.zeros((0, 784), np.uint8))
    assert len(sp) == 0 and sp.density == 0


@pytest.mark.parametrize("bad,exc,match", [
    (np.zeros((3, 4), np.float32), TypeError, "uint8"),
    (np.zeros(12, np.uint8), TypeError, "2-D"),
    ([[1, 2]], TypeError, "list"),
    (np.zeros((2, 70000), np.uint8), ValueError, "65536"),
])
def test_sparse_images_refuse_what_is_not_a_uint8_image_array(bad, exc, match):
    with pytest.raises(exc, match=match):
        SparseImages(bad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_cols", WIDTHS)
def test_sparse_matmul_equals_the_dense_product_plus_bias(dtype, n_cols):
    rng = np.random.default_rng(n_cols)
    img = digit_like(rng, 70)
    sp = SparseImages(img)
    w = rng.standard_normal((784, n_cols)).astype(dtype)
    bias = rng.standard_normal((1, n_cols)).astype(dtype)
    idx = rng.integers(0, 70, 64)                  # a batch, with repeats
    x = img[idx].astype(np.float64) / 255
    ref, bound = x @ w + bias, x @ np.abs(w) + np.abs(bias)
    for got in (kern.sparse_matmul(sp, w, idx, 1 / 255, bias=bias),
                kern.sparse_matmul(sp, w, idx, 1 / 255, bias=bias, out=np.full((64, n_cols), np.nan, dtype))):
        assert got.dtype == dtype and got.shape == (64, n_cols)
        assert_close(got, ref, bound, dtype)
    whole = kern.sparse_matmul(sp, w)              # idx None: every row, scale 1, no bias
    assert_close(whole, img.astype(np.float64) @ w, img.astype(np.float64) @ np.abs(w), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_cols", WIDTHS)
def test_sparse_update_adds_x_transpose_d_to_w(dtype, n_cols):
    rng = np.random.default_rng(100 + n_cols)
    img = digit_like(rng, 70)
    sp = SparseImages(img)
    w = rng.standard_normal((784, n_cols)).astype(dtype)
    d = rng.standard_normal((64, n_cols)).astype(dtype)
    idx = rng.integers(0, 70, 64)
    x = img[idx].astype(np.float64) / 255
    ref, bound = w + x.T @ d, np.abs(w) + x.T @ np.abs(d)
    got = w.copy()
    assert kern.sparse_matmul_t_acc(sp, d, got, idx, 1 / 255) is got
    assert_close(got, ref, bound, dtype)
    untouched = np.count_nonzero(img[idx], axis=0) == 0
    assert untouched.any() and np.array_equal(got[untouched], w[untouched])   # rows of unused pixels


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_column_split_gives_the_same_bits(dtype):
    """The kernels' contract (sparse_impl.inc): a column comes out the same whichever
    columns a call covers, so callers may split the columns (the dense path's threads do)."""
    rng = np.random.default_rng(7)
    sp = SparseImages(digit_like(rng, 64))
    w = rng.standard_normal((784, 100)).astype(dtype)
    d = rng.standard_normal((64, 100)).astype(dtype)
    ct = "float" if dtype == np.float32 else "double"
    fb = lambda a: ffi.from_buffer(ct + "[]", a)
    mm = getattr(lib, "bp_sparse_matmul_" + ("f32" if dtype == np.float32 else "f64"))
    upd = getattr(lib, "bp_sparse_matmul_t_acc_" + ("f32" if dtype == np.float32 else "f64"))
    whole = kern.sparse_matmul(sp, w, scale=0.5)
    whole_w = kern.sparse_matmul_t_acc(sp, d, w.copy(), scale=0.5)
    for cut in (16, 37, 48, 99):                   # the right part starts at column `cut`
        out, w2 = np.empty_like(whole), w.copy()
        for lo, hi in ((0, cut), (cut, 100)):
            wp = ffi.cast(ct + " *", fb(w)) + lo
            assert mm(64, hi - lo, 784, *sp._c(), 64, ffi.NULL, 0.5, wp, 100, ffi.NULL,
                      ffi.cast(ct + " *", fb(out)) + lo, 100) == 0
            assert upd(64, hi - lo, 784, *sp._c(), 64, ffi.NULL, 0.5, ffi.cast(ct + " *", fb(d)) + lo, 100,
                       ffi.cast(ct + " *", fb(w2)) + lo, 100) == 0
        assert out.tobytes() == whole.tobytes() and w2.tobytes() == whole_w.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_update_of_a_large_batch_has_the_bits_of_one_row_at_a_time(dtype):
    """W += XᵀD regroups the batch's pixels (64 rows and a window of 1,024 pixels at a
    time, as 64 bytes of row values per pixel: sparse_impl.inc) and keeps two of W's rows
    in registers at a time; each weight must still add the batch rows in order, exactly as
    150 one-row calls do. Images of 9,000 pixels: the 150 rows are regrouped as
    64 + 64 + 22, in 9 windows; the full image's pixels span all of them."""
    rng = np.random.default_rng(11)
    img = digit_like(rng, 40, d=9000)
    img[5] = rng.integers(1, 256, 9000)
    sp = SparseImages(img)
    idx = rng.integers(0, 40, 150)
    idx[[63, 64, 149]] = 5
    w = rng.standard_normal((9000, 37)).astype(dtype)
    d = rng.standard_normal((150, 37)).astype(dtype)
    whole = kern.sparse_matmul_t_acc(sp, d, w.copy(), idx, 1 / 255)
    one_by_one = w.copy()
    for i in range(150):
        kern.sparse_matmul_t_acc(sp, d[i:i + 1], one_by_one, idx[i:i + 1], 1 / 255)
    assert whole.tobytes() == one_by_one.tobytes()
    x = img[idx].astype(np.float64) / 255
    assert_close(whole, w + x.T @ d, np.abs(w) + x.T @ np.abs(d), dtype)


# --- the engine on SparseImages ---------------------------------------------------

def problem(dtype, n=300, sizes=(784, 16, 12, 10), seed=0):
    rng = np.random.default_rng(seed)
    images = digit_like(rng, n)
    labels = rng.integers(0, sizes[-1], n)
    W, B = native.init_network(list(sizes), seed=seed, dtype=dtype)
    return images, labels, W, B


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sizes", [(784, 16, 12, 10), (784, 10), (784, 64, 32, 10), (784, 40, 16, 8, 10)])
def test_an_epoch_on_sparse_images_equals_the_dense_epoch(dtype, tol, threads, sizes):
    images, labels, W, B = problem(dtype, sizes=sizes)
    W2, B2 = [w.copy() for w in W], [b.copy() for b in B]
    order = np.random.default_rng(1).permutation(len(images))
    dense = Engine(W, B, batch_size=32, threads=threads).train_epoch(images, labels, order, 0.05)
    sparse = Engine(W2, B2, batch_size=32, threads=threads).train_epoch(SparseImages(images), labels,
                                                                        order, 0.05)
    assert sparse == pytest.approx(dense, rel=tol)
    for a, b in zip(W + B, W2 + B2):
        assert np.abs(a - b).max() <= tol * max(1.0, np.abs(a).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_prediction_equals_dense_prediction(dtype):
    images, _, W, B = problem(dtype, n=301, sizes=(784, 64, 32, 10))
    eng = Engine(W, B, batch_size=64, threads=2)
    dense = eng.predict(images)
    np.testing.assert_array_equal(eng.predict(SparseImages(images)), dense)
    acts, _ = native.forward((images / 255.0).astype(dtype), W, B)
    np.testing.assert_array_equal(dense, acts[-1].argmax(axis=1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sizes", [(784, 64, 32, 10), (784, 200, 10)])
def test_an_epoch_that_keeps_the_regrouping_has_the_bits_of_one_that_regroups(dtype, threads, sizes):
    """With batches of at most 64 rows the epoch's X·W₀ also writes the batch's pixels by
    pixel, and W₀'s update reads them instead of regrouping the batch itself
    (train_impl.inc). An engine of batch size 100 never does: fed the same 64-row batches
    one call each, it must end with the same bits."""
    images, labels, W, B = problem(dtype, n=320, sizes=sizes)
    sp = SparseImages(images)
    order = np.random.default_rng(3).permutation(320)
    W2, B2 = [w.copy() for w in W], [b.copy() for b in B]
    Engine(W, B, batch_size=64, threads=threads).train_epoch(sp, labels, order, 0.1)
    one_at_a_time = Engine(W2, B2, batch_size=100, threads=threads)
    for start in range(0, 320, 64):
        one_at_a_time.train_epoch(sp, labels, order[start:start + 64], 0.1)
    assert b"".join(a.tobytes() for a in W + B) == b"".join(a.tobytes() for a in W2 + B2)


def kernels_one_by_one(sp, labels, order, lr, W, B, batch):
    """One epoch of train_impl.inc written out with the public kernels, batch by batch."""
    dt, L, scale = W[0].dtype.type, len(W), 1.0 / 255.0
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        a = [None, kern.sparse_matmul(sp, W[0], idx=rows, scale=scale, bias=B[0])]
        for l in range(1, L):
            kern.relu(a[l], out=a[l])
            a.append(kern.matmul(a[l], W[l], bias=B[l]))
        d = [None] * L
        d[L - 1] = kern.softmax_xent_delta(a[L], labels[rows])[1] * dt(-lr)
        for l in range(L - 1, 0, -1):
            d[l - 1] = kern.relu_backward(kern.matmul(d[l], W[l], trans_b=True), a[l])
        kern.sparse_matmul_t_acc(sp, d[0], W[0], idx=rows, scale=scale)
        for l in range(L):
            if l:
                kern.matmul(a[l], d[l], out=W[l], trans_a=True, accumulate=True)
            for r in range(len(rows)):
                B[l] += d[l][r]


@pytest.mark.parametrize("dtype,sizes", [
    (np.float32, (784, 10)), (np.float32, (784, 64, 10)), (np.float32, (784, 256, 32, 10)),
    (np.float32, (784, 300, 10)), (np.float32, (784, 1024, 10)),
    (np.float64, (784, 64, 10)), (np.float64, (784, 100, 10)), (np.float64, (784, 128, 10)),
    (np.float64, (784, 512, 10))])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_sparse_epoch_has_the_bits_of_its_kernels_called_one_by_one(dtype, sizes, threads):
    """The epoch loop in C ends with the bits of the public kernels called batch by batch.
    The widths cover W₀ rows of 40 and 256 bytes (kept), 800 and 1,200 bytes (not whole
    cache lines) and 1, 2 and 4 KB (multiples of 512 bytes): rows wider than 512 bytes are
    worked on in a copy of W₀ whose rows are an odd number of cache lines apart (train.c,
    sparse_w0_ld), copied back at the end; beyond 1 MB, W₀'s update prefetches its rows and,
    on one thread, runs fused with the next batch's X·W₀ (sparse_impl.inc)."""
    images, labels, W, B = problem(dtype, n=200, sizes=sizes)
    sp = SparseImages(images)
    order = np.random.default_rng(4).permutation(200)[:150]
    W2, B2 = [w.copy() for w in W], [b.copy() for b in B]
    Engine(W, B, batch_size=32, threads=threads).train_epoch(sp, labels, order, 0.1)
    kernels_one_by_one(sp, labels, order, 0.1, W2, B2, 32)
    for name, a, b in zip([f"W{l}" for l in range(len(W))] + [f"b{l}" for l in range(len(B))],
                          W + B, W2 + B2):
        assert a.tobytes() == b.tobytes(), name


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_a_single_bit_of_a_sparse_epoch(dtype):
    results = []
    for threads in (1, 2, 3):
        images, labels, W, B = problem(dtype, n=500, sizes=(784, 64, 32, 10))
        sp, eng = SparseImages(images), Engine(W, B, batch_size=64, threads=threads)
        for epoch in range(2):
            eng.train_epoch(sp, labels, np.random.default_rng(epoch).permutation(500), 0.1)
        results.append(b"".join(a.tobytes() for a in W + B))
    assert results[0] == results[1] == results[2]


# --- bad input --------------------------------------------------------------------

def test_sparse_wrappers_refuse_bad_arguments_by_name():
    rng = np.random.default_rng(0)
    sp = SparseImages(digit_like(rng, 10, d=20))
    w, d = np.zeros((20, 5)), np.zeros((3, 5))
    with pytest.raises(TypeError, match="sparse_matmul: images must be a native.kernels.SparseImages"):
        kern.sparse_matmul(np.zeros((10, 20), np.uint8), w)
    with pytest.raises(ValueError, match="sparse_matmul: w must have 20 rows"):
        kern.sparse_matmul(sp, np.zeros((21, 5)))
    with pytest.raises(ValueError, match=r"sparse_matmul: idx must lie in \[0, 10\), got 10"):
        kern.sparse_matmul(sp, w, np.array([0, 10]))
    with pytest.raises(ValueError, match=r"sparse_matmul: bias must have shape \(1, 5\)"):
        kern.sparse_matmul(sp, w, bias=np.zeros((1, 4)))
    with pytest.raises(TypeError, match="sparse_matmul: bias must have the same dtype"):
        kern.sparse_matmul(sp, w, bias=np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError, match="sparse_matmul: scale must be finite"):
        kern.sparse_matmul(sp, w, scale=float("nan"))
    with pytest.raises(ValueError, match=r"sparse_matmul: out must have shape \(10, 5\)"):
        kern.sparse_matmul(sp, w, out=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="sparse_matmul_t_acc: d must have 10 rows"):
        kern.sparse_matmul_t_acc(sp, d, w)
    with pytest.raises(ValueError, match=r"sparse_matmul_t_acc: w must have shape \(20, 5\)"):
        kern.sparse_matmul_t_acc(sp, d, np.zeros((20, 6)), np.array([0, 1, 2]))
    ro = np.zeros((20, 5))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="sparse_matmul_t_acc: w is written in place"):
        kern.sparse_matmul_t_acc(sp, d, ro, np.array([0, 1, 2]))


def test_engine_refuses_sparse_images_of_another_width():
    images, labels, W, B = problem(np.float32)
    with pytest.raises(ValueError, match="images must have 784 pixels a row, got 20"):
        Engine(W, B).train_epoch(SparseImages(images[:, :20]), labels, np.arange(300), 0.1)


def tampered(sp, **arrays):
    """The set's C arguments with some arrays replaced (what a careless C caller passes).
    Returns the arrays (the pointers do not keep them alive) and the arguments."""
    a = {"row_start": sp.row_start.copy(), "col": sp.col.copy(), "pix": sp.pix.copy(), **arrays}
    keep = [a["row_start"], a["col"], a["pix"]]
    return keep, (ffi.from_buffer("int64_t[]", keep[0]), ffi.from_buffer("uint16_t[]", keep[1]),
                  ffi.from_buffer("uint8_t[]", keep[2]), keep[1].size, 0)     # 0: C checks it


DAMAGE = ["pixel index past the row", "pixel indices out of order", "a pixel twice",
          "row_start decreasing", "row_start not starting at 0", "row_start ending past the arrays"]


def damaged(sp, damage):
    rs, col = sp.row_start.copy(), sp.col.copy()
    first = int(np.argmax(np.diff(sp.row_start) >= 2))       # an image with 2+ pixels
    p = int(rs[first])
    if damage == "pixel index past the row":
        col[p + 1] = 784
    elif damage == "pixel indices out of order":
        col[p], col[p + 1] = col[p + 1], col[p]
    elif damage == "a pixel twice":
        col[p + 1] = col[p]
    elif damage == "row_start decreasing":
        rs[3] = rs[4] + 1
    elif damage == "row_start not starting at 0":
        rs[0] = 1
    else:
        rs[-1] += 1000
    return tampered(sp, row_start=rs, col=col)


@pytest.mark.parametrize("damage", DAMAGE)
def test_c_epoch_refuses_a_damaged_sparse_set_instead_of_reading_out_of_bounds(damage):
    images, labels, W, B = problem(np.float32, n=50)
    sp = SparseImages(images)
    keep, c = damaged(sp, damage)
    assert lib.bp_sparse_valid(50, 784, *c[:2], c[3]) == 0
    assert lib.bp_sparse_usable(50, 784, *c[:2], c[3], 0) == 0
    eng = Engine(W, B, batch_size=16, threads=2)
    labels32 = np.ascontiguousarray(labels, np.int32)
    order = np.arange(50, dtype=np.int64)
    loss = ffi.new("double *")
    rc = lib.bp_train_epoch_f32(len(W), eng._sizes_c, eng._w_c, eng._b_c, ffi.NULL, *c, 50,
                                ffi.from_buffer("int32_t[]", labels32), ffi.from_buffer("int64_t[]", order),
                                50, 16, 0.1, 1 / 255, eng._ws_c, eng._workspace.size,
                                ffi.from_buffer("int32_t[]", eng._label_buf), 2, loss)
    assert rc == lib.BP_EINVAL
    pred = np.empty(50, np.int32)
    rc = lib.bp_predict_f32(len(W), eng._sizes_c, eng._w_c, eng._b_c, ffi.NULL, *c, 50, 1 / 255, 16,
                            eng._ws_c, eng._workspace.size, 1, ffi.from_buffer("int32_t[]", pred))
    assert rc == lib.BP_EINVAL
    w = np.zeros((784, 8), np.float32)
    rc = lib.bp_sparse_matmul_f32(50, 8, 784, *c, 50, ffi.NULL, 1.0, ffi.from_buffer("float[]", w), 8,
                                  ffi.NULL, ffi.from_buffer("float[]", np.zeros((50, 8), np.float32)), 8)
    assert rc == lib.BP_EINVAL
    del keep                            # (kept alive until here: the pointers do not hold it)


def test_a_sparse_set_cannot_be_reshaped_or_written_through_its_views():
    """What C trusts without checking it again: the set's memory is reachable only
    through views whose buffer is read-only, so not even a deliberate flag flip makes
    them writeable (the old views' flag could be flipped back, and a damaged set read)."""
    images, labels, W, B = problem(np.float64, n=50)
    sp = SparseImages(images)
    with pytest.raises(AttributeError):
        sp.shape = (10 ** 8, 784)
    for a in (sp.row_start, sp.col, sp.pix, sp.row_start[1:], sp.col.view(np.int16)):
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 5
        with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
            a.flags.writeable = True
        with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
            a.setflags(write=True)
    before = sp.row_start.copy()
    eng = Engine(W, B, batch_size=16)
    eng.train_epoch(sp, labels, np.arange(50), 0.1)
    assert np.array_equal(sp.row_start, before) and sp.row_start[-1] == sp.nnz


@pytest.mark.parametrize("threads", [1, 2])
def test_a_second_thread_attacking_a_sparse_set_during_epochs_changes_nothing(threads):
    """A thread that keeps trying to damage the set while epochs run (the GIL is released
    during each C call) neither crashes the epoch nor changes one bit of its result:
    every attempt is refused."""
    import threading
    images, labels, W, B = problem(np.float32, n=300)
    sp = SparseImages(images)
    order = np.random.default_rng(3).permutation(300)
    W_ref, B_ref = [w.copy() for w in W], [b.copy() for b in B]
    eng_ref = Engine(W_ref, B_ref, batch_size=16, threads=threads)
    ref = [eng_ref.train_epoch(sp, labels, order, 0.1) for _ in range(20)]
    stop, refused, attempts = threading.Event(), [], [0]

    def attack():
        while not stop.is_set():
            for a in (sp.row_start, sp.col, sp.pix):
                attempts[0] += 1
                try:
                    a.flags.writeable = True
                    a[-1] = 65535               # would point past the row / the arrays
                except ValueError as e:
                    refused.append(str(e))
            try:
                sp.shape = (10 ** 9, 784)
            except AttributeError:
                pass
    t = threading.Thread(target=attack)
    t.start()
    try:
        eng = Engine(W, B, batch_size=16, threads=threads)
        losses = [eng.train_epoch(sp, labels, order, 0.1) for _ in range(20)]
    finally:
        stop.set()
        t.join()
    assert attempts[0] > 0 and len(refused) == attempts[0]
    assert losses == ref and sp.shape == (300, 784)
    for mine, theirs in zip(W + B, W_ref + B_ref):
        assert mine.tobytes() == theirs.tobytes()


def test_a_sparse_set_pickles_and_deep_copies_and_a_damaged_pickle_is_refused():
    import copy
    import pickle
    images, labels, W, B = problem(np.float32, n=50)
    sp = SparseImages(images)
    for again in (pickle.loads(pickle.dumps(sp)), copy.deepcopy(sp)):
        assert again.shape == sp.shape and again.nnz == sp.nnz
        for a, b in zip((again.row_start, again.col, again.pix), (sp.row_start, sp.col, sp.pix)):
            assert np.array_equal(a, b) and not a.flags.writeable
        W2, B2 = [w.copy() for w in W], [b.copy() for b in B]
        assert (Engine(W2, B2, batch_size=16).train_epoch(again, labels, np.arange(50), 0.1)
                == Engine([w.copy() for w in W], [b.copy() for b in B], batch_size=16)
                .train_epoch(sp, labels, np.arange(50), 0.1))
    col = sp.col.copy()
    col[0], col[1] = col[1], col[0]             # the first image's pixels out of order
    with pytest.raises(ValueError, match="not a valid set of images"):
        SparseImages._from_parts(sp.shape, sp.row_start.tobytes(), col.tobytes(), sp.pix.tobytes())
    with pytest.raises(ValueError, match="inconsistent parts"):
        SparseImages._from_parts(sp.shape, sp.row_start.tobytes()[:-8], sp.col.tobytes(), sp.pix.tobytes())


def test_sparse_fill_refuses_a_row_start_that_does_not_match_the_images():
    img = np.zeros((3, 10), np.uint8)
    img[1, 2] = img[1, 5] = 7
    rs = np.array([0, 1, 1, 2], np.int64)          # claims 1 pixel in row 0, 0 in row 1
    col, pix = np.zeros(2, np.uint16), np.zeros(2, np.uint8)
    rc = lib.bp_sparse_fill(3, 10, ffi.from_buffer("uint8_t[]", img), ffi.from_buffer("int64_t[]", rs),
                            ffi.from_buffer("uint16_t[]", col), ffi.from_buffer("uint8_t[]", pix))
    assert rc == lib.BP_EINVAL


def test_fewer_threads_than_asked_still_update_every_weight(tmp_path):
    """OpenMP may grant fewer threads than asked (OMP_THREAD_LIMIT): the pixel split of
    W₀'s update must follow the team it got, or some rows of W₀ would never be updated."""
    import os
    import subprocess
    import sys
    script = (
        "import numpy as np, sys\n"
        "from tests.test_sparse import problem\n"
        "from native.engine import Engine\n"
        "from native.kernels import SparseImages\n"
        "images, labels, W, B = problem(np.float64, n=300, sizes=(784, 64, 32, 10))\n"
        "Engine(W, B, batch_size=64, threads=int(sys.argv[1])).train_epoch(\n"
        "    SparseImages(images), labels, np.random.default_rng(0).permutation(300), 0.1)\n"
        "np.save(sys.argv[2], np.concatenate([w.ravel() for w in W + B]))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = {}
    for name, threads, limit in (("one", 1, None), ("two_of_one", 2, "1"), ("two", 2, None)):
        e = dict(env)
        if limit:
            e["OMP_THREAD_LIMIT"] = limit
        out = tmp_path / f"{name}.npy"
        r = subprocess.run([sys.executable, "-c", script, str(threads), str(out)], cwd=root, env=e,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        runs[name] = np.load(out)
    assert runs["one"].tobytes() == runs["two_of_one"].tobytes() == runs["two"].tobytes()
