"""What a training run does to files: resume saves back, a file the user did not name for
writing is never replaced, one run per target, every way out is one line that says what
is saved (docs/reliability.md lists these promises)."""
import errno
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from native import checkpoint as ckpt_mod
from native import trainer
from native.atomic import TargetBusy, TargetLock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--limit", "500", "--no-progress"]


def run(argv, capsys):
    code = trainer.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def last_line(out):
    return out.strip().splitlines()[-1]


def sigint_at_default():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_the_projects_first_import(proc, timeout=60.0):
    """Wait until the child runs the project's code: its Python catches SIGINT (SigCgt in
    /proc/PID/status) and has loaded NumPy's core (/proc/PID/maps), which `import native`
    does first — nothing in Python's own start-up imports NumPy. Before that, a Ctrl-C ends
    Python's own start-up, not the project's (silently, or with CPython's two-line "Fatal
    Python error"), and how long that start-up takes depends on the machine: ~30 ms on a
    quiet x86-64, seconds under emulation. Without /proc, a fixed 0.1 s."""
    if not os.path.exists(f"/proc/{proc.pid}/status"):
        time.sleep(0.1)
        return
    bit = 1 << (signal.SIGINT - 1)
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                caught = next((int(line.split()[1], 16) for line in f if line.startswith("SigCgt:")), 0)
            with open(f"/proc/{proc.pid}/maps") as f:
                numpy_in = "_multiarray_umath" in f.read()
        except OSError:
            return
        if caught & bit and numpy_in:
            return
        time.sleep(0.001)


# --- resume keeps what it trains (issue 20, point 1) ---------------------------------------

def test_resume_saves_its_epochs_back_into_the_file_it_resumed(mnist, capsys, tmp_path):
    path = str(tmp_path / "run.npz")
    assert run(["--epochs", "2", "--save", path] + QUICK, capsys)[0] == 0
    code, out, _ = run(["--resume", path, "--epochs", "3"] + QUICK, capsys)
    assert code == 0
    c = ckpt_mod.load(path)
    assert c.epoch == 3 and len(c.history["epoch_loss"]) == 3
    assert last_line(out).endswith(f"saved in {path} (epoch 3)")


def test_resume_with_save_elsewhere_leaves_the_resumed_file_as_it_was(mnist, capsys, tmp_path):
    a, b = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
    run(["--epochs", "1", "--save", a] + QUICK, capsys)
    before = open(a, "rb").read()
    code, out, _ = run(["--resume", a, "--epochs", "2", "--save", b] + QUICK, capsys)
    assert code == 0 and open(a, "rb").read() == before
    assert ckpt_mod.load(b).epoch == 2 and last_line(out).endswith(f"saved in {b} (epoch 2)")


def test_the_last_line_says_where_the_run_is_saved_or_that_nothing_was(mnist, capsys, tmp_path):
    code, out, _ = run(["--epochs", "1"] + QUICK, capsys)
    assert code == 0 and "nothing was saved" in last_line(out)
    path = str(tmp_path / "r.npz")
    run(["--epochs", "1", "--save", path] + QUICK, capsys)
    code, out, _ = run(["--resume", path, "--epochs", "1"] + QUICK, capsys)
    assert code == 0 and "nothing was saved" in last_line(out) and "nothing to do" in last_line(out)


def test_the_refusal_shows_a_command_that_continues_the_run_as_printed(mnist, capsys, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(["--epochs", "1", "--save", "run.npz"] + QUICK, capsys)
    with pytest.raises(SystemExit) as e:
        trainer.main(["--epochs", "1", "--save", "run.npz"] + QUICK)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "already exists" in err
    cmd = re.search(r"`([^`]+)`", err).group(1)
    assert cmd.startswith("python -m native.train --resume run.npz --epochs ")
    code, out, _ = run(shlex.split(cmd)[3:] + QUICK, capsys)
    assert code == 0 and ckpt_mod.load("run.npz").epoch == int(cmd.split()[-1])


# --- a file the user did not name for writing is never replaced (issue 21, point 1) ---------

def test_results_naming_the_checkpoint_is_refused_and_the_checkpoint_kept(mnist, capsys, tmp_path):
    path = str(tmp_path / "x.npz")
    run(["--epochs", "1", "--save", path] + QUICK, capsys)
    before = open(path, "rb").read()
    for argv in (["--resume", path, "--epochs", "2", "--results", path],
                 ["--save", path, "--overwrite", "--results", path],
                 ["--resume", path, "--epochs", "2", "--save", str(tmp_path / "y.npz"),
                  "--results", path]):
        with pytest.raises(SystemExit) as e:
            trainer.main(argv + QUICK)
        assert e.value.code == 2 and "--results" in capsys.readouterr().err
        assert open(path, "rb").read() == before


def test_results_never_replace_another_runs_checkpoint_or_a_users_file(mnist, capsys, tmp_path):
    other = tmp_path / "other.npz"
    run(["--epochs", "1", "--save", str(other)] + QUICK, capsys)
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}\n')
    for target in (other, notes):
        before = target.read_bytes()
        with pytest.raises(SystemExit) as e:
            trainer.main(["--epochs", "1", "--results", str(target)] + QUICK)
        assert e.value.code == 2 and "not a results file" in capsys.readouterr().err
        assert target.read_bytes() == before
    code, _, _ = run(["--epochs", "1", "--results", str(notes), "--overwrite"] + QUICK, capsys)
    assert code == 0 and json.loads(notes.read_text())["epochs_done"] == 1


def test_results_replace_an_earlier_results_file(mnist, capsys, tmp_path):
    res = tmp_path / "r.json"
    run(["--epochs", "1", "--results", str(res)] + QUICK, capsys)
    code, _, _ = run(["--epochs", "2", "--results", str(res)] + QUICK, capsys)
    assert code == 0 and json.loads(res.read_text())["epochs_done"] == 2


def test_a_failing_results_write_names_the_results_file_and_the_run_goes_on(mnist, capsys, tmp_path,
                                                                         monkeypatch):
    res, path = str(tmp_path / "r.json"), str(tmp_path / "c.npz")

    def fail(p, obj):
        raise OSError(errno.EACCES, "Permission denied", p)
    monkeypatch.setattr(trainer, "write_json_atomically", fail)
    code, out, err = run(["--epochs", "2", "--save", path, "--results", res] + QUICK, capsys)
    assert code == 0 and f"could not write --results {res}" in err and path not in err
    assert err.count("could not write") == 1
    assert ckpt_mod.load(path).epoch == 2 and "epoch  2/2" in out


# --- two processes, one target (issue 21, point 2) ------------------------------------------

def test_a_target_lock_is_exclusive_and_released(tmp_path):
    target = tmp_path / "a.npz"
    with TargetLock(target):
        with pytest.raises(TargetBusy, match=f"process {os.getpid()}"):
            TargetLock(target).acquire()
    assert not os.path.exists(str(target) + ".lock")
    with TargetLock(target):       # free again
        pass


def test_a_lock_of_a_killed_run_does_not_block_the_next(tmp_path):
    target = tmp_path / "a.npz"
    code = ("import sys, time; sys.path.insert(0, %r); from native.atomic import TargetLock; "
            "TargetLock(%r).acquire(); print('held', flush=True); time.sleep(60)" % (ROOT, str(target)))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(TargetBusy):
        TargetLock(target).acquire()
    proc.kill()
    proc.wait()
    with TargetLock(target):
        pass


def test_a_second_run_on_a_running_runs_target_is_refused_even_with_overwrite(mnist, tmp_path):
    path = tmp_path / "a.npz"
    first = subprocess.Popen([sys.executable, "-u", "-m", "native.train", "--epochs", "500",
                              "--limit", "20000", "--no-progress", "--save", str(path)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=sigint_at_default)
    try:
        for line in first.stdout:
            if line.startswith("epoch  1/"):
                break
        for extra in ([], ["--overwrite"]):
            second = subprocess.run([sys.executable, "-m", "native.train", "--epochs", "1",
                                     "--limit", "500", "--save", str(path)] + extra, cwd=ROOT,
                                    capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second.stderr
            assert f"another run (process {first.pid}) is writing" in second.stderr
        resumed = subprocess.run([sys.executable, "-m", "native.train", "--resume", str(path),
                                  "--epochs", "600"], cwd=ROOT, capture_output=True, text=True,
                                 timeout=120)
        assert resumed.returncode == 2 and "another run" in resumed.stderr
    finally:
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 130 and "holds epoch" in err
    assert sorted(os.listdir(tmp_path)) == ["a.npz"], "the lock file goes with the run"


# --- every way out is one line (issue 21, point 6) ------------------------------------------

def test_a_closed_stdout_neither_tracebacks_nor_stops_a_run_that_saves(mnist, tmp_path):
    path = tmp_path / "bp.npz"
    proc = subprocess.Popen([sys.executable, "-m", "native.train", "--epochs", "3", "--limit", "2000",
                             "--save", str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()          # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=300)
    assert "Traceback" not in err and "could not write" not in err, err
    assert proc.returncode == 0
    assert ckpt_mod.load(path).epoch == 3


@pytest.mark.parametrize("moment", ["start_of_save", "end_of_save", "twice", "results", "data_load"])
def test_ctrl_c_at_any_moment_names_the_epoch_the_file_really_holds(mnist, capsys, tmp_path,
                                                                    monkeypatch, moment):
    """A real SIGINT (not a raised exception) at several moments of a run, including
    during the save itself and a second one during the save that Ctrl-C triggers."""
    path, res = str(tmp_path / "c.npz"), str(tmp_path / "r.json")
    real_save, real_json, calls = ckpt_mod.save, trainer.write_json_atomically, []
    sigint = lambda: os.kill(os.getpid(), signal.SIGINT)

    def save(p, c):
        calls.append(c.epoch)
        if moment == "start_of_save" and c.epoch == 2:
            sigint()
        real_save(p, c)
        if (moment == "end_of_save" and c.epoch == 2) or (moment == "twice" and len(calls) <= 3
                                                          and c.epoch >= 2):
            sigint()

    def write_json(p, obj):
        if moment == "results" and obj["epochs_done"] == 2:
            sigint()
        real_json(p, obj)
    monkeypatch.setattr(ckpt_mod, "save", save)
    monkeypatch.setattr(trainer, "write_json_atomically", write_json)
    if moment == "data_load":
        from native import data
        monkeypatch.setattr(data, "load", lambda *a, **k: sigint() or time.sleep(5))
    monkeypatch.setattr(signal, "getsignal", signal.getsignal)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, out, err = run(["--epochs", "5", "--save", path, "--results", res] + QUICK, capsys)
    finally:
        signal.signal(signal.SIGINT, old)
    assert code == 130 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    if moment == "data_load":
        assert "nothing was saved" in err and not os.path.exists(path)
        return
    held = ckpt_mod.load(path).epoch
    assert held >= 2 and f"holds epoch {held}" in err, (held, err)
    assert sorted(os.listdir(tmp_path)) == ["c.npz", "r.json"]


# --- flags that are never silently ignored (issue 21, point 8) -------------------------------

@pytest.mark.parametrize("flags,message", [
    (["--batch-size", "7"], "is for batch_size 64"),
    (["--dataset", "fashion"], "is for dataset mnist"),
])
def test_resume_refuses_a_flag_that_would_change_the_runs_meaning(mnist, capsys, tmp_path, flags,
                                                                  message):
    path = str(tmp_path / "r.npz")
    run(["--epochs", "1", "--save", path] + QUICK, capsys)
    with pytest.raises(SystemExit) as e:
        trainer.main(["--resume", path, "--epochs", "2"] + flags)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_offline_with_an_empty_home_creates_no_folder_at_the_root(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "BACKPROP_DATA_DIR")}
    env.update(HOME="", PYTHONPATH=ROOT)
    existed = os.path.exists("/.cache")
    r = subprocess.run([sys.executable, "-m", "native.train", "--offline", "--epochs", "1"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "home" in r.stderr.lower() and "XDG_CACHE_HOME" in r.stderr
    assert os.path.exists("/.cache") == existed


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4, 0.8, 1.5, 3.0])
def test_ctrl_c_twice_at_any_time_from_start_up_on_is_one_line(mnist, tmp_path, delay):
    """Start-up (NumPy's import turns a KeyboardInterrupt into an ImportError), data loading,
    the first epoch, a save: two SIGINTs 10 ms apart, one line whatever they hit. The delay
    counts from the project's first import (see wait_for_the_projects_first_import): Python's
    own start-up before it is not promised."""
    path = tmp_path / "c.npz"
    proc = subprocess.Popen([sys.executable, "-m", "native.train", "--epochs", "3", "--limit", "3000",
                             "--save", str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_at_default)
    wait_for_the_projects_first_import(proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    if proc.returncode == 130 and path.exists():
        assert f"holds epoch {ckpt_mod.load(path).epoch}" in err
    else:
        assert proc.returncode in (0, 130), err


def test_evaluate_into_a_closed_pipe_is_no_traceback(mnist, capsys, tmp_path):
    path = tmp_path / "e.npz"
    run(["--epochs", "1", "--save", str(path)] + QUICK, capsys)
    proc = subprocess.Popen([sys.executable, "-m", "native.evaluate", str(path), "--show", "20"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()          # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err, err


def test_resuming_a_file_in_a_read_only_place_says_how_to_save_elsewhere(mnist, capsys, tmp_path):
    """/proc is read-only even for root: a checkpoint there cannot take the new epochs."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    path = str(tmp_path / "r.npz")
    run(["--epochs", "1", "--save", path] + QUICK, capsys)
    # a read-only target: the folder check fails exactly as for a read-only mount
    real = ckpt_mod.check_target
    with pytest.MonkeyPatch.context() as m:
        m.setattr(ckpt_mod, "check_target",
                  lambda p, **k: real("/proc/backprop-ch5-r.npz", **k) if p == path else real(p, **k))
        with pytest.raises(SystemExit) as e:
            trainer.main(["--resume", path, "--epochs", "2"] + QUICK)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--resume" in err and "--save OTHER.npz" in err
    code, out, _ = run(["--resume", path, "--epochs", "2", "--save", str(tmp_path / "o.npz")] + QUICK,
                       capsys)
    assert code == 0 and ckpt_mod.load(path).epoch == 1


def test_a_results_folder_that_vanishes_mid_run_is_a_warning_not_a_stop(mnist, capsys, tmp_path,
                                                                      monkeypatch):
    """The same as the test above with a real failure: the results file's folder is
    removed after epoch 1, so the next atomic write really fails (ENOENT)."""
    import shutil
    folder = tmp_path / "res"
    folder.mkdir()
    res, path = str(folder / "r.json"), str(tmp_path / "c.npz")
    real = trainer.results

    def results(config, history, done, argv):
        if done == 2:
            shutil.rmtree(folder)
        return real(config, history, done, argv)
    monkeypatch.setattr(trainer, "results", results)
    code, out, err = run(["--epochs", "3", "--save", path, "--results", res] + QUICK, capsys)
    assert code == 0 and f"could not write --results {res}" in err and err.count("\n") == 1, err
    assert ckpt_mod.load(path).epoch == 3 and "epoch  3/3" in out


# --- written files get the permissions an ordinary write gives (a review) -------------------

@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_checkpoints_and_results_get_the_umasks_bits_not_mkstemps_0600(mnist, capsys, tmp_path):
    """mkstemp makes 0600 files: a checkpoint renamed from one would be hidden from everyone
    else who can read the folder. New files get 0666 & ~umask; a replaced file keeps its bits."""
    old = os.umask(0o022)
    try:
        save, results = tmp_path / "a.npz", tmp_path / "a.json"
        code, out, err = run(["--epochs", "1", *QUICK, "--save", str(save), "--results", str(results)], capsys)
        assert code == 0, err
        assert oct(os.stat(save).st_mode & 0o777) == oct(0o644)
        assert oct(os.stat(results).st_mode & 0o777) == oct(0o644)
        os.chmod(save, 0o640)
        code, out, err = run(["--resume", str(save), "--epochs", "2", "--no-progress"], capsys)
        assert code == 0, err
        assert oct(os.stat(save).st_mode & 0o777) == oct(0o640)
    finally:
        os.umask(old)
