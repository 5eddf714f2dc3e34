"""Run ``python -m native.train`` as a user would and read its last line.

Shared by accuracy_seeds.py and beyond.py. The trainer is driven through its
command line only (its last line is a stable contract:
``done: N epochs in T s of training; test accuracy X.XX%...``), so what these
scripts report is exactly what the printed command gives.
"""
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DONE = re.compile(r"^done: (\d+) epochs? in ([0-9.]+) s of training; test accuracy ([0-9.]+)%")


@dataclass
class Run:
    command: str        # what to type to get the same run
    epochs: int
    seconds: float      # training seconds, as the trainer counts them
    accuracy: float     # test accuracy after the last epoch, in %


class TrainError(RuntimeError):
    pass


def command_text(args):
    return "python -m native.train" + "".join(" " + shlex.quote(a) for a in args)


def train(args, timeout=3600):
    """One run of ``python -m native.train *args``; raises TrainError, with the
    trainer's own words, if it fails or its last line is not the expected one."""
    cmd = [sys.executable, "-m", "native.train", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise TrainError(f"{command_text(args)}: no result after {timeout} s") from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise TrainError(f"{command_text(args)} exited with {proc.returncode}: {detail}")
    m = DONE.match(lines[-1])
    if not m:
        raise TrainError(f"{command_text(args)}: unexpected last line {lines[-1]!r}")
    return Run(command_text(args), int(m.group(1)), float(m.group(2)), float(m.group(3)))
