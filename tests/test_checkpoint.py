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
    """A history a run of make_ckpt's settings could have written (limit 500: test
    accuracies are counts of 500, each epoch's loss the mean of its batches)."""
    rng = np.random.default_rng(0)
    batch_loss = rng.random(epochs * batches) + 0.1
    return {"batch_loss": batch_loss,
            "epoch_batches": np.full(epochs, batches, np.int64),
            "epoch_loss": batch_loss.reshape(epochs, batches).mean(axis=1),
            "test_accuracy": rng.integers(0, 501, epochs) / 500,
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
    ("epoch", -1, "epoch must be an integer in [0, 10000]"),
    ("epoch", "3", "epoch must be an integer in [0, 10000]"),
    ("epoch", True, "epoch must be an integer in [0, 10000]"),
    ("seed", -5, "seed must be an integer in [0, "),
    ("lr", -0.1, "lr must be in (0, 10000.0]"),
    ("lr", "fast", "lr must be in (0, 10000.0]"),
    ("sizes", [784, 10 ** 12, 10], "sizes must be an integer in [1, 2147483647]"),
    ("sizes", "784 8 10", "do not describe a network"),
    ("config", {"dataset": "imagenet"}, "config dataset must be one of"),
    ("config", {"decay": 1.5}, "config decay must be in"),
    ("config", {"batch_size": 0}, "config batch_size must be an integer in [1, "),
    ("config", {"limit": -3}, "config limit must be an integer in [1, "),
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


# --- every checked field: wrong type, too small, too large -------------------------------

def rewrite(src, dst, meta=None, config=None, arrays=None):
    """A copy of checkpoint `src` with some metadata, config entries or arrays replaced
    (history_lengths follow the replaced history arrays, as a careful forger's would)."""
    with zipfile.ZipFile(src) as z:
        members = {n[:-4]: np.load(io.BytesIO(z.read(n))) for n in z.namelist()}
    m = json.loads(members.pop("meta").tobytes())
    m.update(meta or {})
    m["config"].update(config or {})
    for k, v in (arrays or {}).items():
        members[k] = v
        if k.startswith("history_"):
            m["history_lengths"][k[len("history_"):]] = int(np.shape(v)[0])
    members["meta"] = np.frombuffer(json.dumps(m).encode(), np.uint8)
    np.savez(dst, **members)
    return dst


BIG = 2 ** 63 - 1
FIELDS = [  # (where, key, value): each refused in one line naming the key
    # meta: wrong type, too small, too large
    ("meta", "version", True), ("meta", "version", 0), ("meta", "version", 3),
    ("meta", "epoch", 3.0), ("meta", "epoch", -1), ("meta", "epoch", 10 ** 6), ("meta", "epoch", 6),
    ("meta", "seed", "4"), ("meta", "seed", -1), ("meta", "seed", 2 ** 63),
    ("meta", "lr", "0.1"), ("meta", "lr", 0.0), ("meta", "lr", 1e308), ("meta", "lr", True),
    ("meta", "dtype", 32), ("meta", "dtype", "float16"),
    ("meta", "sizes", [784.0, 8, 10]), ("meta", "sizes", [784]), ("meta", "sizes", [784, 8, 10] * 30),
    ("meta", "sizes", [784, 0, 10]), ("meta", "sizes", [784, 2 ** 40, 10]),
    # config
    ("config", "epochs", "5"), ("config", "epochs", 0), ("config", "epochs", 10 ** 6),
    ("config", "epochs", 2),        # fewer than the 3 epochs the file holds
    ("config", "batch_size", 64.0), ("config", "batch_size", 0), ("config", "batch_size", 10 ** 10),
    ("config", "batch_size", True),
    ("config", "decay", "0.95"), ("config", "decay", 0), ("config", "decay", 1.01),
    ("config", "lr0", None), ("config", "lr0", -1), ("config", "lr0", 1e9),
    ("config", "limit", 500.0), ("config", "limit", 0), ("config", "limit", 10 ** 10),
    ("config", "seed", 5), ("config", "seed", True),
    ("config", "history_start", "0"), ("config", "history_start", -1), ("config", "history_start", 1),
    ("config", "dataset", 1), ("config", "dataset", ""), ("config", "first_layer", None),
    ("config", "engine", "numpy"), ("config", "sizes", [784, 8.0, 10]), ("config", "dtype", "float64"),
]


@pytest.mark.parametrize("where,key,value", FIELDS, ids=[f"{w}-{k}-{v!r}"[:40] for w, k, v in FIELDS])
def test_every_checked_field_is_refused_when_of_wrong_type_too_small_or_too_large(tmp_path, where, key,
                                                                                  value):
    good = tmp_path / "good.npz"
    ckpt_mod.save(good, make_ckpt())
    ckpt_mod.load(good)                                   # the unchanged file loads
    bad = rewrite(good, tmp_path / "bad.npz", **{where: {key: value}})
    with pytest.raises(CheckpointError) as e:
        ckpt_mod.load(bad)
    msg = str(e.value)
    assert "\n" not in msg and "bad.npz" in msg
    assert key in msg or (key == "epochs" and "epoch" in msg), msg


def _history_damages():
    h = history()
    hl = lambda **kw: {f"history_{k}": v for k, v in kw.items()}
    eb = h["epoch_batches"]
    return {
        # the review's example: int64 counts that wrap to the batch_loss length
        "wrapping_counts": hl(epoch_batches=np.array([BIG, BIG, 14], np.int64)),
        "counts_wrong_type": hl(epoch_batches=eb.astype(np.float64)),
        "counts_zero": hl(epoch_batches=np.array([4, 4, 0], np.int64)),
        "counts_above_the_data": hl(epoch_batches=np.array([9, 9, 9], np.int64),
                                    batch_loss=np.full(27, 0.5)),
        "batch_loss_too_long": hl(batch_loss=np.append(h["batch_loss"], 0.5)),
        "batch_loss_too_short": hl(batch_loss=h["batch_loss"][:-1]),
        "batch_loss_wrong_type": hl(batch_loss=h["batch_loss"].astype(np.float32)),
        "batch_loss_negative": hl(batch_loss=-h["batch_loss"], epoch_loss=-h["epoch_loss"]),
        "batch_loss_1e308": hl(batch_loss=np.full(12, 1e308), epoch_loss=np.full(3, 1e308)),
        "batch_loss_nan": hl(batch_loss=np.full(12, np.nan)),
        "epoch_loss_not_the_mean": hl(epoch_loss=h["epoch_loss"] + 0.01),
        "epoch_loss_too_long": hl(epoch_loss=np.append(h["epoch_loss"], 1.0)),
        "accuracy_above_1": hl(test_accuracy=np.array([0.5, 0.5, 1.002])),
        "accuracy_negative": hl(test_accuracy=np.array([0.5, 0.5, -0.002])),
        "accuracy_not_a_count": hl(test_accuracy=np.array([0.5, 0.5, 0.5001])),
        "accuracy_wrong_type": hl(test_accuracy=np.array([1, 0, 1], np.int64)),
        "lr_zero": hl(lr=np.array([0.1, 0.0, 0.1])),
        "lr_too_large": hl(lr=np.array([0.1, 1e300, 0.1])),
        "seconds_negative": hl(seconds=np.array([1.0, -1.0, 1.0])),
        "seconds_too_large": hl(seconds=np.array([1.0, 1e300, 1.0])),
        "seconds_too_short": hl(seconds=np.array([1.0, 1.0])),
    }


@pytest.mark.parametrize("damage", list(_history_damages()))
def test_every_history_field_is_bounded_by_what_the_run_could_produce(tmp_path, damage):
    good = tmp_path / "good.npz"
    ckpt_mod.save(good, make_ckpt())
    bad = rewrite(good, tmp_path / "bad.npz", arrays=_history_damages()[damage])
    with pytest.raises(CheckpointError, match="history") as e:
        ckpt_mod.load(bad)
    assert "\n" not in str(e.value)


def test_a_missing_checkpoint_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as e:
        ckpt_mod.load("run.npz")
    assert "no such file" in str(e.value) and str(tmp_path / "run.npz") in str(e.value)


def test_save_target_in_a_missing_folder_is_refused_and_no_folder_is_made(tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "x.npz"
    msg = ckpt_mod.check_target(str(target))
    assert msg and "does not exist" in msg and "mkdir" in msg
    assert not (tmp_path / "nonexistent").exists()
