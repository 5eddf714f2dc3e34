"""The train view: the trainer's own code path (same losses and accuracies as
``python -m native.train``, bit for bit), pause/resume/reset, saving checkpoints with
the trainer's rules, many clients at once, and Ctrl-C."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from native import checkpoint as ckpt_mod
from native import trainer
from tests.playground_support import request, running_server


def wait_for(server, statuses, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = server.training.state()
        if s["status"] in statuses:
            return s
        time.sleep(0.02)
    raise AssertionError(f"training still {server.training.state()['status']} after {timeout} s")


@pytest.fixture
def server(tmp_path, mnist):
    with running_server(tmp_path, load_data=lambda: mnist) as srv:
        yield srv


def post(server, path, body=None):
    return request(server, "POST", path, {} if body is None else body)


def test_train_view_with_chapter_defaults_equals_native_train(server, tmp_path):
    """Default settings and seed: every mini-batch loss, epoch loss and test accuracy the page
    shows, and the saved weights, equal those of `python -m native.train --save`."""
    ref = tmp_path / "ref.npz"
    assert trainer.main(["--save", str(ref), "--no-progress"]) == 0
    want = ckpt_mod.load(ref)
    status, reply = post(server, "/api/train/start")
    assert status == 200, reply
    wait_for(server, {"finished", "error"})
    s = server.training.state()
    assert s["status"] == "finished" and s["epoch"] == 10
    assert s["batch_losses"] == want.history["batch_loss"].tolist()
    assert [e["loss"] for e in s["epochs"]] == want.history["epoch_loss"].tolist()
    assert [e["test_accuracy"] for e in s["epochs"]] == want.history["test_accuracy"].tolist()
    assert [e["lr"] for e in s["epochs"]] == want.history["lr"].tolist()
    status, reply = post(server, "/api/train/save", {"name": "page"})
    assert status == 200 and reply == {"saved": "page.npz", "epoch": 10}
    got = ckpt_mod.load(tmp_path / "page.npz")
    for a, b in zip(got.weights + got.biases, want.weights + want.biases):
        assert np.array_equal(a, b)
    assert got.config == want.config and got.lr == want.lr
    # ... and the draw view now runs on the trained network
    _, model = request(server, "GET", "/api/model")
    assert model["source"] == "training" and model["epoch"] == 10


def test_train_view_with_other_settings_equals_native_train(server, tmp_path):
    ref = tmp_path / "ref.npz"
    argv = ["--sizes", "784", "40", "10", "--epochs", "3", "--batch-size", "100", "--lr", "0.2",
            "--decay", "0.8", "--seed", "5", "--limit", "6000"]
    assert trainer.main(argv + ["--save", str(ref), "--no-progress"]) == 0
    want = ckpt_mod.load(ref)
    status, _ = post(server, "/api/train/start", {"hidden": [40], "epochs": 3, "batch_size": 100,
                                                  "lr": 0.2, "decay": 0.8, "seed": 5, "limit": 6000})
    assert status == 200
    wait_for(server, {"finished", "error"})
    s = server.training.state()
    assert s["batch_losses"] == want.history["batch_loss"].tolist()
    assert [e["test_accuracy"] for e in s["epochs"]] == want.history["test_accuracy"].tolist()


def test_pause_holds_training_and_resume_finishes_the_same_run(server, tmp_path):
    body = {"hidden": [256, 128], "epochs": 3, "limit": 20000}
    post(server, "/api/train/start", body)
    deadline = time.monotonic() + 60
    while server.training.state()["n_batches"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    status, reply = post(server, "/api/train/pause")
    assert status == 200, reply
    wait_for(server, {"paused"})
    time.sleep(0.3)                 # the piece in flight ends, then nothing moves
    n = server.training.state()["n_batches"]
    time.sleep(0.5)
    assert server.training.state()["n_batches"] == n
    assert post(server, "/api/train/start", body)[0] == 409          # one run at a time
    assert post(server, "/api/train/resume")[0] == 200
    wait_for(server, {"finished"})
    paused = server.training.state()["batch_losses"]
    post(server, "/api/train/reset")
    assert server.training.state()["status"] == "idle"
    post(server, "/api/train/start", body)
    wait_for(server, {"finished"})
    assert server.training.state()["batch_losses"] == paused           # pausing changed nothing


def test_reset_stops_a_run_within_a_second(server):
    post(server, "/api/train/start", {"hidden": [512, 256], "epochs": 20})
    wait_for(server, {"running"})
    t0 = time.monotonic()
    assert post(server, "/api/train/reset")[0] == 200
    assert time.monotonic() - t0 < 1.5
    s = server.training.state()
    assert s["status"] == "idle" and s["n_batches"] == 0
    assert not server.training.thread.is_alive()


def test_save_follows_the_trainer_overwrite_rules(server, tmp_path):
    post(server, "/api/train/start", {"epochs": 1, "limit": 2000})
    wait_for(server, {"finished"})
    assert post(server, "/api/train/save", {"name": "a.npz"})[0] == 200
    status, reply = post(server, "/api/train/save", {"name": "a.npz"})
    assert status == 409 and "already exists" in reply["error"] and "overwrite" in reply["error"]
    assert post(server, "/api/train/save", {"name": "a.npz", "overwrite": True})[0] == 200
    (tmp_path / "folder.npz").mkdir()
    status, reply = post(server, "/api/train/save", {"name": "folder.npz", "overwrite": True})
    assert status == 409 and "folder" in reply["error"]
    os.symlink("/dev/null", tmp_path / "null.npz")
    status, reply = post(server, "/api/train/save", {"name": "null.npz", "overwrite": True})
    assert status == 409 and "special file" in reply["error"]
    assert ckpt_mod.load(tmp_path / "a.npz").epoch == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "folder.npz", "null.npz"]  # no temporaries
    # what native.evaluate reads
    out = subprocess.run([sys.executable, "-m", "native.evaluate", str(tmp_path / "a.npz"), "--offline"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_twenty_clients_while_training_lose_no_update(server):
    """20 threads poll the state (incrementally, as the page does) and draw digits while
    a run trains: every client ends with exactly the run's batch losses, nothing fails.
    (Seconds natively; the deadlines are for emulated arm64, some 50x slower.)"""
    post(server, "/api/train/start", {"epochs": 4, "limit": 20000})
    ink = {"width": 28, "height": 28, "pixels": [0] * 300 + [200] * 100 + [0] * 384, "label": 3}
    results, failures = [None] * 20, []

    def client(k):
        losses, deadline = [], time.monotonic() + 900
        try:
            while time.monotonic() < deadline:
                status, s = request(server, "GET", f"/api/train/state?since={len(losses)}&weights_after=1000000")
                assert status == 200 and s["since"] == len(losses)
                losses += s["batch_losses"]
                if k % 2:
                    status, d = request(server, "POST", "/api/draw", ink)
                    assert status == 200 and abs(sum(d["probs"]) - 1) < 1e-9
                if s["status"] == "finished" and len(losses) == s["n_batches"]:
                    results[k] = losses
                    return
            failures.append(f"client {k} timed out")
        except Exception as e:       # noqa: BLE001 — reported below
            failures.append(f"client {k}: {e!r}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(960)
    assert not failures
    full = server.training.state()["batch_losses"]
    assert len(full) == 4 * 313
    assert all(r == full for r in results)


def test_ctrl_c_stops_the_server_within_a_second_and_says_what_was_saved(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "native.playground", "--no-browser", "--port", "0"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        assert "http://127.0.0.1:" in line
        time.sleep(0.3)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        p.wait(timeout=5)
        assert time.monotonic() - t0 < 1.0
        err = p.stderr.read()
        assert p.returncode == 0 and "nothing was saved" in err and "Traceback" not in err
    finally:
        if p.poll() is None:
            p.kill()


def test_binding_another_host_warns(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "native.playground", "--no-browser", "--port", "0",
                          "--host", "0.0.0.0"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert "http://127.0.0.1:" in p.stdout.readline()
        p.send_signal(signal.SIGINT)
        p.wait(timeout=5)
        assert "anyone who can reach this address" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()


def test_a_run_reset_while_loading_never_writes_into_the_next_run(tmp_path, mnist):
    """Reset during a slow first MNIST load, start again: only the second run's batches appear."""
    release = threading.Event()
    calls = []

    def slow_load():
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)          # the first run is still "loading" when it is reset
        return mnist

    with running_server(tmp_path, load_data=slow_load) as srv:
        assert post(srv, "/api/train/start", {"epochs": 1, "limit": 3000, "seed": 1})[0] == 200
        srv.training.reset(timeout=0.1)
        assert post(srv, "/api/train/start", {"epochs": 1, "limit": 3000, "seed": 2})[0] == 200
        wait_for(srv, {"finished"})
        release.set()
        time.sleep(1.0)               # the first run wakes up, sees it was reset, and leaves
        s = srv.training.state()
        assert s["status"] == "finished" and s["settings"]["seed"] == 2 and s["n_batches"] == 47


def test_a_late_tab_catches_up_in_bounded_replies(server, monkeypatch):
    from native.playground import training
    monkeypatch.setattr(training, "MAX_LOSSES_PER_REPLY", 100)
    post(server, "/api/train/start", {"epochs": 2, "limit": 6000})
    wait_for(server, {"finished"})
    losses, replies = [], 0
    while True:
        _, s = request(server, "GET", f"/api/train/state?since={len(losses)}")
        assert len(s["batch_losses"]) <= 100
        losses += s["batch_losses"]
        replies += 1
        if len(losses) == s["n_batches"]:
            break
        assert replies < 10
    assert replies == 2 and losses == server.training.state(0)["batch_losses"][:100] + \
        server.training.state(100)["batch_losses"]


def test_a_diverging_run_says_so_and_the_draw_view_keeps_a_finite_network(server):
    """lr 5 (inside the trainer's range) blows up: the state stays 200 with one line saying the
    run diverged, every loss the page gets is finite, and the draw view still answers."""
    assert post(server, "/api/train/start", {"lr": 5, "limit": 2000, "epochs": 1, "batch_size": 10})[0] == 200
    wait_for(server, {"error", "finished"})
    status, s = request(server, "GET", "/api/train/state")        # what the page gets, as JSON
    assert status == 200, s
    assert s["status"] == "error" and "diverged" in s["error"] and "smaller lr" in s["error"], s
    assert all(np.isfinite(s["batch_losses"]))
    ink = {"width": 28, "height": 28, "pixels": [0] * 300 + [200] * 100 + [0] * 384, "label": 3}
    status, d = post(server, "/api/draw", ink)
    assert status == 200 and np.isfinite(d["probs"]).all() and abs(sum(d["probs"]) - 1) < 1e-6
    assert post(server, "/api/train/reset", {})[0] == 200
    assert post(server, "/api/draw", ink)[0] == 200


def test_a_name_with_a_trailing_newline_is_refused(server, tmp_path):
    post(server, "/api/train/start", {"epochs": 1, "limit": 2000})
    wait_for(server, {"finished"})
    for name in ("trail\n", "a.npz\n", "\nb"):
        status, reply = post(server, "/api/train/save", {"name": name})
        assert status == 400 and "plain file name" in reply["error"], (name, reply)
    assert list(tmp_path.iterdir()) == []


def test_two_saves_to_one_new_name_at_once_give_one_save_and_one_refusal(server, tmp_path):
    post(server, "/api/train/start", {"epochs": 1, "limit": 2000})
    wait_for(server, {"finished"})
    for attempt in range(6):
        results, go = [], threading.Barrier(2)

        def save():
            go.wait()
            results.append(post(server, "/api/train/save", {"name": f"race{attempt}"})[0])
        threads = [threading.Thread(target=save) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(results) == [200, 409], results
