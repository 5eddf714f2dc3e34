"""The playground's two speed targets, measured in one process against its server on 127.0.0.1.

1. Draw view: the server's time for one update of a drawn digit — the JSON body of a
   140×140 canvas (what the page sends) parsed and checked, MNIST-style preprocessing,
   native forward + backward for one digit, the JSON answer with ∂L/∂W₁ encoded —
   read from each answer's Server-Timing header; the round trip over localhost beside it.
   Target: median ≤ 20 ms.
2. Live training: the seconds of each epoch of `python -m native.train` (its --results
   file) against the same run in the playground's train view while a page polls it every
   300 ms for new losses and weights, as the page does. Runs alternate (trainer,
   playground, trainer, …); the table gives medians. Target: ≤ 15 % slower.

3. With --page-minutes M (needs Playwright and Chromium, as the browser tests): the page
   itself in headless Chromium, watching a long run (784→512→256→10, 50 epochs, started again from the
   page whenever it finishes) for M minutes:
   its JavaScript heap and DOM size each minute, and how many batch losses it is behind the
   server. Target: flat memory, never more than one poll behind.

    python benchmarks/bench_playground.py
    python benchmarks/bench_playground.py --draws 400 --runs 5
    python benchmarks/bench_playground.py --draws 20 --runs 1 --page-minutes 10
"""
import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from native import data, trainer  # noqa: E402
from tests.playground_support import request, running_server  # noqa: E402


def a_digit(ds, k, size=140):
    """MNIST test digit k blown up onto the page's 140×140 canvas (what a drawn digit looks like)."""
    return np.kron(ds.test_images[k].reshape(28, 28), np.ones((size // 28, size // 28), dtype=np.uint8))


def bench_draw(server, ds, n):
    import http.client
    server_ms, round_ms = [], []
    for k in range(n):
        ink = a_digit(ds, k % 1000)
        body = json.dumps({"width": 140, "height": 140, "pixels": ink.ravel().tolist(),
                           "label": int(ds.test_labels[k % 1000])}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        t0 = time.perf_counter()
        conn.request("POST", "/api/draw", body, {"Host": f"127.0.0.1:{server.port}",
                                                 "Origin": f"http://127.0.0.1:{server.port}",
                                                 "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        round_ms.append(1000 * (time.perf_counter() - t0))
        conn.close()
        assert resp.status == 200
        server_ms.append(float(resp.getheader("Server-Timing").split("dur=")[1]))
    return server_ms, round_ms


def trainer_epochs(folder, epochs):
    out = Path(folder) / "results.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert trainer.main(["--epochs", str(epochs), "--no-progress", "--results", str(out)]) == 0
    return json.loads(out.read_text())["seconds"]


def playground_epochs(server, epochs):
    status, reply = request(server, "POST", "/api/train/start", {"epochs": epochs})
    assert status == 200, reply
    stop, seen = threading.Event(), [0, -1]

    def page():       # as app.js polls: new batch losses, weights when they changed
        while not stop.is_set():
            _, s = request(server, "GET", f"/api/train/state?since={seen[0]}&weights_after={seen[1]}")
            seen[0] += len(s["batch_losses"])
            seen[1] = s["weight_version"]
            if s["status"] in ("finished", "error"):
                return
            stop.wait(0.3)
    t = threading.Thread(target=page)
    t.start()
    deadline = time.monotonic() + 600
    # the status attribute, not state(): state() encodes the weights, and calling it every
    # 10 ms would itself slow the training it measures
    while server.training.status not in ("finished", "error") and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join()
    s = server.training.state()
    assert s["status"] == "finished", s["error"]
    request(server, "POST", "/api/train/reset", {})
    return [e["seconds"] for e in s["epochs"]]


def bench_page(server, minutes):
    import shutil
    from playwright.sync_api import sync_playwright
    exe = os.environ.get("BACKPROP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--enable-precise-memory-info", "--js-flags=--expose-gc"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"http://127.0.0.1:{server.port}/#train")
        page.fill("#t-hidden", "512 256")
        page.fill("#t-epochs", "50")
        page.click("#t-start")
        print(f"page watching a 784→512→256→10 run for {minutes} min:")
        print("  minute  JS heap MB  DOM nodes  page batches  server batches  behind")
        t0, runs = time.monotonic(), 1
        for minute in range(minutes + 1):
            while time.monotonic() < t0 + 60 * minute:
                time.sleep(1)
                if server.training.status == "finished":     # a new run, as a user would
                    page.click("#t-reset")
                    page.wait_for_function("() => document.querySelector('#t-status').dataset.status === 'idle'")
                    page.click("#t-start")
                    runs += 1
            page.evaluate("() => window.gc && window.gc()")
            heap = page.evaluate("() => performance.memory.usedJSHeapSize") / 2 ** 20
            nodes = page.evaluate("() => document.getElementsByTagName('*').length")
            shown = int(page.get_attribute("#curve", "data-points") or 0)
            total = server.training.state()["n_batches"]
            print(f"  {minute:6d}  {heap:10.1f}  {nodes:9d}  {shown:12d}  {total:14d}  {total - shown:6d}")
        browser.close()
        request(server, "POST", "/api/train/reset", {})
        print(f"  runs started from the page: {runs}; page errors: {errors or 'none'}")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_playground.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=200, help="draw-view updates to time")
    p.add_argument("--runs", type=int, default=3, help="training runs of each kind, alternating")
    p.add_argument("--epochs", type=int, default=10, help="epochs per training run")
    p.add_argument("--page-minutes", type=int, default=0, help="also watch the page in Chromium this long")
    args = p.parse_args(argv)
    ds = data.load("mnist", progress=False)
    import platform
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"{cpu}; {time.strftime('%Y-%m-%d')}; numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as tmp, running_server(tmp, load_data=lambda: ds) as server:
        bench_draw(server, ds, 10)                     # warm-up
        server_ms, round_ms = bench_draw(server, ds, args.draws)
        print(f"draw view, {args.draws} updates (140×140 canvas, label given: forward + backward + ∂L/∂W₁):")
        print(f"  server time  median {statistics.median(server_ms):6.2f} ms  "
              f"(p90 {np.percentile(server_ms, 90):.2f} ms)  target ≤ 20 ms")
        print(f"  round trip   median {statistics.median(round_ms):6.2f} ms")
        plain, live = [], []
        for _ in range(args.runs):
            plain += trainer_epochs(tmp, args.epochs)
            live += playground_epochs(server, args.epochs)
        a, b = statistics.median(plain), statistics.median(live)
        print(f"training epoch (chapter settings, {args.runs} runs × {args.epochs} epochs each, alternating):")
        print(f"  python -m native.train      median {a:.4f} s")
        print(f"  playground, page polling    median {b:.4f} s   ratio {b / a:.3f}  target ≤ 1.15")
        if args.page_minutes:
            bench_page(server, args.page_minutes)


if __name__ == "__main__":
    main()
