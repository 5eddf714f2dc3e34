"""Exercise 2 with the student's own loop (issue 20 point 6): ``native.plot`` draws a plain list of
losses saved as .npy, .json or .txt; anything else in such a file is refused in one line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from native import figures, plot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOSSES = [2.31, 2.05, 1.71, 1.42, 1.30, 1.12, 0.95, 0.91, 0.84, 0.80]


def save(tmp_path, kind, values=LOSSES):
    path = tmp_path / f"losses.{kind}"
    if kind == "npy":
        np.save(path, np.asarray(values))
    elif kind == "json":
        path.write_text(json.dumps(list(values)))
    else:
        path.write_text("# epoch 1\n" + "\n".join(str(v) for v in values) + "\n")
    return path


@pytest.mark.parametrize("kind", ["npy", "json", "txt"])
def test_read_losses_returns_the_list_in_order_from_each_file_type(tmp_path, kind):
    values = figures.read_losses(save(tmp_path, kind))
    assert values.dtype == np.float64 and values.tolist() == LOSSES


def test_a_text_file_may_separate_with_commas_and_spaces(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("2.3, 2.1 1.9\n\n1.5  # after epoch 1\n")
    assert figures.read_losses(path).tolist() == [2.3, 2.1, 1.9, 1.5]


@pytest.mark.parametrize("name, content, complaint", [
    ("a.txt", "2.3\n1.9\nloss=1.5\n", "a.txt line 3: 'loss=1.5' is not a number"),
    ("b.txt", "# nothing\n", "b.txt holds no losses"),
    ("c.json", '{"loss": [1, 2]}', "c.json holds a JSON dict; expected a list of losses"),
    ("d.json", '[2.3, true]', "d.json: entry 1 is true, expected a number"),
    ("e.json", '[2.3, [1.0]]', "e.json: entry 1 is [1.0], expected a number"),
    ("f.json", '[2.3, NaN]', "f.json: loss 1 is nan: a loss to draw must be finite"),
    ("g.json", '[2.3, ', "g.json cannot be read as json"),
    ("h.txt", "2.3\ninf\n", "h.txt: loss 1 is inf"),
])
def test_a_bad_losses_file_is_refused_in_one_line(tmp_path, name, content, complaint):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(figures.MissingData) as e:
        figures.read_losses(path)
    assert complaint in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("array, complaint", [
    (np.array(["2.3", "1.1"]), "holds <U3 values; expected numbers"),
    (np.ones((3, 4)), "has shape (3, 4); expected a 1-D list of losses"),
    (np.array([1 + 2j]), "holds complex128 values"),
])
def test_a_npy_of_anything_but_numbers_in_one_list_is_refused(tmp_path, array, complaint):
    path = tmp_path / "x.npy"
    np.save(path, array)
    with pytest.raises(figures.MissingData, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        figures.read_losses(path)


def test_a_pickled_npy_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.array([{"loss": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(figures.MissingData, match="cannot be read as npy"):
        figures.read_losses(path)


def test_own_loss_data_smooths_with_a_trailing_mean():
    data = figures.own_loss_data(np.arange(1.0, 11.0), window=2)
    assert data["x"].tolist() == list(range(1, 11))
    assert data["smoothed"].tolist() == [1.0] + [k + 0.5 for k in range(1, 10)]


def run_plot(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "native.plot", *args], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("kind", ["npy", "json", "txt"])
def test_native_plot_draws_a_students_own_losses(tmp_path, kind):
    pytest.importorskip("matplotlib")
    from PIL import Image
    path = save(tmp_path, kind)
    result = run_plot(str(path), "--out", str(tmp_path / "figs"))
    assert result.returncode == 0, result.stderr
    png = tmp_path / "figs" / plot.OWN_LOSSES_FILE
    assert result.stdout.split() == [str(png)]
    with Image.open(png) as image:
        assert image.size[0] > 400 and image.size[1] > 300
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    blue = ((pixels == [0x6b, 0xae, 0xd6]).all(axis=1)).sum()     # the raw losses, drawn
    assert blue > 50


def test_native_plot_refuses_a_bad_losses_file_and_checkpoint_flags_in_one_line(tmp_path):
    pytest.importorskip("matplotlib")
    bad = tmp_path / "l.txt"
    bad.write_text("2.3\nabc\n")
    result = run_plot(str(bad), "--out", str(tmp_path / "f"))
    assert result.returncode == 2 and result.stderr.strip() == "error: l.txt line 2: 'abc' is not a number"
    result = run_plot(str(save(tmp_path, "json")), "--only", "weights")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--only, --dataset, --data-dir and --offline are for checkpoints" in result.stderr


def test_the_gradient_check_picture_carries_the_checks_diagnosis_of_the_chapters_mean(tmp_path):
    """Issue 20 point 2, the picture: the red bars come with the diagnosis the command prints."""
    assert figures.gradcheck_diagnosis((4, 5, 3), 3) == ("chapter_mean", pytest.approx(1 / 3))
    assert figures.gradcheck_diagnosis((3, 4, 2), 5, seed=1) == ("chapter_mean", pytest.approx(1 / 5))
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from native.gradcheck import exercise3_errors
    drawn = []
    original = plot._save
    plot._save = lambda fig, path, dpi, palette=None: drawn.append(
        [t.get_text() for t in fig.findobj(Text)]) or path
    try:
        plot.draw_gradcheck(Figure, figures.gradcheck_data(exercise3_errors()), (4, 5, 3), 3,
                            str(tmp_path / "g.png"), 80, figures.gradcheck_diagnosis((4, 5, 3), 3))
    finally:
        plot._save = original
    note = [t for t in drawn[0] if t.startswith("the check's diagnosis of mean(δ)")]
    assert note == ["the check's diagnosis of mean(δ): a/n = 0.333 = 1/N on every bias entry, the weights "
                    "pass\n→ the chapter's bias line; write sum(δ, axis=0) (docs/erratum.md)"]
    from native.plot_zh import translate
    assert translate(note[0]).startswith("检验对 mean(δ) 的诊断：每个偏置项 a/n = 0.333 = 1/N")
