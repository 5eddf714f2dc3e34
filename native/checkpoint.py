"""Checkpoints: the network and where training stands, in one .npz file.

Written atomically (a temporary file in the same folder, fsync, rename), so a
crash or Ctrl-C mid-write leaves the previous checkpoint intact. Read without
pickle (``allow_pickle=False``); zip CRCs catch a corrupt file, and every
array is checked against the metadata before it is trusted.
"""

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np

FORMAT = "backprop-ch5 checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, corrupt, or for another network."""


@dataclass
class Checkpoint:
    weights: list
    biases: list
    epoch: int            # epochs completed
    lr: float             # learning rate for the next epoch (already decayed)
    seed: int
    config: dict = field(default_factory=dict)   # the run's other settings

    @property
    def sizes(self):
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    @property
    def dtype(self):
        return self.weights[0].dtype


def save(path, ckpt):
    """Writes `ckpt` to `path` atomically."""
    meta = {"format": FORMAT, "version": VERSION, "sizes": ckpt.sizes, "dtype": str(ckpt.dtype),
            "epoch": int(ckpt.epoch), "lr": float(ckpt.lr), "seed": int(ckpt.seed),
            "config": ckpt.config}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for i, (w, b) in enumerate(zip(ckpt.weights, ckpt.biases)):
        arrays[f"w{i}"] = np.asarray(w)
        arrays[f"b{i}"] = np.asarray(b)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:   # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(path):
    """Reads and checks a checkpoint; raises CheckpointError saying what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as z:
            files = {name: z[name] for name in z.files}   # reading each member checks its CRC
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path}: no such file") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint ({e})") from None
    try:
        meta = json.loads(files.pop("meta").tobytes().decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, expected {FORMAT!r}")
        if meta.get("version") != VERSION:
            raise ValueError(f"version {meta.get('version')!r}, this program reads {VERSION}")
        sizes, dtype = [int(n) for n in meta["sizes"]], np.dtype(meta["dtype"])
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype is {dtype}, expected float32 or float64")
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes {sizes} do not describe a network")
        L = len(sizes) - 1
        weights = [files.pop(f"w{i}") for i in range(L)]
        biases = [files.pop(f"b{i}") for i in range(L)]
        if files:
            raise ValueError(f"unexpected arrays {sorted(files)}")
        for i in range(L):
            want_w, want_b = (sizes[i], sizes[i + 1]), (1, sizes[i + 1])
            if weights[i].shape != want_w or biases[i].shape != want_b:
                raise ValueError(f"layer {i} has shapes {weights[i].shape}/{biases[i].shape}, "
                                 f"sizes say {want_w}/{want_b}")
            if weights[i].dtype != dtype or biases[i].dtype != dtype:
                raise ValueError(f"layer {i} is {weights[i].dtype}, metadata says {dtype}")
            if not (np.isfinite(weights[i]).all() and np.isfinite(biases[i]).all()):
                raise ValueError(f"layer {i} holds NaN or inf")
        return Checkpoint(weights=[np.ascontiguousarray(w) for w in weights],
                          biases=[np.ascontiguousarray(b) for b in biases],
                          epoch=int(meta["epoch"]), lr=float(meta["lr"]), seed=int(meta["seed"]),
                          config=dict(meta.get("config", {})))
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint: {e}") from None
