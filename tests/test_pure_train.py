"""The §5.7 training loop of ``pure``: it learns, it is reproducible, and the learning rate decays."""

import random

import pytest

from pure import backward, cross_entropy, forward, init_network, sgd_update, train


def two_blobs(n_per_class=60, seed=0):
    """Two Gaussian blobs in the plane, centred at (−2, −2) and (2, 2): linearly separable."""
    rng = random.Random(seed)
    X, y_onehot = [], []
    for label, centre in ((0, -2.0), (1, 2.0)):
        for _ in range(n_per_class):
            X.append([rng.gauss(centre, 0.7), rng.gauss(centre, 0.7)])
            y_onehot.append([1.0, 0.0] if label == 0 else [0.0, 1.0])
    return X, y_onehot


def accuracy(X, y_onehot, weights, biases):
    probs = forward(X, weights, biases)[0][-1]
    right = sum(p.index(max(p)) == y.index(1.0) for p, y in zip(probs, y_onehot))
    return right / len(X)


def copy_network(weights, biases):
    return [[row[:] for row in W] for W in weights], [[row[:] for row in b] for b in biases]


def test_train_lowers_the_loss_and_separates_two_blobs():
    X, y_onehot = two_blobs()
    weights, biases = init_network([2, 8, 2], seed=0)
    losses = train(X, y_onehot, weights, biases, epochs=15, batch_size=16, lr=0.1, seed=0)
    assert len(losses) == 15
    assert losses[-1] < losses[0] / 2
    assert accuracy(X, y_onehot, weights, biases) >= 0.95


def test_train_is_deterministic_for_a_seed():
    X, y_onehot = two_blobs()
    runs = []
    for _ in range(2):
        weights, biases = init_network([2, 8, 2], seed=3)
        losses = train(X, y_onehot, weights, biases, epochs=3, batch_size=10, seed=7)
        runs.append((losses, weights, biases))
    assert runs[0] == runs[1]


def test_train_with_another_seed_shuffles_differently():
    X, y_onehot = two_blobs()
    results = []
    for seed in (0, 1):
        weights, biases = init_network([2, 8, 2], seed=3)
        train(X, y_onehot, weights, biases, epochs=1, batch_size=10, seed=seed)
        results.append(weights)
    assert results[0] != results[1]


def manual_loop(X, y_onehot, weights, biases, epochs, batch_size, lr, decay_rate, seed):
    """§5.7 written out longhand, with the learning rate of each epoch computed as lr·decayᵉ."""
    rng = random.Random(seed)
    N = len(X)
    for epoch in range(epochs):
        lr_epoch = lr * decay_rate ** epoch                  # lr = initial_lr · decay_rate^epoch
        indices = list(range(N))
        rng.shuffle(indices)
        for start in range(0, N, batch_size):
            batch = indices[start:start + batch_size]
            X_batch, y_batch = [X[k] for k in batch], [y_onehot[k] for k in batch]
            activations, pre_activations = forward(X_batch, weights, biases)
            grad_w, grad_b = backward(activations, pre_activations, weights, y_batch)
            sgd_update(weights, biases, grad_w, grad_b, lr_epoch)


def test_train_decays_the_learning_rate_after_every_epoch():
    X, y_onehot = two_blobs(n_per_class=20)
    start = init_network([2, 4, 2], seed=2)
    trained, by_hand, undecayed = copy_network(*start), copy_network(*start), copy_network(*start)

    train(X, y_onehot, *trained, epochs=3, batch_size=8, lr=0.2, decay_rate=0.5, seed=4)
    manual_loop(X, y_onehot, *by_hand, epochs=3, batch_size=8, lr=0.2, decay_rate=0.5, seed=4)
    manual_loop(X, y_onehot, *undecayed, epochs=3, batch_size=8, lr=0.2, decay_rate=1.0, seed=4)

    for W_train, W_hand in zip(trained[0] + trained[1], by_hand[0] + by_hand[1]):
        for row_train, row_hand in zip(W_train, W_hand):
            assert row_train == pytest.approx(row_hand, rel=1e-12, abs=1e-15)
    assert trained[0] != undecayed[0]


def test_train_with_lr_zero_after_the_first_epoch_changes_nothing_more():
    X, y_onehot = two_blobs(n_per_class=10)
    weights, biases = init_network([2, 3, 2], seed=0)
    snapshots = []
    train(X, y_onehot, weights, biases, epochs=3, batch_size=5, lr=0.1, decay_rate=0.0,
          callback=lambda epoch, loss: snapshots.append(copy_network(weights, biases)))
    assert snapshots[0] != copy_network(*init_network([2, 3, 2], seed=0))
    assert snapshots[0] == snapshots[1] == snapshots[2]


def test_train_calls_back_after_each_epoch_with_the_epoch_and_its_loss():
    X, y_onehot = two_blobs(n_per_class=10)
    weights, biases = init_network([2, 3, 2], seed=0)
    calls = []
    losses = train(X, y_onehot, weights, biases, epochs=4, batch_size=6,
                   callback=lambda epoch, loss: calls.append((epoch, loss)))
    assert calls == list(enumerate(losses))


def test_train_loss_is_the_mean_of_the_batch_losses_including_a_short_last_batch():
    X, y_onehot = two_blobs(n_per_class=5)         # 10 samples, batches of 4, 4, 2
    weights, biases = init_network([2, 3, 2], seed=0)
    before = copy_network(weights, biases)
    (loss,) = train(X, y_onehot, weights, biases, epochs=1, batch_size=4, lr=0.0, shuffle=False)
    batch_losses = [cross_entropy(forward(X[s:s + 4], *before)[0][-1], y_onehot[s:s + 4])
                    for s in (0, 4, 8)]
    assert loss == pytest.approx(sum(batch_losses) / 3, rel=1e-15)


def test_train_updates_the_callers_matrices_in_place():
    X, y_onehot = two_blobs(n_per_class=5)
    weights, biases = init_network([2, 3, 2], seed=0)
    W0, first_row = weights[0], weights[0][0]
    old = first_row[:]
    train(X, y_onehot, weights, biases, epochs=1, batch_size=4)
    assert weights[0] is W0 and weights[0][0] is first_row and first_row != old


def test_train_with_zero_epochs_returns_no_losses_and_changes_nothing():
    X, y_onehot = two_blobs(n_per_class=5)
    weights, biases = init_network([2, 3, 2], seed=0)
    before = copy_network(weights, biases)
    assert train(X, y_onehot, weights, biases, epochs=0) == []
    assert (weights, biases) == before


# --- the whole curve, progress, and exercise 2 as a stdlib-only command ---------------------

def test_on_batch_sees_every_batch_loss_and_their_mean_is_the_epoch_loss():
    X, Y = two_blobs()
    weights, biases = init_network([2, 4, 2], seed=1)
    seen = []
    losses = train(X, Y, weights, biases, epochs=2, batch_size=50, lr=0.1,
                   on_batch=lambda e, done, loss: seen.append((e, done, loss)))
    assert [(e, d) for e, d, _ in seen] == [(0, 50), (0, 100), (0, 120), (1, 50), (1, 100), (1, 120)]
    assert losses[0] == pytest.approx(sum(l for _, _, l in seen[:3]) / 3, rel=1e-15)
    with pytest.raises(TypeError, match="on_batch must be a function"):
        train(X, Y, weights, biases, epochs=1, on_batch=3)


def test_train_checks_its_arguments_before_changing_anything():
    X, Y = two_blobs()
    weights, biases = init_network([2, 4, 2], seed=1)
    before = copy_network(weights, biases)
    with pytest.raises(ValueError):
        train(X, Y, weights, biases, epochs=1, batch_size=0)
    assert copy_network(weights, biases) == before


class FakeStream:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_is_silent_for_short_epochs_and_periodic_in_a_log():
    from pure.progress import Progress
    now = [0.0]
    log = FakeStream(tty=False)
    p = Progress(1000, stream=log, delay=1.0, log_every=10.0, clock=lambda: now[0])
    for t, done in ((0.5, 100), (1.5, 200), (5.0, 300), (11.6, 600), (12.0, 700), (20.0, 1000)):
        now[0] = t
        p.update(done, 2.0)
    lines = log.text.splitlines()
    assert len(lines) == 2, lines           # at 1.5 s and 11.6 s; none when the epoch is done
    assert lines[0].startswith("200/1,000 samples") and "loss 2.0000" in lines[0]
    assert "133 samples/s" in lines[0] and "left" in lines[0]


def test_progress_on_a_terminal_rewrites_one_line_and_clears_it():
    from pure.progress import Progress
    now = [0.0]
    tty = FakeStream(tty=True)
    p = Progress(1000, stream=tty, delay=1.0, clock=lambda: now[0])
    for t, done in ((1.1, 100), (1.2, 110), (1.5, 200)):
        now[0] = t
        p.update(done, 1.5)
    assert "\n" not in tty.text and tty.text.count("\r") == 2
    p.finish()
    assert tty.text.endswith("\r") and tty.text.split("\r")[-2].strip() == ""


def write_idx(folder, n_train=120, n_test=40, gz=True, seed=0):
    import gzip
    import struct
    rng = random.Random(seed)
    opener = gzip.open if gz else open
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        suffix = ".gz" if gz else ""
        with opener(folder / f"{prefix}-images-idx3-ubyte{suffix}", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28))
            f.write(bytes(rng.randrange(256) if rng.random() < 0.2 else 0 for _ in range(n * 784)))
        with opener(folder / f"{prefix}-labels-idx1-ubyte{suffix}", "wb") as f:
            f.write(struct.pack(">II", 0x801, n))
            f.write(bytes(rng.randrange(10) for _ in range(n)))


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_files_reads_idx_with_the_standard_library(tmp_path, gz):
    from pure import mnist_files
    write_idx(tmp_path, gz=gz)
    X, y = mnist_files.load("train", limit=50, folders=[str(tmp_path)])
    assert len(X) == 50 and len(X[0]) == 784 and len(y) == 50
    assert all(0.0 <= v <= 1.0 for row in X for v in row) and all(0 <= v <= 9 for v in y)
    assert len(mnist_files.load("test", folders=[str(tmp_path)])[0]) == 40


def test_mnist_files_reads_no_more_than_mnist_can_hold(tmp_path):
    """A header announcing 2^31 images is refused before anything is read or inflated."""
    import gzip
    import struct
    from pure import mnist_files
    write_idx(tmp_path)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 2 ** 31, 28, 28))
        f.write(bytes(1 << 20))
    with pytest.raises(mnist_files.MnistFileError, match="expected at most 60000"):
        mnist_files.load("train", folders=[str(tmp_path)])


def test_mnist_files_says_how_to_get_missing_files(tmp_path):
    from pure import mnist_files
    with pytest.raises(mnist_files.MnistFileError, match="python -m native.data"):
        mnist_files.load("train", folders=[str(tmp_path)])


def test_pure_train_command_is_exercise_2_without_numpy(tmp_path):
    """python -m pure.exercise2: the loss before training, progress, then the epoch line —
    with numpy made unimportable, so the standard library is all it needs."""
    import subprocess
    import sys
    write_idx(tmp_path, n_train=200, n_test=40)
    code = ("import sys; sys.modules['numpy'] = None\n"
            "import pure.progress as p\n"
            "real = p.Progress\n"
            "p.Progress = lambda total, **k: real(total, delay=0.0, log_every=0.0, **k)\n"
            "from pure.exercise2 import main\n"
            "raise SystemExit(main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "--limit", "200", "--test-limit", "40",
                        "--sizes", "784", "8", "10", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "loss before training: 2." in r.stdout and "epoch  1/1  loss" in r.stdout
    assert "/200 samples" in r.stderr and "samples/s" in r.stderr
    assert "Traceback" not in r.stderr


def test_pure_train_command_refuses_bad_values_in_one_line(tmp_path):
    from pure.exercise2 import main
    with pytest.raises(SystemExit) as e:
        main(["--limit", "0", "--data-dir", str(tmp_path)])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", str(tmp_path)])
    assert e.value.code == 1


def test_pure_commands_start_without_a_double_import_warning():
    """`python -m pure.exercise2 --help` prints its manual and nothing else on stderr (runpy
    warns when a package imports the module it is about to run as __main__); and
    `python -m pure.train`, which is the §5.7 function's file, points to the command."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "pure.exercise2", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "exercise 2" in r.stdout.lower()
    assert r.stderr == ""
    r = subprocess.run([sys.executable, "-m", "pure.train"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "python -m pure.exercise2" in r.stderr
