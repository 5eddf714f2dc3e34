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
    """{parameter: (shape, error, result)} from the gradcheck table."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) == 4 and cells[3] in ("pass", "FAIL"):
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
    for words in ("--sizes", "--samples", "--seed", "--chapter-bias",
                  "|a-n| / max(1e-12, |a|+|n|)", "1e-07"):
        assert words in result.stdout


@pytest.mark.parametrize("args, complaint", [
    (["--sizes", "4"], "--sizes needs at least 2 positive layer sizes"),
    (["--sizes", "4", "0", "3"], "--sizes needs at least 2 positive layer sizes"),
    (["--samples", "0"], "--samples must be at least 1"),
])
def test_gradcheck_command_rejects_bad_options(args, complaint):
    result = run("pure.gradcheck", *args)
    assert result.returncode == 2
    assert complaint in result.stderr


def test_examples_command_prints_both_worked_examples_with_matching_gradients():
    result = run("pure.examples")
    assert result.returncode == 0, result.stderr
    assert "§5.3" in result.stdout and "Exercise 1" in result.stdout
    names = ("w", "b", "w1_1", "w1_2", "b1", "w2", "b2")
    table = [line.split() for line in result.stdout.splitlines()]
    errors = [float(cells[3]) for cells in table if len(cells) == 4 and cells[0] in names]
    assert len(errors) == 2 + 2 + 5
    assert max(errors) < 1e-7
