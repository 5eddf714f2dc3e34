"""Checkpoints: the run's history (contract C1), version-1 files, values checked like the
command line, no inflation past the expected size, the save target checked before training."""
import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

import native
from native import checkpoint as ckpt_mod
from native.checkpoint import Checkpoint, CheckpointError


def history(epochs=3, batches=4):
    rng = np.random.default_rng(0)
    return {"batch_loss": rng.random(epochs * batches) + 0.1,
            "epoch_batches": np.full(epochs, batches, np.int64),
            "epoch_loss": rng.random(epochs),
            "test_accuracy": rng.random(epochs),
            "lr": 0.1 * 0.95 ** np.arange(epochs),
            "seconds": rng.random(epochs)}


def make_ckpt(dtype=np.float32, epoch=3, hist=None):
    W, B = native.init_network([784, 8, 10], seed=4, dtype=dtype)
    return Checkpoint(W, B, epoch=epoch, lr=0.0857, seed=4,
                      config={"sizes": [784, 8, 10], "epochs": 5, "batch_size": 64, "decay": 0.95,
                              "seed": 4, "dtype": np.dtype(dtype).name, "dataset": "mnist",
                              "first_layer": "dense", "limit": 500, "engine": "native", "lr0": 0.1},
                      history=history(epoch) if hist is None else hist)


def test_history_round_trips_with_the_contracts_names_and_dtypes(tmp_path):
    c = make_ckpt()
    ckpt_mod.save(tmp_path / "h.npz", c)
    back = ckpt_mod.load(tmp_path / "h.npz")
    assert set(back.history) == {"batch_loss", "epoch_batches", "epoch_loss", "test_accuracy", "lr", "seconds"}
    for k, v in back.history.items():
        assert v.ndim == 1 and v.dtype == (np.int64 if k == "epoch_batches" else np.float64)
        assert np.array_equal(v, c.history[k])
    assert back.config == c.config


def test_layers_are_stored_as_the_chapter_numbers_them(tmp_path):
    ckpt_mod.save(tmp_path / "k.npz", make_ckpt())
    names = zipfile.ZipFile(tmp_path / "k.npz").namelist()
    assert {"W1.npy", "b1.npy", "W2.npy", "b2.npy"} <= set(names)
    assert "w0.npy" not in names


def write_v1(path, W, B, meta_extra=None):
    """A checkpoint as today's main (version 1) writes it: w0/b0 keys, no history."""
    meta = {"format": ckpt_mod.FORMAT, "version": 1, "sizes": [784, 8, 10], "dtype": "float32",
            "epoch": 2, "lr": 0.09, "seed": 1, "config": {"epochs": 10, "batch_size": 64,
                                                          "decay": 0.95, "dataset": "mnist", "lr0": 0.1}}
    meta.update(meta_extra or {})
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i, (w, b) in enumerate(zip(W, B)):
        arrays[f"w{i}"], arrays[f"b{i}"] = w, b
    np.savez(path, **arrays)


def test_a_version_1_checkpoint_still_loads_with_an_empty_history(tmp_path):
    W, B = native.init_network([784, 8, 10], seed=1, dtype=np.float32)
    write_v1(tmp_path / "v1.npz", W, B)
    c = ckpt_mod.load(tmp_path / "v1.npz")
    assert c.epoch == 2 and c.sizes == [784, 8, 10]
    assert all(np.array_equal(a, b) for a, b in zip(c.weights + c.biases, W + B))
    assert all(v.size == 0 for v in c.history.values())
    assert c.history["epoch_batches"].dtype == np.int64


@pytest.mark.parametrize("field,value,message", [
    ("epoch", -1, "epoch must be an integer ≥ 0"),
    ("epoch", "3", "epoch must be an integer ≥ 0"),
    ("epoch", True, "epoch must be an integer ≥ 0"),
    ("seed", -5, "seed must be an integer ≥ 0"),
    ("lr", -0.1, "lr must be a finite number > 0"),
    ("lr", "fast", "lr must be a finite number > 0"),
    ("sizes", [784, 10 ** 12, 10], "expected float32 (784, 1000000000000)"),
    ("sizes", "784 8 10", "do not describe a network"),
    ("config", {"dataset": "imagenet"}, "config dataset must be one of"),
    ("config", {"decay": 1.5}, "config decay must be in"),
    ("config", {"batch_size": 0}, "config batch_size must be an integer ≥ 1"),
    ("config", {"limit": -3}, "config limit must be an integer ≥ 1"),
    ("config", {"first_layer": "banana"}, "config first_layer must be"),
    ("config", [1, 2], "config must be a JSON object"),
])
def test_crafted_metadata_is_refused_with_one_clear_error(tmp_path, field, value, message):
    W, B = native.init_network([784, 8, 10], seed=1, dtype=np.float32)
    write_v1(tmp_path / "bad.npz", W, B, {field: value})
    with pytest.raises(CheckpointError, match="bad.npz") as e:
        ckpt_mod.load(tmp_path / "bad.npz")
    assert message in str(e.value)


@pytest.mark.parametrize("damage", ["short_batch_loss", "more_epochs_than_done", "accuracy_above_1",
                                    "negative_lr"])
def test_inconsistent_history_is_refused(tmp_path, damage):
    h = history()
    if damage == "short_batch_loss":
        h["batch_loss"] = h["batch_loss"][:-1]
    elif damage == "more_epochs_than_done":
        h = history(epochs=4)
    elif damage == "accuracy_above_1":
        h["test_accuracy"][0] = 97.0
    else:
        h["lr"][1] = -0.1
    ckpt_mod.save(tmp_path / "h.npz", make_ckpt(hist=h))
    with pytest.raises(CheckpointError, match="history"):
        ckpt_mod.load(tmp_path / "h.npz")


def test_a_small_crafted_checkpoint_is_refused_before_it_inflates(tmp_path):
    """2 MB of zeros compress to ~2 KB: declared in a member the metadata says holds
    8×10 floats, it must be refused from its declared size, not after inflating."""
    W, B = native.init_network([784, 8, 10], seed=1, dtype=np.float32)
    write_v1(tmp_path / "ok.npz", W, B)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(tmp_path / "ok.npz") as src, \
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            if name == "w1.npy":
                buf = io.BytesIO()
                np.save(buf, np.zeros((8, 10 * 1024 * 64), np.float32))
                dst.writestr(name, buf.getvalue())
            else:
                dst.writestr(name, src.read(name))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    with pytest.raises(CheckpointError, match="declares"):
        ckpt_mod.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000, f"{peak:,} bytes allocated while refusing"


def test_a_compressed_member_may_not_promise_more_than_a_plausible_ratio(tmp_path):
    ckpt_mod.save(tmp_path / "ok.npz", make_ckpt())
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(tmp_path / "ok.npz") as src, \
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    assert ckpt_mod.load(path).epoch == 3            # honest compression is fine
    c = make_ckpt()
    c.weights = [np.zeros_like(w) for w in c.weights]
    ckpt_mod.save(tmp_path / "zeros.npz", c)
    with zipfile.ZipFile(tmp_path / "zeros.npz") as src, \
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    with pytest.raises(CheckpointError, match="inflate"):
        ckpt_mod.load(path)


# --- the save target ----------------------------------------------------------------------

def special_file(tmp_path):
    """A FIFO in tmp_path: a special file that a broken version may replace harmlessly.
    (Never /dev/null in a test: today's main, run as root, replaces it with a regular file.)"""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


def test_save_target_refuses_special_files_folders_and_an_existing_run(tmp_path):
    assert "special file" in ckpt_mod.check_target(special_file(tmp_path), overwrite=True)
    assert "is a folder" in ckpt_mod.check_target(str(tmp_path), overwrite=True)
    existing = tmp_path / "run.npz"
    existing.write_bytes(b"x")
    assert "already exists" in ckpt_mod.check_target(str(existing))
    assert ckpt_mod.check_target(str(existing), overwrite=True) is None
    assert ckpt_mod.check_target(str(existing), resuming_from=str(existing)) is None
    assert ckpt_mod.check_target(str(tmp_path / "new.npz")) is None


def test_save_refuses_to_replace_a_special_file(tmp_path):
    fifo = special_file(tmp_path)
    with pytest.raises(OSError, match="not a regular file"):
        ckpt_mod.save(fifo, make_ckpt())
    assert os.path.exists(fifo) and not os.path.isfile(fifo)


def test_save_target_in_a_read_only_place_is_refused(tmp_path):
    # /proc is read-only even for root, which chmod-based tests cannot promise
    msg = ckpt_mod.check_target("/proc/backprop-ch5-test.npz")
    assert msg is not None and "cannot" in msg


def test_stale_temporary_files_of_killed_runs_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                   # its pid is now free
    target = tmp_path / "run.npz"
    stale = tmp_path / f"run.npz.{dead.pid}.abc123.tmp"
    live = tmp_path / f"run.npz.{os.getpid()}.def456.tmp"
    other = tmp_path / "notes.txt"
    for f in (stale, live, other):
        f.write_bytes(b"partial")
    assert ckpt_mod.check_target(str(target)) is None
    assert not stale.exists(), "a killed run's temporary file is cleaned up"
    assert live.exists() and other.exists(), "a running writer's file and other files are kept"
