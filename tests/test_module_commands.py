"""`python -m pure.network` runs without runpy's warning (issue 20 point 7), and native/network.py's
backward() numbers layers like the chapter and like pure/network.py (issue 20 point 9)."""
import inspect
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("module", ["pure.network", "pure.train", "pure.numerical"])
def test_running_a_pure_module_prints_no_runpy_warning(module):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-m", module], capture_output=True, text=True,
                            encoding="utf-8", env=env, cwd=ROOT, timeout=60)
    assert "RuntimeWarning" not in result.stderr and "unpredictable" not in result.stderr, result.stderr


def test_python_m_pure_network_does_something_and_names_the_commands():
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-m", "pure.network"], capture_output=True, text=True,
                            encoding="utf-8", env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert "∂L/∂W1: 4×5" in result.stdout and "python -m pure.gradcheck" in result.stdout


def test_the_runpy_filter_is_for_this_package_only():
    probe = """
import warnings, pure
ours = [f for f in warnings.filters if f[1] is not None and "package 'pure'" in f[1].pattern]
action, regex, category = ours[0][:3]
assert action == "ignore" and category is RuntimeWarning
assert regex.match("'pure.network' found in sys.modules after import of package 'pure', but prior "
                   "to execution of 'pure.network'; this may result in unpredictable behaviour")
assert not regex.match("'other.mod' found in sys.modules after import of package 'other'")
assert not regex.match("'pure_extra.x' found in sys.modules after import of package 'pure_extra'")
print("ok")
"""
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("module_name", ["pure.network", "native.network"])
def test_backward_comments_number_layers_like_the_chapter(module_name):
    """∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ beside activations[i] with k = i + 1, never the 0-based i as the layer."""
    import importlib
    source = inspect.getsource(importlib.import_module(module_name).backward)
    comments = " ".join(re.findall(r"#(.*)$", source, re.M))
    assert "layer k = i + 1" in comments
    assert "∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ" in comments and "ReLU'(Zₖ₋₁)" in comments
    assert not re.search(r"[WAZbδ]ᵢ", comments), comments      # no 0-based index as a layer number


COMMANDS = ["native.train", "native.evaluate", "native.plot", "native.gradcheck", "native.data",
            "native.playground", "pure.examples", "pure.exercise2", "pure.gradcheck"]


@pytest.mark.parametrize("module", COMMANDS)
def test_a_command_ignores_ctrl_c_once_it_is_over(module):
    """Python's shutdown puts Ctrl-C back to the system default: one pressed after a command's
    last line would end the process by the signal, with no word and no exit status of its own
    (seen as a rare silent exit -2 of `python -m native.train`). Every command's main block
    ignores Ctrl-C once main is over, however it ends — here by --help, which argparse ends
    with SystemExit inside main (pure.checks.exit_with; native.train its own try/finally)."""
    probe = (f"import runpy, signal, sys\nsys.argv = [{module!r}, '--help']\ncode = 'returned'\n"
             f"try:\n    runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
             "except SystemExit as e:\n    code = e.code\n"
             "print('ignored' if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else 'default', code)\n")
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            encoding="utf-8", env=env, cwd=ROOT, timeout=120)
    assert result.stdout.splitlines()[-1] == "ignored 0", (result.stdout[-500:], result.stderr[-500:])
