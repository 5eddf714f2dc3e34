"""native.engine.Engine: refuses what native.kernels refuses, records every batch's loss,
and C's size arithmetic cannot wrap around."""
import numpy as np
import pytest

import native
from native.engine import Engine, workspace_len
from native.kernels import ffi, lib


def problem(dtype=np.float32, n=200, sizes=(784, 16, 12, 10), seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, sizes[0]), dtype=np.uint8)
    labels = rng.integers(0, sizes[-1], n).astype(np.int64)
    W, B = native.init_network(list(sizes), seed=seed, dtype=dtype)
    return images, labels, W, B


@pytest.mark.parametrize("bad,kind,message", [
    (lambda y: y + 2 ** 32, ValueError, "labels must be class indices in"),   # would wrap to y
    (lambda y: y.astype(np.float64), TypeError, "labels must have an integer dtype"),
    (lambda y: y.astype(bool), TypeError, "labels must have an integer dtype"),
    (lambda y: y[:, None], ValueError, "labels must be 1-D"),
    (lambda y: list(y), TypeError, "labels must be a numpy array"),
])
def test_train_epoch_refuses_labels_it_would_have_cast(bad, kind, message):
    images, labels, W, B = problem()
    before = [w.copy() for w in W]
    with pytest.raises(kind, match=message):
        Engine(W, B, batch_size=32).train_epoch(images, bad(labels), np.arange(len(images)), 0.1)
    assert all(np.array_equal(a, b) for a, b in zip(W, before)), "nothing was trained"


@pytest.mark.parametrize("bad,kind,message", [
    (lambda o: o.astype(np.float64) + 0.7, TypeError, "order must have an integer dtype"),
    (lambda o: np.ones(len(o), dtype=bool), TypeError, "order must have an integer dtype"),
    (lambda o: o + 2 ** 32, ValueError, "order must index images"),
    (lambda o: o[:, None], ValueError, "order must be 1-D"),
    (lambda o: o[:0], ValueError, "order must hold at least one"),
])
def test_train_epoch_refuses_an_order_it_would_have_cast(bad, kind, message):
    images, labels, W, B = problem()
    with pytest.raises(kind, match=message):
        Engine(W, B, batch_size=32).train_epoch(images, labels, bad(np.arange(len(images))), 0.1)


def test_accuracy_refuses_labels_of_another_shape_instead_of_broadcasting():
    images, labels, W, B = problem()
    eng = Engine(W, B)
    with pytest.raises(ValueError, match="labels must be 1-D"):
        eng.accuracy(images, labels[:, None])
    with pytest.raises(ValueError, match=r"labels must have shape \(200,\)"):
        eng.accuracy(images, labels[:10])
    with pytest.raises(TypeError, match="integer dtype"):
        eng.accuracy(images, labels.astype(np.float32))
    assert 0.0 <= eng.accuracy(images, labels.astype(np.uint8)) <= 1.0


def test_c_reads_a_private_copy_of_order_and_labels(monkeypatch):
    """What C reads while the GIL is released is a copy, not the caller's array."""
    images, labels, W, B = problem()
    order = np.arange(len(images), dtype=np.int64)
    labels32 = labels.astype(np.int32)
    seen = []

    class Spy:                      # ffi, recording every buffer handed to C
        def __getattr__(self, name):
            return getattr(ffi, name)

        def from_buffer(self, ctype, obj, *a, **k):
            seen.append(obj)
            return ffi.from_buffer(ctype, obj, *a, **k)
    import native.engine as engine_mod
    monkeypatch.setattr(engine_mod, "ffi", Spy())
    Engine(W, B, batch_size=32).train_epoch(images, labels32, order, 0.1)
    assert any(isinstance(o, np.ndarray) and o.dtype == np.int64 and o.shape == order.shape
               for o in seen), "the order did reach C"
    assert not any(np.shares_memory(o, order) for o in seen if isinstance(o, np.ndarray))
    assert not any(np.shares_memory(o, labels32) for o in seen if isinstance(o, np.ndarray))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_losses_are_the_chapters_loss_of_each_batch(dtype):
    images, labels, W, B = problem(dtype)
    W2, B2 = [w.copy() for w in W], [b.copy() for b in B]
    order = np.random.default_rng(1).permutation(len(images))
    out = np.full(7, np.nan)                      # 200 = 6 batches of 32 and one of 8
    mean = Engine(W, B, batch_size=32).train_epoch(images, labels, order, 0.05, batch_losses=out)
    X, Y = (images / 255.0).astype(dtype), np.eye(10, dtype=dtype)[labels]
    want = []
    for s in range(0, len(order), 32):
        idx = order[s:s + 32]
        acts, pres = native.forward(X[idx], W2, B2)
        want.append(native.cross_entropy(acts[-1], Y[idx]))
        native.sgd_update(W2, B2, *native.backward(acts, pres, W2, Y[idx]), 0.05)
    np.testing.assert_allclose(out, want, rtol=1e-10 if dtype == np.float64 else 1e-5)
    assert mean == pytest.approx(out.mean(), rel=1e-12)


def test_batch_losses_must_have_one_entry_per_batch():
    images, labels, W, B = problem()
    with pytest.raises(ValueError, match=r"batch_losses must be .* shape \(7,\)"):
        Engine(W, B, batch_size=32).train_epoch(images, labels, np.arange(200), 0.1,
                                                batch_losses=np.zeros(6))


@pytest.mark.parametrize("first_layer", ["dense", "sparse"])
@pytest.mark.parametrize("threads", [1, 2])
def test_an_epoch_in_pieces_of_whole_batches_is_bit_identical_to_one_call(first_layer, threads):
    from native import trainer
    from native.kernels import SparseImages
    images, labels, W, B = problem(np.float32, n=333)
    W2, B2 = [w.copy() for w in W], [b.copy() for b in B]
    imgs = SparseImages(images) if first_layer == "sparse" else images
    order = np.random.default_rng(3).permutation(333)
    whole = np.zeros(11)
    Engine(W, B, batch_size=32, threads=threads).train_epoch(imgs, labels, order, 0.1, batch_losses=whole)
    runner = trainer.NativeRunner(W2, B2, 32, threads, first_layer)
    pieces = trainer.run_epoch(runner, imgs, labels, order, 0.1, 32, clock=iter(range(0, 10 ** 6, 1)).__next__)
    assert pieces.tobytes() == whole.tobytes()
    assert b"".join(a.tobytes() for a in W + B) == b"".join(a.tobytes() for a in W2 + B2)


@pytest.mark.parametrize("sizes,batch,threads", [
    ([2 ** 62, 4, 10], 4, 1),            # B·n₀ = 2^64 wraps to 0
    ([784, 2 ** 40, 10], 2 ** 30, 256),  # the workspace length wraps around int64
    ([784, 2 ** 31, 2 ** 33, 10], 1, 1), # a weight matrix of 2^64 elements
])
def test_c_refuses_sizes_whose_products_overflow(sizes, batch, threads):
    n = lib.bp_train_workspace_len(len(sizes) - 1, ffi.new("int64_t[]", sizes), batch, threads)
    assert n == -1
    with pytest.raises(MemoryError, match="beyond any memory"):
        workspace_len(sizes, batch, threads)


def test_python_and_c_agree_on_the_workspace_length():
    for sizes in ([784, 64, 32, 10], [784, 10], [784, 800, 10], [3, 5, 7, 9, 11]):
        for batch, threads in ((1, 1), (64, 2), (100, 3)):
            assert workspace_len(sizes, batch, threads) == lib.bp_train_workspace_len(
                len(sizes) - 1, ffi.new("int64_t[]", sizes), batch, threads)


# --- one Engine, several threads: some serial order, never a mix (issue 21, point 3) --------

def _bits(arrays):
    return b"".join(a.tobytes() for a in arrays)


def test_two_threads_training_one_engine_give_one_of_the_serial_orders():
    import threading
    images, labels, W0, B0 = problem(n=3000, sizes=(784, 64, 10))
    orders = [np.random.default_rng(k).permutation(3000) for k in (1, 2)]
    serial = set()
    for first, second in ((0, 1), (1, 0)):
        W, B = [w.copy() for w in W0], [b.copy() for b in B0]
        eng = Engine(W, B, batch_size=16)
        eng.train_epoch(images, labels, orders[first], 0.05)
        eng.train_epoch(images, labels, orders[second], 0.05)
        serial.add(_bits(W + B))
    for _ in range(4):
        W, B = [w.copy() for w in W0], [b.copy() for b in B0]
        eng = Engine(W, B, batch_size=16)
        go = threading.Barrier(2)

        def work(k):
            go.wait()
            eng.train_epoch(images, labels, orders[k], 0.05)
        threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert _bits(W + B) in serial, "two threads' epochs mixed"


def test_predict_during_an_epoch_sees_the_weights_before_or_after_it():
    import threading
    images, labels, W, B = problem(n=4000, sizes=(784, 64, 10))
    eng = Engine(W, B, batch_size=16)
    before = eng.predict(images)
    W1, B1 = [w.copy() for w in W], [b.copy() for b in B]
    Engine(W1, B1, batch_size=16).train_epoch(images, labels, np.arange(4000), 0.05)
    after = Engine([w.copy() for w in W1], [b.copy() for b in B1], batch_size=16).predict(images)
    assert not np.array_equal(before, after)
    seen, go = [], threading.Barrier(2)

    def predict():
        go.wait()
        for _ in range(20):
            seen.append(eng.predict(images))
    t = threading.Thread(target=predict)
    t.start()
    go.wait()
    eng.train_epoch(images, labels, np.arange(4000), 0.05)
    t.join()
    for p in seen:
        assert np.array_equal(p, before) or np.array_equal(p, after), "a prediction of no serial order"


# --- the values the trainer's command line refuses, refused by the API too (point 7) --------

@pytest.mark.parametrize("arg,value,message", [
    ("lr", 0.0, r"lr must be a number in \(0, 10000\]"),
    ("lr", -0.1, r"lr must be a number in \(0, 10000\]"),
    ("lr", 1e300, r"lr must be a number in \(0, 10000\]"),
    ("lr", 10 ** 400, r"lr must be a number in \(0, 10000\]"),
    ("lr", True, "lr must be a real number"),
    ("lr", "0.1", "lr must be a real number"),
    ("scale", -1.0, r"scale must be a number in \(0, 1\]"),
    ("scale", 0.0, r"scale must be a number in \(0, 1\]"),
    ("scale", 1e30, r"scale must be a number in \(0, 1\]"),
    ("scale", float("nan"), r"scale must be a number in \(0, 1\]"),
])
def test_train_epoch_refuses_a_step_the_trainer_refuses(arg, value, message):
    images, labels, W, B = problem()
    before = _bits(W + B)
    kw = {"lr": 0.1, "scale": 1 / 255}
    kw[arg] = value
    with pytest.raises(ValueError, match=message):
        Engine(W, B, batch_size=32).train_epoch(images, labels, np.arange(200), **kw)
    assert _bits(W + B) == before


@pytest.mark.parametrize("scale", [-1.0, 1e30, 0.0])
def test_predict_refuses_a_scale_out_of_range(scale):
    images, _, W, B = problem()
    with pytest.raises(ValueError, match=r"scale must be a number in \(0, 1\]"):
        Engine(W, B).predict(images, scale=scale)


def test_the_largest_allowed_steps_are_accepted():
    images, labels, W, B = problem()
    Engine(W, B, batch_size=32).train_epoch(images, labels, np.arange(200), 1e-4, scale=1.0)


def test_batch_losses_may_not_alias_the_images_or_the_layers():
    images, labels, W, B = problem(dtype=np.float64, n=256)
    eng = Engine(W, B, batch_size=32)
    with pytest.raises(ValueError, match="batch_losses and images share memory"):
        eng.train_epoch(images, labels, np.arange(256), 0.1, batch_losses=images.view(np.float64)[0, :8])
    with pytest.raises(ValueError, match=r"batch_losses and weights\[0\] share memory"):
        eng.train_epoch(images, labels, np.arange(256), 0.1, batch_losses=W[0][0, :8])


def test_an_engine_refuses_layers_that_share_memory():
    _, _, W, B = problem(sizes=(784, 10, 10, 10))
    with pytest.raises(ValueError, match=r"weights\[1\] and weights\[2\] share memory"):
        Engine([W[0], W[1], W[1]], B)
    with pytest.raises(ValueError, match=r"biases\[0\] and biases\[1\] share memory"):
        Engine(W, [B[0], B[0], B[2]])
