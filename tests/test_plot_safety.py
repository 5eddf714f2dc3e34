"""native.plot never replaces a file it did not write, answers Ctrl-C and a closed pipe in
one line, bounds --smooth, and refuses a history that lies (issue 21, points 1, 4, 6)."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from native import checkpoint as ckpt_mod
from native.checkpoint import Checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytest.importorskip("matplotlib") if os.environ.get("BACKPROP_REQUIRE_PLOT") != "1" else None


def checkpoint(tmp_path, history=None):
    from native.network import init_network
    W, B = init_network([784, 16, 10], seed=0, dtype="float32")
    loss = np.linspace(2.3, 0.3, 30)
    h = history or {"batch_loss": loss, "epoch_batches": np.array([10, 10, 10], np.int64),
                    "epoch_loss": loss.reshape(3, 10).mean(axis=1),
                    "test_accuracy": np.array([0.9, 0.92, 0.93]), "lr": 0.1 * 0.95 ** np.arange(3),
                    "seconds": np.full(3, 0.1)}
    ck = Checkpoint(W, B, epoch=3, lr=0.0857, seed=0,
                    config={"batch_size": 64, "lr0": 0.1, "decay": 0.95, "dataset": "mnist"}, history=h)
    path = tmp_path / "run.npz"
    ckpt_mod.save(path, ck)
    return path


def plot(*args, env=None):
    e = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run([sys.executable, "-m", "native.plot", *map(str, args)], cwd=ROOT, env=e,
                          capture_output=True, text=True, timeout=300)


def test_plot_never_replaces_a_users_own_picture_but_replaces_its_own(tmp_path):
    ck, out = checkpoint(tmp_path), tmp_path / "figs"
    out.mkdir()
    mine = out / "learning_curves.png"
    mine.write_bytes(b"\x89PNG\r\n\x1a\n a picture the user drew")
    r = plot(ck, "--out", out, "--only", "curves", "weights")
    assert r.returncode == 2 and "learning_curves.png" in r.stderr and "--overwrite" in r.stderr
    assert mine.read_bytes().endswith(b"the user drew")
    assert not (out / "first_layer_weights.png").exists(), "refused before drawing anything"
    os.unlink(mine)
    assert plot(ck, "--out", out, "--only", "curves").returncode == 0
    first = mine.read_bytes()
    assert b"tEXtSoftware\x00backprop-ch5 native.plot" in first
    r = plot(ck, "--out", out, "--only", "curves")          # its own picture: replaced freely
    assert r.returncode == 0 and mine.read_bytes() == first
    mine.write_bytes(b"user's again")
    assert plot(ck, "--out", out, "--only", "curves", "--overwrite").returncode == 0
    assert mine.read_bytes() == first


def test_ctrl_c_while_drawing_is_one_line(tmp_path, capsys, monkeypatch):
    from native import plot as plot_mod
    ck = checkpoint(tmp_path)
    real = plot_mod.draw_weights

    def interrupted(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)
    monkeypatch.setattr(plot_mod, "draw_weights", interrupted)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = plot_mod.main([str(ck), "--out", str(tmp_path / "f"), "--only", "curves", "weights"])
    finally:
        signal.signal(signal.SIGINT, old)
    err = capsys.readouterr().err
    assert code == 130 and err.strip().count("\n") == 0 and "interrupted" in err
    assert sorted(os.listdir(tmp_path / "f")) == ["learning_curves.png"], "no half-written file"


def test_a_closed_stdout_is_no_traceback(tmp_path):
    ck = checkpoint(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "native.plot", str(ck), "--out", str(tmp_path / "f"),
                             "--only", "curves", "weights"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ROOT))
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_history_of_wrapping_counts_is_refused_in_one_line(tmp_path):
    """The review's file: [2**63-1, 2**63-1, 98] sums (int64, wrapping) to the batch_loss
    length; native.plot segfaulted in np.repeat."""
    good = checkpoint(tmp_path)
    import zipfile
    import io
    with zipfile.ZipFile(good) as z:
        members = {n[:-4]: np.load(io.BytesIO(z.read(n))) for n in z.namelist()}
    meta = json.loads(members["meta"].tobytes())
    members["history_epoch_batches"] = np.array([2 ** 63 - 1, 2 ** 63 - 1, 32], np.int64)
    members["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", **members)
    r = plot(tmp_path / "bad.npz", "--out", tmp_path / "f", "--only", "curves")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "history" in r.stderr


def test_without_matplotlib_the_message_names_the_running_python(tmp_path):
    block = ("import sys; sys.modules['matplotlib'] = None; from native.plot import main; "
             f"sys.exit(main([{str(tmp_path / 'x.npz')!r}]))")
    r = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert r.returncode == 2 and sys.executable in r.stderr and r.stderr.strip().count("\n") == 0


def test_the_readmes_own_command_may_replace_the_pictures_in_docs_img():
    """`python -m native.plot run.npz --out docs/img` (both READMEs) must work as printed:
    every picture there carries native.plot's mark, so the command replaces it."""
    from native import plot as plot_mod
    folder = os.path.join(ROOT, "docs", "img")
    assert plot_mod.foreign_files(folder, plot_mod.FIGURES) == []
