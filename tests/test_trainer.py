"""The MNIST trainer: the C epoch loop, checkpoints, resume, Ctrl-C, determinism, evaluate."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import native
from native import checkpoint as ckpt_mod
from native import trainer
from native.checkpoint import Checkpoint, CheckpointError
from native.engine import Engine
from native.evaluate import confusion_matrix, digit_art


def small_problem(dtype, n=300, sizes=(784, 16, 12, 10), seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, sizes[0]), dtype=np.uint8)
    labels = rng.integers(0, sizes[-1], n).astype(np.uint8)
    W, B = native.init_network(list(sizes), seed=seed, dtype=dtype)
    for b in B:
        b += rng.standard_normal(b.shape).astype(dtype) * 0.1
    return images, labels, W, B


# --- the C epoch loop against the chapter's loop -------------------------------

@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sizes", [(784, 16, 12, 10), (784, 10), (784, 40, 16, 8, 10)])
def test_c_epoch_matches_the_chapters_loop_on_the_same_batches(dtype, tol, threads, sizes):
    images, labels, W, B = small_problem(dtype, sizes=sizes)
    W2, B2 = [w.copy() for w in W], [b.copy() for b in B]
    order = np.random.default_rng(1).permutation(len(images))
    loss = Engine(W, B, batch_size=32, threads=threads).train_epoch(images, labels, order, 0.05)
    X, Y = (images / 255.0).astype(dtype), np.eye(10, dtype=dtype)[labels]
    losses = []
    for s in range(0, len(order), 32):           # 300 = 9 batches of 32 and one of 12
        idx = order[s:s + 32]
        acts, pres = native.forward(X[idx], W2, B2)
        losses.append(native.cross_entropy(acts[-1], Y[idx]))
        native.sgd_update(W2, B2, *native.backward(acts, pres, W2, Y[idx]), 0.05)
    assert loss == pytest.approx(np.mean(losses), rel=tol * 10)
    for a, b in zip(W + B, W2 + B2):
        assert np.abs(a - b).max() <= tol * max(1.0, np.abs(b).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_does_not_change_a_single_bit(dtype):
    """Each weight is computed by one thread, in the same order whatever the split."""
    results = []
    for threads in (1, 2, 3):
        images, labels, W, B = small_problem(dtype, n=500, sizes=(784, 64, 32, 10))
        eng = Engine(W, B, batch_size=64, threads=threads)
        for epoch in range(2):
            eng.train_epoch(images, labels, np.random.default_rng(epoch).permutation(500), 0.1)
        results.append(b"".join(a.tobytes() for a in W + B))
    assert results[0] == results[1] == results[2]


def misaligned_copy(a, offset):
    """A copy of `a` whose data starts `offset` bytes past a 64-byte boundary."""
    raw = np.empty(a.nbytes + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_engine_updates_the_callers_arrays_at_any_alignment(dtype):
    """The C loop runs on 64-byte-aligned copies; results must land in the caller's arrays."""
    images, labels, W, B = small_problem(dtype, n=200, sizes=(784, 64, 32, 10))
    W2 = [misaligned_copy(w, 8) for w in W]
    B2 = [misaligned_copy(b, 16 + 4 * (dtype == np.float32)) for b in B]
    assert all(a.ctypes.data % 64 for a in W2 + B2)
    order = np.random.default_rng(3).permutation(200)
    Engine(W, B, batch_size=32, threads=2).train_epoch(images, labels, order, 0.1)
    eng = Engine(W2, B2, batch_size=32, threads=2)
    eng.train_epoch(images, labels, order, 0.1)
    for a, b in zip(W + B, W2 + B2):
        assert a.tobytes() == b.tobytes()
    W2[0][:] = 0                        # changed between calls: the next call sees it
    assert (eng.predict(images) == eng.predict(images)[0]).all()


def test_engine_keeps_the_arrays_it_was_given_and_refuses_one_that_changed_shape():
    images, labels, W, B = small_problem(np.float32, n=64, sizes=(784, 16, 10))
    bound, before = W[1], W[1].copy()
    eng = Engine(W, B, batch_size=32)
    W[1] = np.ones((1, 10), np.float32)           # the caller's list changes, not the array
    eng.train_epoch(images, labels, np.arange(64), 0.1)
    assert eng.weights[1] is bound and not np.array_equal(bound, before)   # trained in place
    assert (W[1] == 1).all()                       # the stranger was neither read nor written
    bound.shape = (10, 16)                         # the bound array itself is reshaped
    with pytest.raises(ValueError, match=r"weights\[1\] was changed since the Engine was made"):
        eng.train_epoch(images, labels, np.arange(64), 0.1)
    with pytest.raises(ValueError, match="scale must be a finite real number"):
        Engine(*native.init_network([784, 10], dtype=np.float32)).predict(images, scale=float("nan"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_c_predict_is_the_argmax_of_forward(dtype):
    images, _, W, B = small_problem(dtype, n=301)
    pred = Engine(W, B, batch_size=64, threads=2).predict(images)
    acts, _ = native.forward((images / 255.0).astype(dtype), W, B)
    np.testing.assert_array_equal(pred, acts[-1].argmax(axis=1))


def test_engine_rejects_bad_arguments_with_names():
    images, labels, W, B = small_problem(np.float32)
    eng = Engine(W, B, batch_size=16)
    order = np.arange(len(images))
    with pytest.raises(TypeError, match="images must be a numpy uint8 array"):
        eng.train_epoch(images.astype(np.float32), labels, order, 0.1)
    with pytest.raises(ValueError, match="labels must be class indices in"):
        eng.train_epoch(images, labels + 10, order, 0.1)
    with pytest.raises(ValueError, match="order must index images"):
        eng.train_epoch(images, labels, order + 1, 0.1)
    with pytest.raises(ValueError, match="lr must be a finite real number"):
        eng.train_epoch(images, labels, order, float("inf"))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Engine(W, B, batch_size=0)
    with pytest.raises(TypeError, match=r"weights\[1\] must be float32"):
        Engine([W[0], W[1].astype(np.float64), W[2]], B)


# --- checkpoints ------------------------------------------------------------------

def make_ckpt(dtype=np.float32):
    W, B = native.init_network([784, 8, 10], seed=4, dtype=dtype)
    return Checkpoint(W, B, epoch=3, lr=0.0857, seed=4, config={"batch_size": 64, "dataset": "mnist"})


def test_checkpoint_round_trip_keeps_every_bit(tmp_path):
    c = make_ckpt()
    path = tmp_path / "run.npz"
    ckpt_mod.save(path, c)
    back = ckpt_mod.load(path)
    assert (back.epoch, back.lr, back.seed, back.config, back.sizes) == (3, 0.0857, 4, c.config, [784, 8, 10])
    for a, b in zip(back.weights + back.biases, c.weights + c.biases):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert os.listdir(tmp_path) == ["run.npz"], "no temporary files are left behind"


@pytest.mark.parametrize("damage", ["truncate", "flip_bytes", "not_a_zip", "empty"])
def test_corrupt_checkpoint_is_refused_with_its_name(tmp_path, damage):
    path = tmp_path / "run.npz"
    ckpt_mod.save(path, make_ckpt())
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip_bytes":
        mid = len(raw) // 2
        path.write_bytes(raw[:mid] + bytes(b ^ 0xFF for b in raw[mid:mid + 64]) + raw[mid + 64:])
    elif damage == "not_a_zip":
        path.write_text("hello")
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="run.npz"):
        ckpt_mod.load(path)


def test_checkpoint_with_inconsistent_arrays_is_refused(tmp_path):
    path = tmp_path / "odd.npz"
    c = make_ckpt()
    c.weights[1] = np.zeros((7, 10), np.float32)      # does not chain with layer 0
    with pytest.raises(CheckpointError, match=r"array W2 is float32 \(7, 10\)"):
        ckpt_mod.save(path, c) or ckpt_mod.load(path)


@pytest.mark.parametrize("dtype", ["float16", "int64"])
def test_checkpoint_of_an_unsupported_dtype_is_refused(tmp_path, dtype):
    c = make_ckpt()
    c.weights = [w.astype(dtype) for w in c.weights]
    c.biases = [b.astype(dtype) for b in c.biases]
    ckpt_mod.save(tmp_path / "odd.npz", c)
    with pytest.raises(CheckpointError, match=f"dtype is {dtype}, expected float32 or float64"):
        ckpt_mod.load(tmp_path / "odd.npz")


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    ckpt_mod.save(path, make_ckpt())
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt    # as if Ctrl-C arrived mid-write
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        ckpt_mod.save(path, make_ckpt(np.float64))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.npz"]


# --- the command line, on real MNIST --------------------------------------------

def run_cli(argv, capsys):
    code = trainer.main(argv)
    return code, capsys.readouterr().out


def test_one_epoch_on_real_mnist_reaches_90_percent(mnist, capsys, tmp_path):
    code, out = run_cli(["--epochs", "1", "--save", str(tmp_path / "a.npz")], capsys)
    assert code == 0
    acc = float(out.split("test accuracy ")[1].split("%")[0])
    assert acc >= 90.0, out
    assert ckpt_mod.load(tmp_path / "a.npz").epoch == 1


def test_same_seed_and_settings_give_bit_identical_weights(mnist, capsys, tmp_path):
    for name in ("a", "b"):
        run_cli(["--epochs", "2", "--limit", "5000", "--save", str(tmp_path / f"{name}.npz")], capsys)
    a, b = ckpt_mod.load(tmp_path / "a.npz"), ckpt_mod.load(tmp_path / "b.npz")
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert x.tobytes() == y.tobytes()


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(mnist, capsys, tmp_path):
    full, part = str(tmp_path / "full.npz"), str(tmp_path / "part.npz")
    run_cli(["--epochs", "3", "--limit", "5000", "--save", full], capsys)
    run_cli(["--epochs", "1", "--limit", "5000", "--save", part], capsys)
    code, out = run_cli(["--epochs", "3", "--limit", "5000", "--resume", part, "--save", part], capsys)
    assert code == 0 and "resuming" in out
    a, b = ckpt_mod.load(full), ckpt_mod.load(part)
    assert (a.epoch, a.lr) == (b.epoch, b.lr) == (3, pytest.approx(0.1 * 0.95 ** 3))
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert x.tobytes() == y.tobytes()


def test_resume_refuses_a_checkpoint_of_other_sizes(mnist, capsys, tmp_path):
    path = str(tmp_path / "small.npz")
    run_cli(["--epochs", "1", "--limit", "500", "--sizes", "784", "16", "10", "--save", path], capsys)
    with pytest.raises(SystemExit) as e:
        trainer.main(["--resume", path, "--sizes", "784", "64", "32", "10"])
    assert e.value.code == 2
    assert "is for sizes [784, 16, 10]" in capsys.readouterr().err


def test_resume_with_lr_uses_it_for_the_next_epoch_and_keeps_the_initial_lr(mnist, capsys, tmp_path):
    path = str(tmp_path / "r.npz")
    run_cli(["--epochs", "1", "--limit", "500", "--save", path], capsys)
    run_cli(["--epochs", "2", "--limit", "500", "--resume", path, "--lr", "0.05", "--save", path], capsys)
    c = ckpt_mod.load(path)
    assert c.lr == pytest.approx(0.05 * 0.95) and c.config["lr0"] == 0.1


def test_a_diverging_run_stops_with_an_error_and_saves_no_nan_checkpoint(mnist, capsys, tmp_path):
    path = tmp_path / "div.npz"
    code = trainer.main(["--epochs", "3", "--limit", "2000", "--lr", "1e30", "--save", str(path)])
    assert code == 1 and "diverged in epoch 1" in capsys.readouterr().err
    assert not path.exists()


def test_offline_uses_no_network_at_all(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("BACKPROP_DATA_DIR", raising=False)
    with pytest.raises(SystemExit) as e:
        trainer.main(["--offline", "--epochs", "1"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "skipped" in err and "package index" in err
    assert not any((tmp_path / "empty-cache").rglob("*-ubyte")), "nothing may be fetched"


def test_resume_refuses_a_corrupt_checkpoint(capsys, tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SystemExit) as e:
        trainer.main(["--resume", str(path)])
    assert e.value.code == 2 and "corrupt" in capsys.readouterr().err


def test_ctrl_c_stops_after_saving_the_last_finished_epoch(mnist, tmp_path):
    path = tmp_path / "run.npz"
    proc = subprocess.Popen([sys.executable, "-u", "-m", "native.train", "--epochs", "500",
                             "--limit", "20000", "--save", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:        # wait for two finished epochs, then interrupt
        lines.append(line)
        if line.startswith("epoch  2/"):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    saved = ckpt_mod.load(path)
    assert saved.epoch >= 2 and f"holds epoch {saved.epoch}" in err
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]


def test_sparse_and_dense_first_layer_train_the_same_network(mnist, capsys, tmp_path):
    """MNIST is 81 % zero pixels: auto picks the sparse first layer, which computes the
    same products as the dense GEMMs, in another order (float64: agree to ~1e-12)."""
    runs = {}
    for mode in ("auto", "dense"):
        path = tmp_path / f"{mode}.npz"
        code, out = run_cli(["--epochs", "2", "--limit", "5000", "--dtype", "float64",
                             "--first-layer", mode, "--save", str(path)], capsys)
        assert code == 0
        assert ("sparse first layer" if mode == "auto" else "dense first layer") in out
        runs[mode] = ckpt_mod.load(path)
    for x, y in zip(runs["auto"].weights + runs["auto"].biases, runs["dense"].weights + runs["dense"].biases):
        assert np.abs(x - y).max() <= 1e-9 * max(1.0, np.abs(y).max())


def test_auto_first_layer_is_sparse_only_for_mostly_zero_images():
    runner = trainer.NativeRunner(*native.init_network([784, 10], dtype=np.float32), 64, 1)
    rng = np.random.default_rng(0)
    assert runner.use_sparse((rng.random((100, 784)) < 0.19).astype(np.uint8))       # MNIST-like
    assert not runner.use_sparse((rng.random((100, 784)) < 0.5).astype(np.uint8))   # Fashion-like
    assert trainer.NativeRunner(*native.init_network([784, 10]), 64, 1, "sparse").use_sparse(
        np.ones((3, 784), np.uint8))


def test_help_describes_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        trainer.main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for option in ("--sizes", "--epochs", "--batch-size", "--lr", "--decay", "--seed", "--dtype",
                   "--dataset", "--data-dir", "--offline", "--engine", "--limit", "--first-layer",
                   "--threads", "--save", "--resume"):
        assert option in out


def test_pure_engine_trains_on_a_subset(mnist, capsys):
    code, out = run_cli(["--engine", "pure", "--limit", "200", "--epochs", "1", "--sizes", "784", "8", "10"], capsys)
    assert code == 0 and "pure Python" in out and "epoch  1/1" in out


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--lr", "-1"], "--lr must be a positive number"),
    (["--sizes", "784", "10", "3"], "must start with 784"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--engine", "pure", "--first-layer", "sparse"], "--first-layer applies to the native engine"),
])
def test_bad_command_line_values_are_refused_by_name(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        trainer.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


# --- evaluate ---------------------------------------------------------------------

def test_evaluate_refuses_a_checkpoint_that_is_not_an_mnist_classifier(capsys, tmp_path):
    W, B = native.init_network([784, 8, 5], dtype=np.float32)
    ckpt_mod.save(tmp_path / "five.npz", Checkpoint(W, B, epoch=1, lr=0.1, seed=0))
    from native.evaluate import main as evaluate
    with pytest.raises(SystemExit) as e:
        evaluate([str(tmp_path / "five.npz")])
    assert e.value.code == 2 and "784→8→5" in capsys.readouterr().err


def test_confusion_matrix_counts_pairs():
    m = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_digit_art_draws_ink_where_the_pixels_are():
    img = np.zeros((28, 28), np.uint8)
    img[:, 14] = 255
    art = digit_art(img).splitlines()
    assert len(art) == 14 and all(line == " " * 14 + "@" for line in art)


def test_evaluate_reports_accuracy_confusion_and_misclassified_digits(mnist, capsys, tmp_path):
    path = str(tmp_path / "m.npz")
    run_cli(["--epochs", "1", "--save", path], capsys)
    from native.evaluate import main as evaluate
    assert evaluate([path, "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "recall" in out
    assert out.count("labelled") == 2
    rows = [l for l in out.splitlines() if l.strip()[:1].isdigit() and "%" in l and "accuracy" not in l]
    assert len(rows) == 10
    assert sum(sum(map(int, r.split()[1:11])) for r in rows) == 10000
