"""``native.plot --lang zh`` (issue 20 point 9): every label of every picture in Chinese, drawn in a
CJK font found on the computer; with no such font, one line saying how to install one.

Needs matplotlib and a CJK font (Debian: fonts-noto-cjk). Without a font the font tests skip,
unless BACKPROP_REQUIRE_CJK=1 (CI), where they must run.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.fixture(scope="module")
def cjk_font():
    pytest.importorskip("matplotlib")
    from native import plot_zh
    found = plot_zh.find_cjk_font()
    if found is None:
        if os.environ.get("BACKPROP_REQUIRE_CJK") == "1":
            pytest.fail(plot_zh.NO_FONT)
        pytest.skip("no CJK font here: " + plot_zh.NO_FONT)
    return found


def test_translate_carries_the_numbers_over():
    from native.plot_zh import translate
    assert translate("mean of the last 50 batches") == "最近 50 个小批量的平均"
    assert translate("Training loss over all 3 epochs, one point per mini-batch") == \
        "全部 3 个 epoch 的训练损失，每个小批量一个点"
    assert translate("Learning curves — 784→64→32→10, batch 64, seed 0, native engine, float32") == \
        "学习曲线 — 784→64→32→10, 批大小 64, 种子 0, native 引擎, float32"
    assert translate("8 → 3") == "8 → 3" and translate("coat → shirt") == "外套 → 衬衫"
    assert translate("0.25") == "0.25"


def test_every_chinese_character_of_the_labels_is_in_the_font_found(cjk_font):
    from native import plot_zh
    characters = "".join(set(CJK.findall(repr([c for _, c in plot_zh.TRANSLATIONS if isinstance(c, str)]))))
    source = open(plot_zh.__file__, encoding="utf-8").read()
    characters += "".join(set(CJK.findall(source)))
    assert plot_zh.covers(cjk_font[1], characters), cjk_font
    assert cjk_font[0] in plot_zh.CJK_FONTS


def small_run():
    from native.checkpoint import Checkpoint
    from native.network import init_network
    rng = np.random.default_rng(0)
    loss = 2.3 * np.exp(-np.arange(97) / 15) + 0.1 + 0.05 * rng.random(97)
    history = {"batch_loss": loss, "epoch_batches": np.array([40, 40, 17], dtype=np.int64),
               "epoch_loss": np.array([s.mean() for s in np.split(loss, [40, 80])]),
               "test_accuracy": np.array([0.90, 0.93, 0.95]), "lr": 0.1 * 0.95 ** np.arange(3),
               "seconds": np.full(3, 0.1)}
    W, B = init_network([784, 16, 10], seed=0, dtype="float32")
    ck = Checkpoint(W, B, epoch=3, lr=0.1 * 0.95 ** 3, seed=0,
                    config={"batch_size": 64, "lr0": 0.1, "decay": 0.95, "dataset": "mnist"})
    ck.history = history

    class Test:
        name = "mnist"
        test_labels = rng.integers(0, 10, 200).astype(np.uint8)
        test_images = (rng.random((200, 784)) * 255).astype(np.uint8)
    return ck, Test()


ALLOWED_ENGLISH = {"pure.backward()", "native.backward() (float64, C)", "epoch"}


def test_every_picture_is_drawn_in_chinese_in_a_cjk_font(cjk_font, tmp_path, monkeypatch):
    from matplotlib import font_manager
    from native import plot, plot_zh
    seen = []
    original = plot_zh.to_chinese

    def recording(fig, font):
        left = original(fig, font)
        from matplotlib.text import Text
        texts = [(t.get_text(), font_manager.findfont(t.get_fontproperties(), fallback_to_default=False))
                 for t in fig.findobj(Text) if CJK.search(t.get_text())]
        seen.append((left, texts))
        return left
    monkeypatch.setattr(plot_zh, "to_chinese", recording)
    ck, test_set = small_run()
    assert plot.use_language("zh") == cjk_font
    try:
        written, missing = plot.make_figures(ck, str(tmp_path), dataset=test_set)
        losses = tmp_path / "l.json"
        losses.write_text("[2.3, 1.9, 1.2, 0.8]")
        from native import figures
        written.append(plot.draw_own_losses(__import__("matplotlib.figure").figure.Figure,
                                            figures.own_loss_data(figures.read_losses(losses)),
                                            "l.json", str(tmp_path / "own.png"), 80))
    finally:
        plot.use_language("en")
    assert missing == {} and len(written) == 6 and len(seen) == 6
    for (left, texts), path in zip(seen, written):
        assert set(left) <= ALLOWED_ENGLISH, (path, left)        # every other label is translated
        assert len(texts) >= 1, path
        for text, font_file in texts:                             # ... and set in the CJK font
            assert plot_zh.covers(font_file, "".join(CJK.findall(text))), (path, text, font_file)
            assert "DejaVu" not in str(font_file), (text, font_file)
    for path in written:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_english_is_the_default_and_stays_english(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from native import plot, plot_zh
    calls = []
    monkeypatch.setattr(plot_zh, "to_chinese", lambda fig, font: calls.append(font))
    ck, _ = small_run()
    plot.make_figures(ck, str(tmp_path), only=("curves",))
    assert calls == []


def run_plot(*args, env=None):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8", **(env or {}))
    return subprocess.run([sys.executable, "-m", "native.plot", *args], capture_output=True, text=True,
                          encoding="utf-8", env=env, cwd=ROOT, timeout=300)


def test_the_command_draws_chinese_pictures(cjk_font, tmp_path):
    losses = tmp_path / "l.txt"
    losses.write_text("2.3\n1.8\n1.1\n0.7\n")
    en = run_plot(str(losses), "--out", str(tmp_path / "en"))
    zh = run_plot(str(losses), "--out", str(tmp_path / "zh"), "--lang", "zh")
    assert en.returncode == 0 and zh.returncode == 0, zh.stderr
    a, b = (open(os.path.join(tmp_path, d, "own_losses.png"), "rb").read() for d in ("en", "zh"))
    assert a != b


def test_without_a_cjk_font_the_command_says_how_to_install_one_in_one_line(tmp_path):
    pytest.importorskip("matplotlib")
    losses = tmp_path / "l.txt"
    losses.write_text("2.3\n1.8\n")
    probe = (f"import sys; sys.argv = ['native.plot', {str(losses)!r}, '--out', {str(tmp_path)!r}, '--lang', 'zh']\n"
             "import native.plot_zh as z; z.find_cjk_font = lambda: None\n"
             "import native.plot as p; sys.exit(p.main())\n")
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                            encoding="utf-8", timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    for words in ("Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "sudo apt-get install fonts-noto-cjk"):
        assert words in result.stderr
