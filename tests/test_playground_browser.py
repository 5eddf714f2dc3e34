"""The playground in a real browser: headless Chromium (Debian's `chromium`) driven by
Playwright, against the server in-process on 127.0.0.1.

Needs `python -m pip install -e ".[browser]"` and a Chromium binary (`apt-get install
chromium`; Playwright's own browser download is never used). Without them these tests
skip, unless BACKPROP_REQUIRE_BROWSER=1 (as in CI), where that is a failure.
Screenshots go to $BACKPROP_SCREENSHOTS if set (the README's pictures were made so),
else to the test's temporary folder.
"""

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import native
import pure
from native.checkpoint import Checkpoint
from native.playground import digit
from pure.gradcheck import backward_with_chapter_bias, random_problem
from tests.playground_support import running_server

pytestmark = pytest.mark.browser
REQUIRE = os.environ.get("BACKPROP_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path():
    for name in (os.environ.get("BACKPROP_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def unavailable(why):
    if REQUIRE:
        pytest.fail(f"BACKPROP_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable('Playwright is not installed: python -m pip install -e ".[browser]"')
    exe = chromium_path()
    if exe is None:
        unavailable("no Chromium binary (apt-get install chromium, or set BACKPROP_CHROMIUM)")
    with sync_playwright() as p:
        # launch() gives the browser a fresh temporary profile of its own
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def trained(mnist):
    """A network trained for 2 epochs with the chapter's settings (a second of C)."""
    from native.engine import Engine
    w, b = native.init_network([784, 64, 32, 10], seed=0, dtype=np.float32)
    engine = Engine(w, b, batch_size=64)
    for epoch in range(2):
        engine.train_epoch(mnist.train_images, mnist.train_labels,
                           np.random.default_rng([0, epoch]).permutation(60000), 0.1)
    return Checkpoint(w, b, epoch=2, lr=0.1 * 0.95 ** 2, seed=0)


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("BACKPROP_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, path, **kw):
    """A screenshot as a small PNG: quantized to 96 colours when Pillow is there (it comes
    with matplotlib, the plot extra), so that the README's pictures stay under 200 KB."""
    data = page.screenshot(**kw)
    try:
        import io
        from PIL import Image
        img = Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT)
        img.save(path, optimize=True)
    except ImportError:
        Path(path).write_bytes(data)


class Page:
    """A page of the playground that records every console error and uncaught exception."""

    def __init__(self, browser, server, locale="en-US", width=1280, height=900):
        self.context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"http://127.0.0.1:{server.port}/")
        self.page.wait_for_selector("#card-gb1 .verdict")

    def values(self, selector):
        return [float(v) for v in self.page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.v)")]

    def matrix(self, name):
        cells = self.page.eval_on_selector_all(
            f'.grid td[data-m="{name}"]', "els => els.map(e => [+e.dataset.r, +e.dataset.c, +e.dataset.v])")
        rows = max(r for r, _, _ in cells) + 1
        cols = max(c for _, c, _ in cells) + 1
        m = [[None] * cols for _ in range(rows)]
        for r, c, v in cells:
            m[r][c] = v
        return m

    def close(self):
        self.context.close()
        assert self.errors == [], f"JavaScript errors on the page: {self.errors}"


@pytest.fixture
def server(tmp_path, mnist, trained):
    with running_server(tmp_path, checkpoint=trained, load_data=lambda: mnist) as srv:
        yield srv


def test_exercise3_page_shows_pures_numbers_and_the_erratum_switch(browser, server, shots):
    p = Page(browser, server)
    X, Y, W, B = random_problem([4, 5, 3], 3, 0)
    acts, pres = pure.forward(X, W, B)
    gw, gb = pure.backward(acts, pres, W, Y)
    for name, want in {"X": X, "W1": W[0], "Z1": pres[0], "A1": acts[1], "A2": acts[2],
                       "gW1": gw[0], "gb1": gb[0], "gW2": gw[1], "gb2": gb[1]}.items():
        assert p.matrix(name) == want, name
    assert p.values("#card-loss .big-number") == [pure.cross_entropy(acts[-1], Y)]
    verdicts = p.page.eval_on_selector_all(".verdict", "els => els.map(e => e.dataset.passed)")
    assert verdicts == ["true"] * 4
    # pointing at ∂L/∂W₁[2][1] marks X's column 2 and δ₁'s column 1: Xᵀ·δ₁
    p.page.hover('.grid td[data-m="gW1"][data-r="2"][data-c="1"]')
    marked = p.page.eval_on_selector_all(".grid td.src", "els => els.map(e => [e.dataset.m, +e.dataset.r, +e.dataset.c])")
    assert sorted(map(tuple, marked)) == sorted([("X", n, 2) for n in range(3)] + [("delta1", n, 1) for n in range(3)])
    screenshot(p.page, str(shots / "playground-ex3.png"), full_page=True)
    # the chapter's mean(δ): bias gradients shrink by N = 3 and the numerical check turns red
    p.page.check("#ex3-bias")
    p.page.wait_for_function("() => document.querySelector('#card-gb2 .verdict').dataset.passed === 'false'")
    _, gb_chapter = backward_with_chapter_bias(acts, pres, W, Y)
    assert p.matrix("gb1") == gb_chapter[0] and p.matrix("gb2") == gb_chapter[1]
    assert "mean(δ₂)" in p.page.inner_text("#card-gb2 .formula")
    assert p.page.eval_on_selector_all(".verdict", "els => els.map(e => e.dataset.passed)") == \
        ["true", "false", "true", "false"]
    p.page.uncheck("#ex3-bias")
    p.page.wait_for_function("() => document.querySelector('#card-gb2 .verdict').dataset.passed === 'true'")
    # "step": η·gradient applied by pure.sgd_update; the new loss shown
    p.page.click("#ex3-step")
    pure.sgd_update(W, B, gw, gb, 0.1)
    acts, _ = pure.forward(X, W, B)
    p.page.wait_for_function("() => document.querySelector('#ex3-losses').textContent.includes('→')")
    assert p.values("#card-loss .big-number") == [pure.cross_entropy(acts[-1], Y)]
    p.close()


def draw_stroke(page, points):
    box = page.locator("#pad").bounding_box()
    sx, sy = box["width"] / 280, box["height"] / 280
    page.mouse.move(box["x"] + points[0][0] * sx, box["y"] + points[0][1] * sy)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=3)
    page.mouse.up()


A_TWO = [(85, 90), (110, 60), (150, 52), (185, 70), (190, 105), (170, 140), (130, 175),
         (95, 210), (85, 225), (130, 222), (170, 220), (200, 222)]


def settle(p):
    """Waits until the page has no draw request in flight and has shown the last answer."""
    p.page.wait_for_load_state("networkidle")
    p.page.wait_for_timeout(150)


def test_drawn_digit_probabilities_equal_native_and_learning_moves_them(browser, server, trained, shots):
    p = Page(browser, server)
    p.page.click("button[data-view=draw]")
    sent = []
    p.page.on("request", lambda r: sent.append(json.loads(r.post_data)) if r.url.endswith("/api/draw") else None)
    draw_stroke(p.page, A_TWO)
    settle(p)
    body = sent[-1]
    ink = np.array(body["pixels"]).reshape(body["height"], body["width"])
    X = digit.mnist_style(ink).reshape(1, -1) / 255.0
    W = [w.astype(np.float64) for w in trained.weights]
    B = [b.astype(np.float64) for b in trained.biases]
    probs = native.forward(X, W, B)[0][-1][0]
    shown = p.values("#probs .prob")
    assert shown == probs.tolist()
    assert int(np.argmax(shown)) == 2, f"the drawn 2 was read as {int(np.argmax(shown))}"
    # the true label: the backward pass appears, one ∂L/∂W₁ image per hidden unit
    p.page.click("#labels button[data-label='3']")
    p.page.wait_for_selector("#gw1 canvas")
    settle(p)
    assert p.page.locator("#gw1 canvas").count() == 64
    loss = float(p.page.get_attribute("#digit-loss", "data-v"))
    assert math.isclose(loss, -math.log(probs[3]), rel_tol=1e-12)
    screenshot(p.page, str(shots / "playground-draw.png"), full_page=True)
    before = p.values("#probs .prob")
    p.page.click("#learn")
    p.page.wait_for_function("() => document.querySelector('#learn-info').textContent.includes('→') && "
                             "document.querySelector('#probs .ghost') !== null")
    after = p.values("#probs .prob")
    assert after[3] > before[3] and after != before
    p.close()


def test_language_follows_the_browser_and_switches(browser, server):
    p = Page(browser, server, locale="zh-CN")
    assert p.page.get_attribute("html", "lang") == "zh-CN"
    assert p.page.inner_text("button[data-view=ex3]") == "1 · 练习 3"
    assert "反向传播" in p.page.inner_text("#view-ex3 h2:nth-of-type(2)")
    assert "通过检验" in p.page.inner_text("#card-gW1 .verdict")
    p.page.click("#lang")
    assert p.page.get_attribute("html", "lang") == "en"
    assert p.page.inner_text("button[data-view=ex3]") == "1 · Exercise 3"
    assert "passes the check" in p.page.inner_text("#card-gW1 .verdict")
    p.page.reload()                                      # the choice is kept
    p.page.wait_for_selector("#card-gb1 .verdict")
    assert p.page.inner_text("button[data-view=train]") == "3 · Train"
    p.close()


def test_training_starts_pauses_and_the_curve_grows(browser, server, shots):
    p = Page(browser, server, locale="zh-CN")
    p.page.click("button[data-view=train]")
    p.page.fill("#t-hidden", "256 128")
    p.page.fill("#t-epochs", "30")
    p.page.click("#t-start")
    p.page.wait_for_function("() => +document.querySelector('#curve').dataset.points > 200", timeout=60000)
    p.page.click("#t-pause")
    p.page.wait_for_function("() => document.querySelector('#t-status').dataset.status === 'paused'")
    p.page.wait_for_timeout(800)
    n = int(p.page.get_attribute("#curve", "data-points"))
    p.page.wait_for_timeout(800)
    assert int(p.page.get_attribute("#curve", "data-points")) == n
    assert n == server.training.state()["n_batches"]        # the page is not behind
    assert p.page.inner_text("#t-pause") == "继续"
    p.page.click("#t-pause")
    p.page.wait_for_function(f"() => +document.querySelector('#curve').dataset.points > {n}")
    p.page.click("#t-reset")
    p.page.wait_for_function("() => document.querySelector('#t-status').dataset.status === 'idle'")
    # the chapter's settings: 10 epochs of 938 batches, the table's numbers are the trainer's
    p.page.fill("#t-hidden", "64 32")
    p.page.fill("#t-epochs", "10")
    p.page.click("#lang")
    p.page.click("#t-start")
    p.page.wait_for_function("() => document.querySelector('#t-status').dataset.status === 'finished'", timeout=60000)
    p.page.wait_for_function("() => document.querySelectorAll('#w1 canvas').length === 64")
    assert int(p.page.get_attribute("#curve", "data-points")) == 9380
    accs = p.values("#t-epochs-table td:nth-child(3)")
    assert accs == [e["test_accuracy"] for e in server.training.state()["epochs"]]
    screenshot(p.page, str(shots / "playground-train.png"), full_page=True)
    p.page.fill("#t-name", "from-page")
    p.page.click("#t-save")
    p.page.wait_for_function("() => document.querySelector('#t-saved').textContent.includes('from-page.npz')")
    p.close()


def test_the_page_fits_a_phone(browser, server, shots):
    p = Page(browser, server, width=390, height=844)
    for view in ("ex3", "draw", "train"):
        p.page.click(f"button[data-view={view}]")
        width = p.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"view {view} is {width} px wide on a 390 px phone"
    p.page.click("button[data-view=draw]")
    draw_stroke(p.page, A_TWO)
    settle(p)
    screenshot(p.page, str(shots / "playground-phone.png"))
    p.close()


def test_every_view_speaks_chinese(browser, server, shots):
    """The three views in Chinese, each with its work done (the README.zh-CN pictures)."""
    p = Page(browser, server, locale="zh-CN")
    assert "练习 3" in p.page.inner_text("#view-ex3 .help")
    assert p.page.inner_text("#ex3-step") == "走一步"
    p.page.hover('.grid td[data-m="gW1"][data-r="2"][data-c="1"]')
    screenshot(p.page, str(shots / "playground-ex3-zh.png"), full_page=True)
    p.page.click("button[data-view=draw]")
    draw_stroke(p.page, A_TWO)
    settle(p)
    p.page.click("#labels button[data-label='2']")
    p.page.wait_for_selector("#gw1 canvas")
    settle(p)
    assert "MNIST 的制作方法" in p.page.inner_text("#view-draw .help")
    assert p.page.inner_text("#learn").startswith("学习这个数字")
    assert "损失" in p.page.inner_text("#digit-loss")
    screenshot(p.page, str(shots / "playground-draw-zh.png"), full_page=True)
    p.page.click("button[data-view=train]")
    p.page.click("#t-start")
    p.page.wait_for_function("() => document.querySelector('#t-status').dataset.status === 'finished'", timeout=60000)
    p.page.wait_for_function("() => document.querySelectorAll('#w1 canvas').length === 64")
    assert p.page.inner_text("#t-status").startswith("已完成")
    assert [h.strip() for h in p.page.eval_on_selector_all("#t-epochs-table th", "els => els.map(e => e.textContent)")] \
        == ["轮", "损失", "测试准确率", "η", "样本/秒"]
    screenshot(p.page, str(shots / "playground-train-zh.png"), full_page=True)
    p.close()
