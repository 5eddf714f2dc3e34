"""``python -m native.plot``: every picture is a real PNG, not blank, and drawn from the run's numbers.

The figure data (``native/figures.py``) is NumPy only and always tested. The
PNG tests need matplotlib (``python -m pip install -e ".[plot]"``): they skip
without it, unless BACKPROP_REQUIRE_PLOT=1 (as in CI), where that is a failure.
"""
import os
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from native import checkpoint as ckpt_mod
from native import figures
from native.checkpoint import Checkpoint
from native.gradcheck import exercise3_errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def mpl():
    try:
        import matplotlib
    except ImportError:
        if os.environ.get("BACKPROP_REQUIRE_PLOT") == "1":
            raise
        pytest.skip('matplotlib is not installed: python -m pip install -e ".[plot]"')
    return matplotlib


def synthetic_history(epochs=3, batches=(40, 40, 17), seed=0):
    """A plausible history (contract C1): losses falling from ln 10, accuracy rising."""
    rng = np.random.default_rng(seed)
    n = sum(batches)
    loss = 2.3 * np.exp(-np.arange(n) / 15) + 0.1 + 0.05 * rng.random(n)
    splits = np.split(loss, np.cumsum(batches)[:-1])
    return {"batch_loss": loss, "epoch_batches": np.array(batches, dtype=np.int64),
            "epoch_loss": np.array([s.mean() for s in splits]),
            "test_accuracy": np.linspace(0.9, 0.95, epochs), "lr": 0.1 * 0.95 ** np.arange(epochs),
            "seconds": np.full(epochs, 0.1)}


def small_checkpoint(history=None, seed=0, hidden=16):
    from native.network import init_network
    W, B = init_network([784, hidden, 10], seed=seed, dtype="float32")
    ck = Checkpoint(W, B, epoch=3, lr=0.1 * 0.95 ** 3, seed=seed,
                    config={"batch_size": 64, "lr0": 0.1, "decay": 0.95, "dataset": "mnist"})
    if history is not None:
        ck.history = history
    return ck


class FakeDataset:
    """A tiny MNIST-shaped test set: digits are blobs whose position depends on the label."""
    name = "mnist"

    def __init__(self, n=200, seed=0):
        rng = np.random.default_rng(seed)
        self.test_labels = rng.integers(0, 10, n).astype(np.uint8)
        img = np.zeros((n, 28, 28), np.uint8)
        for k, y in enumerate(self.test_labels):
            r, c = 4 + 2 * int(y), 4 + int(rng.integers(0, 16))
            img[k, r:r + 6, c:c + 6] = 255
        self.test_images = img.reshape(n, 784)


def png_facts(path):
    """(width, height) from the IHDR chunk, after checking the signature and the chunk's CRC."""
    with open(path, "rb") as f:
        head = f.read(33)
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", head[8:16])
    assert kind == b"IHDR" and length == 13, f"{path}: first chunk is {kind!r}"
    assert zlib.crc32(head[12:29]) == struct.unpack(">I", head[29:33])[0], f"{path}: IHDR CRC"
    return struct.unpack(">II", head[16:24])


def check_png(path, min_size=(300, 250), max_bytes=400_000):
    from matplotlib.image import imread
    w, h = png_facts(path)
    assert min_size[0] <= w <= 3000 and min_size[1] <= h <= 3000, (path, w, h)
    size = os.path.getsize(path)
    assert 5_000 < size < max_bytes, (path, size)
    pixels = imread(path)
    assert pixels.shape[:2] == (h, w)
    grey = pixels[..., :3].mean(axis=2)
    assert grey.std() > 0.05, f"{path} looks blank (pixel std {grey.std():.3f})"
    # not one flat colour with a few marks: at least 2 % of the pixels differ from the commonest
    values, counts = np.unique(np.round(grey, 2), return_counts=True)
    assert counts.max() < 0.98 * grey.size, f"{path} is almost all one colour"
    return w, h


# ---------------------------------------------------------------- figure data (NumPy only)

def test_curve_data_puts_every_batch_in_its_epoch_and_smooths_over_the_last_window():
    h = synthetic_history()
    c = figures.curve_data(h, window=5)
    np.testing.assert_array_equal(c["batch_loss"], h["batch_loss"])
    np.testing.assert_array_equal(c["epoch_loss"], h["epoch_loss"])
    np.testing.assert_allclose(c["test_accuracy"], 100 * h["test_accuracy"])
    np.testing.assert_array_equal(c["epoch_ends"], [1, 2, 3])
    assert np.all(np.diff(c["batch_x"]) > 0)
    ends = np.cumsum(h["epoch_batches"]) - 1            # the last batch of each epoch ends it
    np.testing.assert_allclose(c["batch_x"][ends], [1, 2, 3])
    assert c["batch_x"][0] == pytest.approx(1 / 40)
    loss = h["batch_loss"]
    for i in (0, 3, 4, 50, len(loss) - 1):
        assert c["smoothed"][i] == pytest.approx(loss[max(0, i - 4):i + 1].mean())
    np.testing.assert_array_equal(c["first_epoch"], loss[:40])


def test_curve_data_counts_epochs_from_where_a_history_started():
    # a run resumed from a checkpoint without history records only its own epochs
    c = figures.curve_data(synthetic_history(), epochs_done=5)
    np.testing.assert_array_equal(c["epoch_ends"], [3, 4, 5])
    assert c["skipped"] == 2 and c["batch_x"][-1] == pytest.approx(5)


@pytest.mark.parametrize("broken, message", [
    ({}, "no training history"),
    ({"epoch_batches": np.array([40, 40, 16])}, "does not add up"),
    ({"test_accuracy": np.array([0.9])}, "3 epochs but 1 values of test_accuracy"),
])
def test_curve_data_says_what_is_missing_from_a_history(broken, message):
    h = {} if not broken else {**synthetic_history(), **broken}
    with pytest.raises(figures.MissingData, match=message):
        figures.curve_data(h)


def test_smoothing_window_is_a_round_number_near_a_fiftieth_of_the_run():
    assert [figures.smoothing_window(n) for n in (1, 120, 938, 9380, 10**6)] == [1, 2, 10, 100, 200]


def test_first_layer_images_are_the_columns_of_W1():
    W1 = np.random.default_rng(1).standard_normal((784, 20))
    images, vmax, total = figures.first_layer_images(W1, max_units=16)
    assert images.shape == (16, 28, 28) and total == 20
    for j in (0, 7, 15):
        np.testing.assert_array_equal(images[j].ravel(), W1[:, j])
    assert vmax == np.abs(W1[:, :16]).max()
    with pytest.raises(figures.MissingData, match="not a square image"):
        figures.first_layer_images(np.zeros((783, 4)))


def test_mosaic_puts_each_tile_at_its_corner_with_gaps_between():
    tiles = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    out, corners = figures.mosaic(tiles, cols=2, gap=1, label_rows=1)
    assert out.shape == (3 * 4 - 1, 2 * 4 - 1)
    for t, (y, x) in zip(tiles, corners):
        np.testing.assert_array_equal(out[y:y + 2, x:x + 3], t)
    assert np.isnan(out).sum() == out.size - tiles.size


def test_mistakes_are_the_first_misclassified_samples_in_test_order():
    labels = np.array([1, 2, 3, 4, 5, 6])
    pred = np.array([1, 0, 3, 0, 0, 6])
    images = np.arange(6)[:, None] * np.ones((1, 784), np.uint8)
    idx, imgs, true, predicted, total = figures.mistakes(images, labels, pred, 2)
    assert idx.tolist() == [1, 3] and total == 3
    assert true.tolist() == [2, 4] and predicted.tolist() == [0, 0]
    assert imgs.shape == (2, 28, 28) and imgs[1].max() == 3


def test_confusion_data_counts_true_against_predicted():
    m, acc = figures.confusion_data([0, 0, 1, 2], [0, 1, 1, 1], 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]] and acc == 0.5


def test_gradcheck_data_holds_exercise3s_numbers_and_lifts_only_exact_zeros():
    errors = exercise3_errors()
    d = figures.gradcheck_data(errors)
    assert d["parameters"] == ["W1", "b1", "W2", "b2"]
    np.testing.assert_array_equal(d["pure"], errors["pure"])
    np.testing.assert_array_equal(d["native"], errors["native"])
    assert np.isnan(d["chapter_bias"][[0, 2]]).all()
    np.testing.assert_array_equal(d["chapter_bias"][[1, 3]], [errors["chapter_bias"][1], errors["chapter_bias"][3]])
    assert d["threshold"] == 1e-7
    zero = figures.gradcheck_data({**errors, "pure": [0.0, 1e-9, 0.0, 1e-9]})
    assert zero["pure_drawn"].tolist() == [figures.ZERO_FLOOR, 1e-9, figures.ZERO_FLOOR, 1e-9]


# ---------------------------------------------------------------- PNG files

def test_every_figure_is_a_legible_png_drawn_from_the_checkpoint(mpl, tmp_path):
    from native import plot
    ck = small_checkpoint(synthetic_history())
    written, missing = plot.make_figures(ck, str(tmp_path), dataset=FakeDataset())
    assert missing == {}
    assert [os.path.basename(p) for p in written] == [plot.FILE_NAMES[f] for f in plot.FIGURES]
    for path in written:
        check_png(path)


def test_pictures_are_deterministic_and_change_with_the_numbers(mpl, tmp_path):
    from native import plot
    first, again, other = (tmp_path / n for n in ("a", "b", "c"))
    for out, seed in ((first, 0), (again, 0), (other, 1)):
        plot.make_figures(small_checkpoint(synthetic_history(seed=seed), seed=seed), str(out),
                          dataset=FakeDataset(), only=("curves", "weights", "confusion", "mistakes"))
    for name in ("learning_curves.png", "first_layer_weights.png", "confusion_matrix.png"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
        assert (first / name).read_bytes() != (other / name).read_bytes(), \
            f"{name} did not change when its data did"


def test_a_checkpoint_without_history_gets_every_other_figure(mpl, tmp_path):
    from native import plot
    written, missing = plot.make_figures(small_checkpoint(), str(tmp_path), dataset=FakeDataset())
    assert set(missing) == {"curves"} and "no training history" in missing["curves"]
    assert len(written) == 4 and not (tmp_path / "learning_curves.png").exists()


def test_the_gradient_check_picture_plots_exercise3_as_given(mpl, tmp_path):
    from native import plot
    errors = exercise3_errors()
    a = plot.make_figures(small_checkpoint(), str(tmp_path / "a"), only=("gradcheck",), gradcheck=errors)[0]
    fixed = {**errors, "pure": [1e-3] * 4}       # pure made to fail: its bars must move
    b = plot.make_figures(small_checkpoint(), str(tmp_path / "b"), only=("gradcheck",), gradcheck=fixed)[0]
    check_png(a[0])
    assert open(a[0], "rb").read() != open(b[0], "rb").read()


def test_first_layer_picture_shows_the_weights_as_an_8_bit_palette_png(mpl, tmp_path):
    from matplotlib.image import imread
    from native import plot
    ck = small_checkpoint(hidden=64)
    path = plot.make_figures(ck, str(tmp_path), only=("weights",))[0][0]
    check_png(path, max_bytes=200_000)
    with open(path, "rb") as f:
        assert f.read(26)[25] == 3        # IHDR colour type 3: palette
    pixels = imread(path)[..., :3]
    # the picture's own colours: red (positive weights), blue (negative), white (near 0)
    red = (pixels[..., 0] > pixels[..., 2] + 0.2).mean()
    blue = (pixels[..., 2] > pixels[..., 0] + 0.2).mean()
    assert red > 0.01 and blue > 0.01


# ---------------------------------------------------------------- the command

def run_plot(*args, block_matplotlib=False):
    code = "import sys; from native.plot import main; sys.exit(main(sys.argv[1:]))"
    if block_matplotlib:
        code = "import sys; sys.modules['matplotlib'] = None; " + code
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_without_matplotlib_the_command_names_the_extra_in_one_line(tmp_path):
    r = run_plot(str(tmp_path / "x.npz"), "--out", str(tmp_path), block_matplotlib=True)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert 'python -m pip install -e ".[plot]"' in r.stderr


def test_help_works_without_matplotlib():
    r = run_plot("--help", block_matplotlib=True)
    assert r.returncode == 0 and "--out" in r.stdout and "[plot]" in r.stdout


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"not a zip file at all", "corrupt or not a checkpoint"),
])
def test_a_missing_or_corrupt_checkpoint_is_one_clear_line(mpl, tmp_path, content, message):
    path = tmp_path / "run.npz"
    if content is not None:
        path.write_bytes(content)
    r = run_plot(str(path), "--out", str(tmp_path / "figs"))
    assert r.returncode == 2 and message in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--dpi", "10"], "--dpi must be between 50 and 300, got 10"),
    (["--mistakes", "0"], "--mistakes must be between 1 and 200, got 0"),
    (["--smooth", "0"], "--smooth must be between 1 and 1,000,000 batches, got 0"),
    (["--smooth", str(2 ** 63)], "--smooth must be between 1 and 1,000,000 batches"),
    (["--only", "everything"], "invalid choice: 'everything'"),
])
def test_bad_options_are_refused_by_name(tmp_path, args, message):
    r = run_plot(str(tmp_path / "run.npz"), *args)
    assert r.returncode == 2 and message in r.stderr


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    r = run_plot(str(tmp_path / "run.npz"), "--out", str(tmp_path / "file"))
    assert r.returncode == 2 and "is a file, expected a folder" in r.stderr


def test_an_out_folder_that_cannot_be_made_is_one_line(mpl, tmp_path):
    (tmp_path / "file").write_text("x")
    ckpt_mod.save(tmp_path / "run.npz", small_checkpoint())
    r = run_plot(str(tmp_path / "run.npz"), "--out", str(tmp_path / "file" / "sub"), "--only", "weights")
    assert r.returncode == 1 and "error: cannot write to" in r.stderr and "Not a directory" in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_without_the_test_set_the_other_figures_are_drawn_and_the_gap_named(mpl, tmp_path):
    ck = small_checkpoint(synthetic_history())
    ckpt_mod.save(tmp_path / "run.npz", ck)
    r = run_plot(str(tmp_path / "run.npz"), "--out", str(tmp_path / "figs"),
                 "--data-dir", str(tmp_path / "nowhere"), "--only", "weights", "confusion", "mistakes")
    assert r.returncode == 1, r.stderr
    assert r.stdout.split() == [str(tmp_path / "figs" / "first_layer_weights.png")]
    assert "not drawn: confusion_matrix.png — the test set could not be read" in r.stderr
    assert "not drawn: misclassified.png" in r.stderr and "Traceback" not in r.stderr


def test_a_network_that_is_not_for_mnist_is_refused(mpl, tmp_path):
    from native.network import init_network
    W, B = init_network([4, 5, 3], seed=0)
    ckpt_mod.save(tmp_path / "tiny.npz", Checkpoint(W, B, epoch=1, lr=0.1, seed=0))
    r = run_plot(str(tmp_path / "tiny.npz"), "--out", str(tmp_path))
    assert r.returncode == 2 and "4→5→3" in r.stderr and "784 inputs" in r.stderr


# ---------------------------------------------------------------- the "done when"

@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist):
    """`python -m native.train --save run.npz --epochs 2`, its printed lines, and the checkpoint."""
    folder = tmp_path_factory.mktemp("run")
    path = folder / "run.npz"
    r = subprocess.run([sys.executable, "-m", "native.train", "--save", str(path), "--epochs", "2"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    return path, r.stdout, ckpt_mod.load(path)


def test_train_then_plot_writes_the_figures_from_that_run(mpl, trained, mnist, tmp_path):
    from native import plot
    from native.evaluate import confusion_matrix
    path, train_output, ck = trained
    r = run_plot(str(path), "--out", str(tmp_path / "figs"), "--offline")
    assert r.returncode == 0, r.stderr
    written = r.stdout.split()
    assert [os.path.basename(p) for p in written] == [plot.FILE_NAMES[f] for f in plot.FIGURES]
    for p in written:
        check_png(p, max_bytes=200_000)

    # curves: the checkpoint's history, and it agrees with what the trainer printed per epoch
    curves = figures.curve_data(figures.history_of(ck), epochs_done=ck.epoch)
    printed = [float(a) for a in re.findall(r"test acc\s+([\d.]+)%", train_output)]
    np.testing.assert_allclose(curves["test_accuracy"], printed, atol=0.006)
    printed_loss = [float(a) for a in re.findall(r"loss ([\d.]+)", train_output)]
    np.testing.assert_allclose(curves["epoch_loss"], printed_loss, atol=6e-5)
    assert len(curves["batch_loss"]) == 2 * 938
    assert curves["first_epoch"][0] == pytest.approx(figures.CHANCE_LOSS, rel=0.1)

    # weights: W1 itself; confusion: the engine's predictions on the 10,000 test digits
    images, _, _ = figures.first_layer_images(ck.weights[0])
    np.testing.assert_array_equal(images[5].ravel(), ck.weights[0][:, 5])
    pred = plot._predictions(ck, mnist.test_images)
    m, acc = figures.confusion_data(mnist.test_labels, pred, 10)
    np.testing.assert_array_equal(m, confusion_matrix(mnist.test_labels, pred, 10))
    assert m.sum() == 10_000
    assert acc == pytest.approx(printed[-1] / 100, abs=0.00006)
    idx = figures.mistakes(mnist.test_images, mnist.test_labels, pred, 32)[0]
    assert len(idx) == 32 and (mnist.test_labels[idx] != pred[idx]).all()

    # the same command again: the same bytes
    again = run_plot(str(path), "--out", str(tmp_path / "again"), "--offline")
    for p in written:
        other = tmp_path / "again" / os.path.basename(p)
        assert open(p, "rb").read() == other.read_bytes(), p
