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
    with pytest.raises(ValueError, match=r"scale must be a number in \(0, 1\]"):
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
    with pytest.raises(ValueError, match=r"lr must be a number in \(0, 10000\]"):
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


@pytest.mark.parametrize("lr", ["100", "1e4"])
def test_a_diverging_run_stops_with_a_hint_and_saves_no_runaway_checkpoint(mnist, capsys, tmp_path, lr):
    """--lr 100 once printed `loss 27455606910110.1211 … test acc 8.92%` with no word of it."""
    path = tmp_path / "div.npz"
    code = trainer.main(["--epochs", "3", "--limit", "2000", "--lr", lr, "--save", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "diverged in epoch 1" in err and "try a smaller --lr" in err, err
    assert "no checkpoint was written" in err
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


def sigint_at_default():
    """In the child: SIGINT as a terminal delivers it, even when pytest runs from a
    background job (nohup, `&`), whose children inherit SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_after_saving_the_last_finished_epoch(mnist, tmp_path):
    path = tmp_path / "run.npz"
    proc = subprocess.Popen([sys.executable, "-u", "-m", "native.train", "--epochs", "500",
                             "--limit", "20000", "--save", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_at_default)
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
                   "--threads", "--save", "--resume", "--overwrite", "--results"):
        assert option in out


def test_pure_engine_trains_on_a_subset(mnist, capsys):
    code, out = run_cli(["--engine", "pure", "--limit", "200", "--epochs", "1", "--sizes", "784", "8", "10"], capsys)
    assert code == 0 and "pure Python" in out and "epoch  1/1" in out


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--lr", "-1"], "--lr must be a number in (0, 10000]"),
    (["--sizes", "784", "10", "3"], "must start with 784"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--engine", "pure", "--first-layer", "sparse"], "--first-layer applies to the native engine"),
    (["--seed", "-1"], "--seed must be in [0, 2**63"),
    (["--threads", "257"], "--threads must be at least 1 and at most 256"),
    (["--sizes", "784"] + ["8"] * 64 + ["10"], "at most 64 layers (65 widths), got 66"),
    (["--sizes", "784", "100000000", "10"], "GiB of memory, this machine has"),
    (["--sizes", "784", "4000000000000", "10", "--batch-size", "1000000", "--threads", "256"],
     "beyond any memory"),
    (["--sizes", "784", str(2 ** 62), "10"], "beyond any memory"),
    (["--overwrite"], "--overwrite applies to --save"),
    (["--epochs", str(10 ** 6)], "--epochs must be at most 10000"),
    (["--lr", "1e5"], "--lr must be a number in (0, 10000]"),
    (["--lr", "nan"], "--lr must be a number in (0, 10000]"),
    (["--save", ""], "--save needs a path, got an empty string"),
    (["--results", ""], "--results needs a path, got an empty string"),
    (["--resume", ""], "--resume needs a path, got an empty string"),
    (["--data-dir", ""], "--data-dir needs a path, got an empty string"),
    (["--engine", "pure", "--dtype", "float32"], "--dtype float32 applies to the native engine"),
    (["--engine", "pure", "--threads", "2"], "--threads 2 applies to the native engine"),
    (["--save", "/nonexistent-backprop-ch5/dir/x.npz"], "does not exist; create it first"),
    (["--results", "/"], "--results '/': expected a file name"),
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


# --- hardening: nothing lost, nothing silently wrong, never a traceback ------------------

def test_a_new_run_refuses_to_overwrite_an_existing_checkpoint(mnist, capsys, tmp_path):
    path = str(tmp_path / "ow.npz")
    assert run_cli(["--epochs", "2", "--limit", "500", "--save", path], capsys)[0] == 0
    before = open(path, "rb").read()
    with pytest.raises(SystemExit) as e:
        trainer.main(["--epochs", "1", "--seed", "3", "--limit", "500", "--save", path])
    captured = capsys.readouterr()
    assert e.value.code == 2 and "already exists" in captured.err and "epoch" not in captured.out
    assert open(path, "rb").read() == before
    code, out = run_cli(["--epochs", "1", "--seed", "3", "--limit", "500", "--save", path, "--overwrite"],
                        capsys)
    assert code == 0 and ckpt_mod.load(path).seed == 3


@pytest.mark.parametrize("target", ["special file", "folder"])
def test_a_bad_save_target_is_refused_before_any_training(mnist, capsys, tmp_path, target):
    # A FIFO stands for /dev/null: as root, today's main replaced /dev/null itself with a
    # regular file, so no test may point a possibly broken trainer at the real one.
    if target == "folder":
        target = str(tmp_path)
    else:
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    with pytest.raises(SystemExit) as e:
        trainer.main(["--epochs", "1", "--limit", "500", "--save", target])
    captured = capsys.readouterr()
    assert e.value.code == 2 and "epoch" not in captured.out and "Traceback" not in captured.err
    assert not os.path.isfile(target)
    if "fifo" in target:
        assert "is a special file" in captured.err


def test_resume_needs_no_retyped_flags_to_be_bit_identical(mnist, capsys, tmp_path):
    """--first-layer, --limit, --dtype, --batch-size and --decay shape the run: the
    checkpoint remembers them, so a bare --resume continues exactly."""
    flags = ["--limit", "1500", "--first-layer", "dense", "--dtype", "float64", "--batch-size", "50",
             "--decay", "0.9", "--seed", "7"]
    full, part = str(tmp_path / "full.npz"), str(tmp_path / "part.npz")
    run_cli(["--epochs", "3", "--save", full] + flags, capsys)
    run_cli(["--epochs", "1", "--save", part] + flags, capsys)
    code, out = run_cli(["--epochs", "3", "--resume", part, "--save", part], capsys)
    assert code == 0 and "1,500 training" in out and "dense first layer" in out
    a, b = ckpt_mod.load(full), ckpt_mod.load(part)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert x.tobytes() == y.tobytes()
    for k in ("batch_loss", "epoch_batches", "epoch_loss", "test_accuracy", "lr"):
        assert a.history[k].tobytes() == b.history[k].tobytes(), k
    assert b.history["epoch_batches"].tolist() == [30, 30, 30]
    assert b.config == a.config and b.config["limit"] == 1500 and b.config["first_layer"] == "dense"


def test_resume_refuses_flags_that_would_not_continue_the_run(mnist, capsys, tmp_path):
    path = str(tmp_path / "r.npz")
    run_cli(["--epochs", "1", "--limit", "500", "--first-layer", "dense", "--save", path], capsys)
    for flags, name in ((["--limit", "600"], "limit"), (["--first-layer", "sparse"], "first_layer"),
                        (["--engine", "pure"], "engine")):
        with pytest.raises(SystemExit) as e:
            trainer.main(["--resume", path, "--epochs", "2"] + flags)
        assert e.value.code == 2 and f"is for {name}" in capsys.readouterr().err


def test_the_checkpoint_keeps_the_whole_curve_of_the_run(mnist, capsys, tmp_path):
    path = str(tmp_path / "c.npz")
    code, out = run_cli(["--epochs", "2", "--limit", "1000", "--save", path], capsys)
    h = ckpt_mod.load(path).history
    assert h["epoch_batches"].tolist() == [16, 16] and h["batch_loss"].shape == (32,)
    assert h["epoch_loss"] == pytest.approx([h["batch_loss"][:16].mean(), h["batch_loss"][16:].mean()])
    assert h["lr"] == pytest.approx([0.1, 0.095])
    printed = [float(l.split("test acc")[1].split("%")[0]) for l in out.splitlines() if l.startswith("epoch ")]
    assert 100 * h["test_accuracy"] == pytest.approx(printed, abs=0.006)
    assert h["batch_loss"][0] > 2.0 > h["batch_loss"][-1], "the loss falls within the run"


def test_the_loss_before_training_is_near_ln_10(mnist, capsys):
    code, out = run_cli(["--epochs", "1", "--limit", "300"], capsys)
    line = next(l for l in out.splitlines() if l.startswith("loss before training"))
    assert 2.3 < float(line.split()[3]) < 2.5 and "mean of its mini-batch losses" in line


def test_results_json_holds_settings_and_per_epoch_numbers(mnist, capsys, tmp_path):
    import json
    path = tmp_path / "r.json"
    code, out = run_cli(["--epochs", "2", "--limit", "800", "--results", str(path)], capsys)
    r = json.loads(path.read_text())
    assert r["settings"]["limit"] == 800 and r["settings"]["sizes"] == [784, 64, 32, 10]
    assert len(r["test_accuracy"]) == 2 and r["final_test_accuracy"] == r["test_accuracy"][-1]
    assert r["train_seconds"] == pytest.approx(sum(r["seconds"]))
    assert f"{100 * r['final_test_accuracy']:.2f}%" in out.splitlines()[-1]
    assert r["command"].startswith("python -m native.train")


def test_a_save_that_fails_mid_run_is_one_line_and_keeps_the_last_checkpoint(mnist, capsys, tmp_path,
                                                                                   monkeypatch):
    import errno
    path = str(tmp_path / "full.npz")
    real, calls = ckpt_mod.save, []

    def save(p, c):
        calls.append(c.epoch)
        if c.epoch == 2:
            raise OSError(errno.ENOSPC, "No space left on device", p)
        real(p, c)
    monkeypatch.setattr(ckpt_mod, "save", save)
    code = trainer.main(["--epochs", "3", "--limit", "500", "--save", path])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and "still holds epoch 1" in err
    assert ckpt_mod.load(path).epoch == 1


def test_ctrl_c_during_start_up_is_one_line(capsys, monkeypatch):
    from native import data

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(data, "load", interrupted)
    assert trainer.main(["--epochs", "1"]) == 130
    err = capsys.readouterr().err
    assert "interrupted before training started" in err and "Traceback" not in err


def test_ctrl_c_answers_within_a_second_in_a_long_epoch(mnist, tmp_path):
    """A wide float64 network: one epoch takes many seconds; Ctrl-C may not wait for it."""
    import time
    path = tmp_path / "never.npz"
    proc = subprocess.Popen([sys.executable, "-u", "-m", "native.train", "--epochs", "1",
                             "--sizes", "784", "3000", "10", "--dtype", "float64",
                             "--first-layer", "dense", "--save", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_at_default)
    for line in proc.stdout:
        if line.startswith("loss before training"):
            break
    time.sleep(1.0)                 # well inside epoch 1
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    answered = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert "epoch  1/1" not in out, "the epoch did not finish first"
    # The claim is that Ctrl-C does not wait for the epoch (~70 s here): it is answered
    # after the current piece (~0.3 s). 15 s leaves room for a loaded or emulated machine
    # (4.6 s seen under qemu-aarch64) and still fails a trainer that waits for the epoch.
    assert answered < 15, f"Ctrl-C took {answered:.1f} s"
    assert "interrupted during epoch 1" in err and "no checkpoint was written" in err
    assert "holds epoch" not in err and not path.exists()


def test_progress_lines_appear_within_an_epoch_in_a_log(mnist, capsys, monkeypatch):
    import pure.progress
    real = pure.progress.Progress
    monkeypatch.setattr(pure.progress, "Progress",
                        lambda total, **k: real(total, delay=0.0, log_every=0.0, **k))
    code = trainer.main(["--engine", "pure", "--limit", "300", "--epochs", "1", "--sizes", "784", "8", "10"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = [l for l in (out + err).splitlines() if "samples/s" in l and "left" in l]
    assert lines, out + err
    assert "/300 samples" in lines[0] and "loss" in lines[0]


def test_evaluate_and_resume_refuse_a_special_file_instead_of_blocking(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    for cmd in (["native.evaluate", str(fifo)], ["native.train", "--resume", str(fifo)]):
        r = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "special file" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_refuses_more_threads_than_the_c_loop_has_in_one_line(capsys, tmp_path):
    ckpt_mod.save(tmp_path / "m.npz", Checkpoint(*native.init_network([784, 8, 10], dtype=np.float32),
                                                 epoch=1, lr=0.1, seed=0))
    from native.evaluate import main as evaluate
    with pytest.raises(SystemExit) as e:
        evaluate([str(tmp_path / "m.npz"), "--threads", "257"])
    assert e.value.code == 2 and "at most 256" in capsys.readouterr().err


def test_the_package_docstring_points_only_inside_the_repository():
    assert "DESIGN.md" not in native.__doc__


def test_ctrl_c_while_numpy_is_imported_at_start_up_is_one_line():
    """Importing NumPy can take a second on a busy machine: Ctrl-C then arrives inside
    `import native`. Simulated: the import of numpy raises KeyboardInterrupt while
    `python -m` starts (sys.argv[0] is "-m" then)."""
    code = ("import sys, importlib.abc\n"
            "class Interrupt(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'numpy':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "sys.argv[:1] = ['-m']\n"
            "import native\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 130 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "interrupted while starting; nothing was done"


def test_results_never_replace_a_special_file(mnist, capsys, tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(SystemExit) as e:
        trainer.main(["--epochs", "1", "--limit", "300", "--results", str(fifo)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--results" in err and "special file" in err
    assert not fifo.is_file()


def test_a_batch_larger_than_the_data_needs_no_workspace_beyond_the_data(mnist, capsys):
    code, out = run_cli(["--epochs", "1", "--limit", "500", "--batch-size", "100000000"], capsys)
    assert code == 0 and "epoch  1/1" in out
