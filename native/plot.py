"""``python -m native.plot CHECKPOINT --out DIR``: pictures of a training run, as PNG files.

    python -m native.train --save run.npz
    python -m native.plot run.npz --out figures

writes and prints the paths of
  learning_curves.png      every mini-batch's loss (raw and smoothed, epochs marked)
                           and the test accuracy after each epoch
  first_layer_weights.png  W1's columns as 28×28 images: what each hidden unit looks for
  confusion_matrix.png     true against predicted class on the test set, with counts
  misclassified.png        test digits the network gets wrong, "true → predicted"
  gradient_check.png       exercise 3: relative error of backward() against the
                           numerical gradient, per parameter, on a log scale

Exercise 2 with your own training loop: save its losses as a plain list
(np.save("losses.npy", losses), json.dump(losses, f), or one number per line
of a .txt file) and draw them:

    python -m native.plot losses.npy --out figures      # writes own_losses.png

With --lang zh every label is in Chinese, in a CJK font found on this computer:
Microsoft YaHei or SimHei (Windows), PingFang SC or Hiragino Sans GB (macOS),
Noto Sans CJK SC or WenQuanYi Zen Hei (Linux). With none installed it says so;
on Debian/Ubuntu, sudo apt-get install fonts-noto-cjk adds one.

Needs matplotlib: python -m pip install -e ".[plot]"
"""
import argparse
import io
import math
import os
import sys

import numpy as np

from . import checkpoint as ckpt_mod
from . import figures
from .atomic import replace_atomically
from .checkpoint import CheckpointError

FIGURES = ("curves", "weights", "confusion", "mistakes", "gradcheck")
FILE_NAMES = {"curves": "learning_curves.png", "weights": "first_layer_weights.png",
              "confusion": "confusion_matrix.png", "mistakes": "misclassified.png",
              "gradcheck": "gradient_check.png"}
NEEDS_TEST_SET = ("confusion", "mistakes")
FASHION_CLASSES = ["T-shirt", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "boot"]
INSTALL_HINT = 'python -m pip install -e ".[plot]"'
MARK = "backprop-ch5 native.plot"      # a PNG text chunk: which files a later run may replace
MAX_SMOOTH = 10 ** 6
GRADCHECK_SIZES, GRADCHECK_SAMPLES = (4, 5, 3), 3   # exercise 3's network and batch


class MatplotlibMissing(ImportError):
    pass


def _matplotlib():
    """matplotlib with the default style and no display; one clear error if it is absent."""
    try:
        import matplotlib
        from matplotlib.figure import Figure   # Figure + Agg: no pyplot, no GUI, no global state
    except ImportError:
        raise MatplotlibMissing(f"the pictures need matplotlib, an optional extra, and this Python "
                                f"({sys.executable}) has none: {INSTALL_HINT}{_venv_hint()}") from None
    return matplotlib, Figure


def _venv_hint():
    """If the project's own .venv is not the running Python, how to run that one."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for rel in (os.path.join(".venv", "bin", "python"), os.path.join(".venv", "Scripts", "python.exe")):
        venv = os.path.join(root, rel)
        if os.path.exists(venv) and not os.path.samefile(os.path.dirname(venv),
                                                         os.path.dirname(sys.executable)):
            activate = (". .venv/bin/activate" if os.sep == "/" else r".venv\Scripts\activate")
            return (f"; or, if you installed it into the project's virtual environment {venv}, "
                    f"activate it first ({activate}) or run {venv} -m native.plot …")
    return ""


_chinese_font = None    # a CJK font family while drawing with --lang zh (use_language), else None


def use_language(lang):
    """Draw the pictures in ``lang`` ("en" or "zh"); for "zh", returns the CJK font used.

    Raises ``plot_zh.NoChineseFont`` (with how to install one) when no CJK font is found."""
    global _chinese_font
    if lang == "en":
        _chinese_font = None
        return None
    from . import plot_zh
    found = plot_zh.find_cjk_font()
    if found is None:
        raise plot_zh.NoChineseFont(plot_zh.NO_FONT)
    _chinese_font = found[0]
    return found


def _save(fig, path, dpi, palette=None):
    """Renders `fig` as PNG and writes it atomically (temporary file, fsync, rename).

    palette: up to 256 RGB colours (uint8, shape (n, 3)) that the picture is
    made of, to store it as an 8-bit palette image: a third of the bytes.
    """
    from PIL import Image    # Pillow comes with matplotlib
    if _chinese_font is not None:
        from . import plot_zh
        plot_zh.to_chinese(fig, _chinese_font)
    rgba = io.BytesIO()
    fig.savefig(rgba, format="png", dpi=dpi)
    # Opaque anyway: RGB without the alpha channel is ~8 % smaller. No metadata
    # (matplotlib's version string): the bytes depend on the run alone.
    buf = io.BytesIO()
    image = Image.open(rgba).convert("RGB")
    if palette is not None:
        # each colour to its nearest palette entry, exactly (Pillow's quantize approximates)
        palette = np.asarray(palette, dtype=np.int64)
        pixels = np.asarray(image, dtype=np.int64)
        packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
        codes, where = np.unique(packed, return_inverse=True)
        colours = np.stack([codes >> 16, (codes >> 8) & 255, codes & 255], axis=1)
        nearest = ((colours[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        image = Image.fromarray(nearest[where].astype(np.uint8).reshape(packed.shape))
        image.putpalette(palette.astype(np.uint8).ravel().tolist())   # L → P
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("Software", MARK)        # constant: the bytes still depend on the run alone
    image.save(buf, format="PNG", optimize=True, pnginfo=info)
    replace_atomically(path, lambda f: f.write(buf.getvalue()))     # umask's bits, not mkstemp's 0600
    return path


def _sci(v):
    """1e-07 → "1e-7", 3.2e-09 → "3e-9": short labels for a log axis."""
    m, e = f"{v:.0e}".split("e")
    return f"{m}e{int(e)}"


def _run_title(ckpt):
    c = ckpt.config
    parts = ["→".join(map(str, ckpt.sizes))]
    if "batch_size" in c:
        parts.append(f"batch {c['batch_size']}")
    if "lr0" in c and "decay" in c:
        parts.append(f"η {c['lr0']:g}·{c['decay']:g}^epoch")
    parts.append(f"seed {ckpt.seed}")
    if c.get("engine"):
        parts.append(f"{c['engine']} engine")
    parts.append(str(ckpt.dtype))
    return ", ".join(parts)


def draw_curves(Figure, curves, path, dpi, run_title=""):
    fig = Figure(figsize=(11, 7.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[1.5, 1])
    run_ax, first_ax, acc_ax = fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, 0]), \
        fig.add_subplot(grid[1, 1])
    chance = dict(color="0.35", linewidth=0.9, linestyle="--")
    ends, skipped = curves["epoch_ends"], curves["skipped"]

    # The whole run on a log scale: late epochs move the loss by small factors.
    x, loss = curves["batch_x"], curves["batch_loss"]
    few = len(loss) < 100                  # a short run: dots, and no smoothing to speak of
    run_ax.plot(x, loss, "o-" if few else "-", color="#6baed6" if few else "#9ecae1",
                linewidth=0.5 if not few else 1.0, markersize=3, label="loss of each mini-batch")
    if curves["window"] > 1:
        run_ax.plot(x, curves["smoothed"], color="#08519c", linewidth=1.8,
                    label=f"mean of the last {curves['window']} batches")
    run_ax.plot(ends - 0.5, curves["epoch_loss"], "o", color="#e6550d", markersize=5, zorder=3,
                label="epoch mean (the loss the trainer prints)")
    for e in ends[:-1]:
        run_ax.axvline(e, color="0.6", linewidth=0.8, linestyle=":")
    run_ax.axhline(figures.CHANCE_LOSS, label="guessing at random: ln 10 ≈ 2.30", **chance)
    low = float(np.min(loss[loss > 0])) if (loss > 0).any() else 1e-3
    top = max(float(loss.max()), figures.CHANCE_LOSS)
    if top / low > 20:      # a log scale pays only when the loss falls by more than a decade
        from matplotlib.ticker import FuncFormatter, NullFormatter
        run_ax.set_yscale("log")
        run_ax.set_ylim(low / 1.5, top * 6)               # room on top for the legend
        run_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        run_ax.yaxis.set_minor_formatter(NullFormatter())
        scale = "log scale"
    else:
        run_ax.set_ylim(0, top * 1.35)
        scale = "linear scale"
    run_ax.set_xlim(skipped, ends[-1])
    run_ax.set_xlabel("epoch (dotted lines: epoch boundaries)")
    run_ax.set_ylabel(f"cross-entropy loss\n(nats, {scale})")
    run_ax.set_title(f"Training loss over all {len(ends)} epoch{'s' * (len(ends) > 1)}, "
                     "one point per mini-batch", fontsize=10)
    run_ax.legend(loc="upper right", ncol=2, fontsize=8, framealpha=1)
    run_ax.grid(True, which="major", axis="y", alpha=0.3)

    # The first epoch on a linear scale: exercise 2's "watch the loss fall".
    first = curves["first_epoch"]
    b = np.arange(1, len(first) + 1)
    few = len(first) < 100
    first_ax.plot(b, first, "o-" if few else "-", color="#6baed6" if few else "#9ecae1",
                  linewidth=1.0 if few else 0.6, markersize=3, label="loss of each mini-batch")
    w = figures.smoothing_window(len(first) * 50 // 20)   # a round number near 1/20 of the epoch
    if w > 1:
        first_ax.plot(b, figures.trailing_mean(first, w), color="#08519c", linewidth=1.8,
                      label=f"mean of the last {w} batches")
    first_ax.axhline(figures.CHANCE_LOSS, label="guessing: ln 10", **chance)
    first_ax.annotate(f"first batch: {first[0]:.2f}", (1, first[0]), textcoords="offset points",
                      xytext=(12, -10), fontsize=8, va="top")
    first_ax.set_xlim(0, len(first) + 0.5)
    first_ax.set_ylim(0, max(float(first.max()), figures.CHANCE_LOSS) * 1.08)
    first_ax.set_xlabel(f"mini-batch of epoch {skipped + 1}")
    first_ax.set_ylabel("cross-entropy loss (nats)")
    first_ax.set_title(f"Epoch {skipped + 1}, batch by batch (linear scale)", fontsize=10)
    first_ax.legend(loc="upper right", fontsize=8)
    first_ax.grid(True, alpha=0.3)

    acc = curves["test_accuracy"]
    acc_ax.plot(ends, acc, "o-", color="#31a354", markersize=5)
    for e, a in zip(ends, acc):
        best = a == acc.max() and e < ends[-1] - 1     # not crowding the last label
        if len(ends) <= 5 or e in (ends[0], ends[-1]) or best:
            acc_ax.annotate(f"{a:.2f}%", (e, a), textcoords="offset points", xytext=(0, 7),
                            ha="center", fontsize=8)
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("test accuracy (%)")
    acc_ax.set_title("Test accuracy after each epoch", fontsize=10)
    acc_ax.set_xticks(ends if len(ends) <= 15 else ends[::math.ceil(len(ends) / 10)])
    lo, hi = float(acc.min()), float(acc.max())
    pad = max(0.5, 0.15 * (hi - lo))
    acc_ax.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad))
    acc_ax.set_xlim(ends[0] - 0.5, ends[-1] + 0.5)
    acc_ax.grid(True, alpha=0.3)
    fig.suptitle(f"Learning curves — {run_title}" if run_title else "Learning curves", fontsize=11)
    return _save(fig, path, dpi)


def draw_weights(Figure, images, vmax, total, path, dpi):
    units = len(images)
    cols = 8 if units <= 64 else 16
    rows = math.ceil(units / cols)
    tiles, corners = figures.mosaic(images, cols, gap=2)
    fig = Figure(figsize=(0.9 * cols + 1.9, 0.9 * rows + 1.3), layout="constrained")
    ax = fig.add_subplot()
    from matplotlib import colormaps
    # 192 shades of the diverging map (indistinguishable from 256) leave room in an
    # 8-bit palette for 64 greys (text, edges, the gaps): the PNG is a third the size.
    cmap = colormaps["RdBu_r"].resampled(192).with_extremes(bad="0.45")
    greys = np.repeat(np.linspace(0, 255, 64).round().astype(np.uint8)[:, None], 3, axis=1)
    palette = np.concatenate([(cmap(np.arange(192)) * 255).round().astype(np.uint8)[:, :3], greys])
    im = ax.imshow(tiles, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    side = images.shape[1]
    ax.set_yticks([corners[r * cols][0] + side / 2 - 0.5 for r in range(rows)],
                  [f"{r * cols + 1}–{min(units, (r + 1) * cols)}" for r in range(rows)], fontsize=8)
    ax.set_xticks([])
    ax.set_ylabel("hidden units, row by row (left to right)")
    cbar = fig.colorbar(im, ax=ax, shrink=0.7, aspect=30)
    cbar.set_label("weight (red: ink here raises the unit; blue: lowers it; white: 0)", fontsize=8)
    shown = f"the first {units} of {total}" if units < total else f"all {total}"
    fig.suptitle(f"First layer W1: {shown} hidden units, each column of W1 as a 28×28 image\n"
                 "(what each unit looks for). The speckle is left from the random start: "
                 "the gradient Xᵀ·δ₁\nmoves a pixel's weights only when that pixel has ink, "
                 "so rarely inked pixels keep their initial values", fontsize=9)
    return _save(fig, path, dpi, palette)


def draw_confusion(Figure, m, accuracy, class_names, dataset_name, path, dpi, note=""):
    from matplotlib.colors import LogNorm
    n = m.shape[0]
    fig = Figure(figsize=(7.6, 6.6), layout="constrained")
    ax = fig.subplots()
    shown = np.ma.masked_equal(m, 0)
    im = ax.imshow(shown, cmap="Blues", norm=LogNorm(vmin=1, vmax=max(2, int(m.max()))))
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                dark = m[i, j] > math.sqrt(max(2, m.max()))
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8 if m[i, j] < 1000 else 7,
                        color="white" if dark else "black", fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(n), class_names, rotation=45 if len(max(class_names, key=len)) > 2 else 0)
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    cbar = fig.colorbar(ax.images[0], ax=ax, shrink=0.8)
    cbar.set_label("test samples (log scale; blank: none)")
    ax.set_title(f"Confusion matrix on the {int(m.sum()):,} {dataset_name} test samples — "
                 f"accuracy {100 * accuracy:.2f}%{note}\nrow = true class, column = prediction; "
                 "off the diagonal: mistakes", fontsize=10)
    del im
    return _save(fig, path, dpi)


def draw_mistakes(Figure, idx, images, true, pred, total_wrong, n_test, class_names, path, dpi):
    k = len(idx)
    cols = min(8, max(1, k))
    rows = max(1, math.ceil(k / cols))
    fig = Figure(figsize=(1.3 * cols + 0.4, 1.55 * rows + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for j, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if j >= k:
            ax.set_axis_off()
            continue
        ax.imshow(images[j], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{class_names[true[j]]} → {class_names[pred[j]]}", fontsize=9, pad=2,
                     color="#b30000")
        ax.set_xlabel(f"#{idx[j]}", fontsize=7, labelpad=1)
    if k == 0:
        axes[0].text(0.5, 0.5, "no misclassified samples", ha="center", va="center")
    fig.suptitle(f"{total_wrong:,} of the {n_test:,} test samples are misclassified; the first {k}, "
                 "in test-set order\nabove each: true → predicted class; below: its index in the "
                 "test set", fontsize=10)
    return _save(fig, path, dpi)


def draw_gradcheck(Figure, data, sizes, samples, path, dpi, diagnosis=None):
    names = data["parameters"]
    x = np.arange(len(names))
    fig = Figure(figsize=(max(7.5, 1.3 * len(names) + 3), 4.8), layout="constrained")
    ax = fig.subplots()
    width = 0.27
    series = (("pure", "pure.backward()", "#3182bd", -width),
              ("native", "native.backward() (float64, C)", "#31a354", 0.0),
              ("chapter_bias", "the chapter's ∂L/∂b = mean(δ)", "#de2d26", width))
    for key, label, color, dx in series:
        vals, drawn = data[key], data[key + "_drawn"]
        ok = ~np.isnan(vals)
        ax.bar(x[ok] + dx, drawn[ok], width, color=color, label=label)
        for xi, v, d in zip(x[ok] + dx, vals[ok], drawn[ok]):
            ax.annotate("0" if v == 0 else (f"{v:.2g}" if v >= 1e-3 else _sci(v)), (xi, d), textcoords="offset points",
                        xytext=(0, 3), ha="center", va="bottom", fontsize=7, rotation=90)
    thr = data["threshold"]
    if np.ndim(thr) == 0:
        ax.axhline(thr, color="black", linestyle="--", linewidth=1,
                   label=f"pass below {_sci(thr)} (this project, float64)")
    else:
        ax.step(np.append(x, x[-1] + 1) - 0.5, np.append(thr, thr[-1]), where="post",
                color="black", linestyle="--", linewidth=1, label="pass below (per parameter)")
    ax.axhline(1e-5, color="0.5", linestyle=":", linewidth=1, label="the chapter's bound: 1e-5")
    ax.set_yscale("log")
    drawn = np.concatenate([data[k + "_drawn"] for k in ("pure", "native", "chapter_bias")])
    ax.set_ylim(min(1e-13, np.nanmin(drawn) / 10), 50)
    ax.set_xticks(x, names)
    ax.set_xlabel("parameter (W1, b1: the first layer, as in the chapter)")
    from pure.gradcheck_rules import RELATIVE_ERROR
    ax.set_ylabel(f"largest relative error (log scale)\n{RELATIVE_ERROR}")
    ax.set_title(f"Exercise 3: backward() against the numerical gradient — "
                 f"{'→'.join(map(str, sizes))} network, {samples} samples\n"
                 f"the chapter's mean(δ) makes each bias gradient N = {samples} times too small: "
                 f"relative error (N−1)/(N+1) = {(samples - 1) / (samples + 1):.2g}", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    if diagnosis is not None and diagnosis[0] == "chapter_mean":
        _draw_gradcheck_diagnosis(ax, diagnosis[1], samples)
    return _save(fig, path, dpi)


def _draw_gradcheck_diagnosis(ax, ratio, samples):
    """The check's own diagnosis of the red bars, as `pure.gradcheck --chapter-bias` prints it."""
    ratio_text = f"a/n = {ratio:.3g} = 1/N on every bias entry" if ratio is not None else "the biases fail"
    low, _ = ax.get_ylim()
    ax.set_ylim(low, 1e5)                 # room above the bars, so the box hides none of them
    ax.text(0.01, 0.97, f"the check's diagnosis of mean(δ): {ratio_text}, the weights pass\n"
                        f"→ the chapter's bias line; write sum(δ, axis=0) (docs/erratum.md)",
            transform=ax.transAxes, va="top", ha="left", fontsize=8,
            bbox=dict(boxstyle="round", facecolor="white", edgecolor="#de2d26", alpha=0.95))


OWN_LOSSES_FILE = "own_losses.png"


def draw_own_losses(Figure, data, source, path, dpi):
    """Exercise 2 with the student's own loop: their recorded losses, raw and smoothed."""
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.subplots()
    x, loss = data["x"], data["loss"]
    few = len(loss) < 100
    ax.plot(x, loss, "o-" if few else "-", color="#6baed6" if few else "#9ecae1",
            linewidth=1.0 if few else 0.6, markersize=3, label="each loss in your list")
    if data["window"] > 1:
        ax.plot(x, data["smoothed"], color="#08519c", linewidth=1.8,
                label=f"mean of the last {data['window']}")
    ax.axhline(figures.CHANCE_LOSS, color="0.35", linewidth=0.9, linestyle="--",
               label="guessing at random: ln 10 ≈ 2.30")
    ax.annotate(f"first: {loss[0]:.4g}", (x[0], loss[0]), textcoords="offset points", xytext=(10, -4),
                fontsize=8, va="top")
    ax.annotate(f"last: {loss[-1]:.4g}", (x[-1], loss[-1]), textcoords="offset points", xytext=(-10, 8),
                fontsize=8, ha="right")
    low, top = float(loss.min()), max(float(loss.max()), figures.CHANCE_LOSS)
    ax.set_ylim(min(0.0, low * 1.1), top * 1.15)
    ax.set_xlim(0, len(loss) + 1)
    ax.set_xlabel("position in your list (1 = the first loss you recorded)")
    ax.set_ylabel("loss (nats, linear scale)")
    fell = "fell" if loss[-1] < loss[0] else "did not fall"
    ax.set_title(f"Your losses from {source}: {len(loss):,} values; the loss {fell} "
                 f"from {loss[0]:.3g} to {loss[-1]:.3g}", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, alpha=0.3)
    return _save(fig, path, dpi)


def own_losses_main(p, args):
    """``native.plot FILE.npy|.json|.txt``: draws a student's own list of losses; returns the exit status."""
    if args.only or args.dataset or args.data_dir or args.offline:
        p.exit(2, "error: a list of losses gets one picture, own_losses.png: --only, --dataset, "
                  "--data-dir and --offline are for checkpoints\n")
    try:
        losses = figures.read_losses(args.checkpoint)
    except figures.MissingData as e:
        p.exit(2, f"error: {e}\n")
    matplotlib, Figure = _matplotlib()
    import matplotlib.style
    os.makedirs(args.out, exist_ok=True)
    with matplotlib.style.context("default"):
        written = draw_own_losses(Figure, figures.own_loss_data(losses, args.smooth),
                                  os.path.basename(args.checkpoint),
                                  os.path.join(args.out, OWN_LOSSES_FILE), args.dpi)
    print(written)
    return 0


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m native.plot", description="Pictures of a training run, as PNG files.\n\n" + __doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The test-set figures (confusion, mistakes) read the test set like\n"
               "`python -m native.evaluate`: --data-dir, the cache, then the usual sources.\n"
               "A checkpoint without a training history still gets the other figures.\n"
               "Exit status: 0 when every figure that can be drawn was drawn, 1 when the\n"
               "test set could not be read, 2 on bad arguments or an unusable checkpoint.")
    a = p.add_argument
    a("checkpoint", help="a file written by `python -m native.train --save PATH`, or your own "
      "losses: a list of numbers in a .npy, .json or .txt file (exercise 2)")
    a("--out", metavar="DIR", default="figures", help="folder for the PNG files, made if missing "
      "(default: figures)")
    a("--only", nargs="+", choices=FIGURES, metavar="NAME",
      help=f"draw only these: {', '.join(FIGURES)} (default: all)")
    a("--dpi", type=int, default=100, help="resolution, 50–300 dots per inch (default: 100)")
    a("--mistakes", type=int, default=32, metavar="N",
      help="misclassified samples to show, 1–200 (default: 32)")
    a("--units", type=int, default=64, metavar="N",
      help="hidden units of the first layer to show, 1–256 (default: 64)")
    a("--overwrite", action="store_true",
      help="replace PNG files in --out that this command did not write")
    a("--smooth", type=int, metavar="N",
      help="batches per point of the smoothed loss curve (default: ~1/50 of the run, at most 200)")
    a("--dataset", choices=["mnist", "fashion"], help="test set (default: the checkpoint's)")
    a("--data-dir", metavar="DIR", help="a folder holding the four IDX files")
    a("--offline", action="store_true",
      help="use only --data-dir and the cache: no mirrors, no package index")
    a("--lang", choices=["en", "zh"], default="en",
      help="language of the labels: en or zh (Chinese, in a CJK font found on this computer; "
           "default: en)")
    return p


def check_args(p, args):
    for name, lo, hi in (("dpi", 50, 300), ("mistakes", 1, 200), ("units", 1, 256)):
        v = getattr(args, name)
        if not lo <= v <= hi:
            p.error(f"--{name} must be between {lo} and {hi}, got {v}")
    if args.smooth is not None and not 1 <= args.smooth <= MAX_SMOOTH:
        p.error(f"--smooth must be between 1 and {MAX_SMOOTH:,} batches, got {args.smooth}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        p.error(f"--out {args.out} is a file, expected a folder")


def _predictions(ckpt, images):
    from .engine import Engine
    weights = [w.copy() for w in ckpt.weights]
    biases = [b.copy() for b in ckpt.biases]
    return Engine(weights, biases, batch_size=256).predict(images).astype(np.int64)


def make_figures(ckpt, out, *, dataset=None, only=FIGURES, dpi=100, mistakes=32, units=64,
                 smooth=None, gradcheck=None):
    """Draws the figures of `ckpt` into folder `out`.

    dataset: a native.data.Dataset for the test-set figures (None: they are
    skipped); gradcheck: exercise 3's errors (None: computed here).
    Returns (written paths, {figure: why it was not drawn}).
    """
    _, Figure = _matplotlib()
    import matplotlib.style
    os.makedirs(out, exist_ok=True)
    written, missing = [], {}
    path = lambda name: os.path.join(out, FILE_NAMES[name])
    # the default style: the same pictures whatever the user's matplotlibrc says
    with matplotlib.style.context("default"):
        if "curves" in only:
            try:
                curves = figures.curve_data(figures.history_of(ckpt), smooth, ckpt.epoch)
                written.append(draw_curves(Figure, curves, path("curves"), dpi, _run_title(ckpt)))
            except figures.MissingData as e:
                missing["curves"] = str(e)
        if "weights" in only:
            try:
                imgs, vmax, total = figures.first_layer_images(ckpt.weights[0], units)
                written.append(draw_weights(Figure, imgs, vmax, total, path("weights"), dpi))
            except figures.MissingData as e:
                missing["weights"] = str(e)
        if any(f in only for f in NEEDS_TEST_SET):
            if dataset is None:
                for f in NEEDS_TEST_SET:
                    if f in only:
                        missing[f] = "no test set"
            else:
                labels = np.asarray(dataset.test_labels, dtype=np.int64)
                pred = _predictions(ckpt, dataset.test_images)
                names = FASHION_CLASSES if dataset.name == "fashion" else [str(k) for k in range(10)]
                pretty = "Fashion-MNIST" if dataset.name == "fashion" else "MNIST"
                if "confusion" in only:
                    m, acc = figures.confusion_data(labels, pred, ckpt.sizes[-1])
                    limit = ckpt.config.get("limit")
                    note = f" (the run itself, --limit {limit}, tested {min(limit, len(labels)):,})" \
                        if limit else ""
                    written.append(draw_confusion(Figure, m, acc, names, pretty, path("confusion"),
                                                  dpi, note))
                if "mistakes" in only:
                    idx, imgs, true, predicted, total = figures.mistakes(dataset.test_images, labels,
                                                                         pred, mistakes)
                    written.append(draw_mistakes(Figure, idx, imgs, true, predicted, total, len(labels),
                                                 names, path("mistakes"), dpi))
        if "gradcheck" in only:
            if gradcheck is None:
                from .gradcheck import exercise3_errors
                gradcheck = exercise3_errors(GRADCHECK_SIZES, GRADCHECK_SAMPLES)
            data = figures.gradcheck_data(gradcheck)
            written.append(draw_gradcheck(Figure, data, GRADCHECK_SIZES, GRADCHECK_SAMPLES,
                                          path("gradcheck"), dpi,
                                          figures.gradcheck_diagnosis(GRADCHECK_SIZES, GRADCHECK_SAMPLES)))
    return written, missing


def written_by_us(path):
    """Whether the PNG at `path` carries this command's mark (a later run may replace it)."""
    import stat
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 * 2 ** 20:
            return False
        with open(path, "rb") as f:
            return b"tEXtSoftware\x00" + MARK.encode() in f.read()
    except OSError:
        return False


def foreign_files(out, only):
    """Files in `out` that drawing `only` would replace and that this command did not write."""
    return [os.path.join(out, FILE_NAMES[f]) for f in only
            if os.path.lexists(os.path.join(out, FILE_NAMES[f]))
            and not written_by_us(os.path.join(out, FILE_NAMES[f]))]


def main(argv=None):
    try:
        return _main(argv)
    except KeyboardInterrupt:
        import signal
        import threading
        if argv is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)    # the program ends: a second Ctrl-C waits
        try:
            print("\ninterrupted; pictures already written are complete, none is half-written",
                  file=sys.stderr)
        except (OSError, ValueError):
            pass
        return 130
    except BrokenPipeError:
        from .streams import point_at_devnull
        point_at_devnull(sys.stdout)
        return 1


def _main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    check_args(p, args)
    try:
        _matplotlib()
    except MatplotlibMissing as e:
        p.exit(2, f"error: {e}\n")
    try:
        use_language(args.lang)
    except ImportError as e:       # plot_zh.NoChineseFont
        p.exit(2, f"error: {e}\n")
    if figures.is_losses_file(args.checkpoint):
        return own_losses_main(p, args)
    try:
        ckpt = ckpt_mod.load(args.checkpoint)
    except CheckpointError as e:
        p.exit(2, f"error: {e}\n")
    if ckpt.sizes[0] != 784 or ckpt.sizes[-1] != 10:
        p.exit(2, f"error: checkpoint {args.checkpoint} is a {'→'.join(map(str, ckpt.sizes))} network; "
                  "these pictures need 784 inputs (28×28 pixels) and 10 outputs (classes)\n")
    only = tuple(args.only or FIGURES)
    foreign = [] if args.overwrite else foreign_files(args.out, only)
    if foreign:
        p.exit(2, f"error: {', '.join(foreign)} already exist{'s' * (len(foreign) == 1)} and "
                  f"{'was' if len(foreign) == 1 else 'were'} not written by native.plot; choose another --out, or pass --overwrite "
                  "to replace them\n")

    dataset, data_error = None, None
    if any(f in only for f in NEEDS_TEST_SET):
        from . import data
        name = args.dataset or ckpt.config.get("dataset", "mnist")
        try:
            dataset = data.load(name, args.data_dir, mirrors=not args.offline, registry=not args.offline)
        except data.DataError as e:
            data_error = str(e).splitlines()[0]
    try:
        written, missing = make_figures(ckpt, args.out, dataset=dataset, only=only, dpi=args.dpi,
                                        mistakes=args.mistakes, units=args.units, smooth=args.smooth)
    except OSError as e:
        p.exit(1, f"error: cannot write to {args.out}: {e.strerror or e}\n")
    for path in written:
        print(path)
    for name, why in missing.items():
        if why == "no test set" and data_error:
            why = f"the test set could not be read: {data_error}"
        print(f"not drawn: {FILE_NAMES[name]} — {why}", file=sys.stderr)
    return 1 if data_error else 0


if __name__ == "__main__":
    from pure import checks
    checks.exit_with(main)
