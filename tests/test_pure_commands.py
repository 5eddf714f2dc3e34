"""The two commands of ``pure``: ``python -m pure.gradcheck`` (exercise 3) and ``python -m pure.examples``."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(*args):
    """Run ``python -m <args>`` from the project root (works before ``pip install -e .``, too)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def table_rows(stdout):
    """{parameter: (shape, error, result)} from the gradcheck table ("pass (2 within rounding)" → "pass")."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) >= 4 and cells[3] in ("pass", "FAIL"):
            rows[cells[0]] = (cells[1], float(cells[2]), cells[3])
    return rows


def test_gradcheck_command_passes_on_4_5_3_and_prints_a_row_for_every_parameter():
    result = run("pure.gradcheck")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table_rows(result.stdout)
    assert rows.keys() == {"W1", "b1", "W2", "b2"}
    assert [rows[name][0] for name in ("W1", "b1", "W2", "b2")] == ["4×5", "1×5", "5×3", "1×3"]
    assert all(result == "pass" and error <= 1e-7 for _, error, result in rows.values())
    assert "OK: all 4 parameters" in result.stdout
    assert result.stderr == ""


def test_gradcheck_command_with_chapter_bias_fails_on_the_biases_only():
    result = run("pure.gradcheck", "--chapter-bias")
    assert result.returncode != 0
    rows = table_rows(result.stdout)
    assert {name: r for name, (_, _, r) in rows.items()} == \
        {"W1": "pass", "b1": "FAIL", "W2": "pass", "b2": "FAIL"}
    assert "FAIL: 2 of 4 parameters" in result.stdout


def test_gradcheck_command_takes_sizes_samples_and_seed():
    result = run("pure.gradcheck", "--sizes", "3", "4", "4", "4", "2", "--samples", "5", "--seed", "0")
    assert result.returncode == 0, result.stdout
    assert table_rows(result.stdout).keys() == {"W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"}
    assert "3→4→4→4→2 network, 5 samples, seed 0" in result.stdout


def test_gradcheck_help_is_its_manual():
    result = run("pure.gradcheck", "--help")
    assert result.returncode == 0
    for words in ("--sizes", "--samples", "--seed", "--chapter-bias", "--backward",
                  "|a−n| / max(|a|+|n|, R/1e-7)", "1e-07", "< 1e-5", "rounding", "W1"):
        assert words in result.stdout
    assert result.stderr == ""


def test_gradcheck_output_says_how_the_verdict_was_reached_and_quotes_the_chapter():
    result = run("pure.gradcheck")
    assert "|a−n| ≤ R = " in result.stdout                       # the rounding clause, with its R
    assert "3·u·layers·(|L| + |Z|)/eps" in result.stdout
    assert "相对误差应小于 1e-5" in result.stdout and "100× stricter" in result.stdout


def test_gradcheck_seed_122_passes_and_says_which_entries_passed_by_rounding():
    result = run("pure.gradcheck", "--seed", "122")
    assert result.returncode == 0, result.stdout
    assert "within rounding)" in result.stdout
    assert "passed because |a−n| ≤ R" in result.stdout


@pytest.mark.parametrize("args, complaint", [
    (["--sizes", "4"], "--sizes needs at least 2 positive layer sizes"),
    (["--sizes", "4", "0", "3"], "--sizes needs at least 2 positive layer sizes"),
    (["--samples", "0"], "--samples must be at least 1"),
    (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["--seed", "abc"], "invalid int value: 'abc'"),
    (["--sizes", "100000", "100000", "3"], "parameters: checking each takes two forward passes"),
    (["--samples", "100000000"], "activations at once"),
    (["--sizes", "4", "99999999999999999999999", "3"], "activations at once"),
    (["--chapter-bias", "--backward", "m:f"], "not allowed with argument"),
    (["--backward", "nocolon"], "--backward must be module:function"),
    (["--backward", "no_such_module_xyz:backward"], "importing 'no_such_module_xyz' failed: ModuleNotFoundError"),
    (["--backward", "pure.network:no_such"], "'pure.network' has no 'no_such'"),
    (["--backward", "pure.network:TINY"], "is a float, not a function"),
    (["--backward", "pure.network:relu"], "must take 4 arguments (activations, pre_activations, weights, y_onehot)"),
    (["--backward", "missing_file.py:backward"], "no file 'missing_file.py'"),
])
@pytest.mark.parametrize("command", ["pure.gradcheck", "native.gradcheck"])
def test_gradcheck_commands_refuse_each_bad_option_in_one_line(command, args, complaint):
    if command == "native.gradcheck" and "--chapter-bias" in args:
        args = ["--sizes", "x"]
        complaint = "invalid int value: 'x'"
    result = run(command, *args)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


STUDENT_NUMPY = """
import numpy as np

def backward(activations, pre_activations, weights, y_onehot):   # the chapter's, §5.5
    num_layers = len(weights)
    m = y_onehot.shape[0]
    grad_w = [None] * num_layers
    grad_b = [None] * num_layers
    delta = (activations[-1] - y_onehot) / m
    for i in reversed(range(num_layers)):
        grad_w[i] = activations[i].T @ delta
        grad_b[i] = BIAS_LINE
        if i > 0:
            delta = (delta @ weights[i].T) * (pre_activations[i-1] > 0)
    return grad_w, grad_b
"""


@pytest.mark.parametrize("bias_line, passes", [
    ("np.sum(delta, axis=0, keepdims=True)", True),      # the corrected line
    ("np.mean(delta, axis=0, keepdims=True)", False),    # the chapter's line, as printed
])
def test_native_gradcheck_checks_a_students_numpy_backward_from_a_file(tmp_path, bias_line, passes):
    student = tmp_path / "mine.py"
    student.write_text(STUDENT_NUMPY.replace("BIAS_LINE", bias_line))
    result = run("native.gradcheck", "--backward", f"{student}:backward")
    assert result.returncode == (0 if passes else 1), result.stdout + result.stderr
    assert "yours~numerical" in result.stdout
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()
            if line.split() and line.split()[0] in ("W1", "b1", "W2", "b2") and len(line.split()) == 8}
    assert {name: cells[7] for name, cells in rows.items()} == \
        ({n: "pass" for n in rows} if passes else {"W1": "pass", "b1": "FAIL", "W2": "pass", "b2": "FAIL"})


STUDENT_LISTS = """
from pure.network import backward as ours

def backward(activations, pre_activations, weights, y_onehot):
    grads = ours(activations, pre_activations, weights, y_onehot)
    for W in weights:                         # a careless in-place edit of its arguments
        for row in W:
            row[:] = [0.0] * len(row)
    return grads

def broken(activations, pre_activations, weights, y_onehot):
    return 1 / 0

def misshapen(activations, pre_activations, weights, y_onehot):
    grad_w, grad_b = ours(activations, pre_activations, weights, y_onehot)
    return grad_w, [row[0] for row in grad_b]
"""


def test_pure_gradcheck_checks_a_students_backward_by_module_name(tmp_path):
    (tmp_path / "student_mod.py").write_text(STUDENT_LISTS)
    env_path = f"{tmp_path}"
    result = subprocess.run([sys.executable, "-m", "pure.gradcheck", "--backward", "student_mod:backward"],
                            cwd=tmp_path, capture_output=True, text=True, encoding="utf-8", timeout=120,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), env_path]),
                                 "PYTHONIOENCODING": "utf-8"})
    # it zeroed its copies of the weights only: the numerical side still sees the real network
    assert result.returncode == 0, result.stdout + result.stderr
    assert "your backward student_mod:backward" in result.stdout
    assert {r for _, _, r in table_rows(result.stdout).values()} == {"pass"}


@pytest.mark.parametrize("function, complaint", [
    ("broken", "broken raised ZeroDivisionError: division by zero"),
    ("misshapen", "misshapen: grad_b[0] must have shape (1, 5) (like biases[0]), got a flat row of 5 numbers"),
])
def test_gradcheck_names_what_is_wrong_with_a_students_backward_in_one_line(tmp_path, function, complaint):
    student = tmp_path / "student.py"
    student.write_text(STUDENT_LISTS)
    result = run("pure.gradcheck", "--backward", f"{student}:{function}")
    assert result.returncode == 1
    assert complaint in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("command", ["pure.gradcheck", "native.gradcheck"])
def test_gradcheck_commands_take_a_65_layer_network(command):
    result = run(command, "--sizes", *["2"] * 66, "--samples", "2", "--seed", "1")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "b65" in result.stdout and result.stderr == ""


def test_gradcheck_reports_ctrl_c_in_one_line():
    import signal
    import time
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "pure.gradcheck", "--sizes", "4", "300", "3"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, encoding="utf-8",
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines() == ["interrupted (Ctrl-C): nothing was written, nothing to clean up"]


def test_examples_help_is_its_manual_and_runs_nothing():
    result = run("pure.examples", "--help")
    assert result.returncode == 0
    assert "usage: python -m pure.examples" in result.stdout
    assert "squared" in result.stdout and "cross-entropy" in result.stdout
    assert "rel. error" not in result.stdout          # the help, not the examples


def test_examples_command_refuses_an_unknown_option_in_one_line():
    result = run("pure.examples", "--bogus")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--bogus" in result.stderr


def test_examples_command_prints_both_worked_examples_with_matching_gradients():
    result = run("pure.examples", "--answer")
    assert result.returncode == 0, result.stderr
    assert "§5.3" in result.stdout and "Exercise 1" in result.stdout
    names = ("w", "b", "w1_1", "w1_2", "b1", "w2", "b2")
    table = [line.split() for line in result.stdout.splitlines()]
    errors = [float(cells[3]) for cells in table if len(cells) == 4 and cells[0] in names]
    assert len(errors) == 2 + 2 + 5 + 5          # §5.3 twice, exercise 1 with each loss
    assert "squared error L = (a₂ − y)²" in result.stdout
    assert max(errors) < 1e-7
