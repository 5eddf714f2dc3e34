"""`python -m pure.network` runs without runpy's warning (issue 20 point 7), and native/network.py's
backward() numbers layers like the chapter and like pure/network.py (issue 20 point 9)."""
import inspect
import os
import re
import signal
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


# Sends SIGINT to its own process at one moment of `python -m …`'s start-up, named by
# CTRL_C_AT: "numpy" (native/__init__ imports NumPy), "load" (runpy opens the command
# module's file: native/__init__ is done), "exec" (the command module's code starts: its own
# imports) or "main-block" (its main block calls pure.checks.exit_with). Audit hooks and a
# profile function see them, whatever the command imports. At exit (atexit), it writes
# SIGINT's disposition then into CTRL_C_EXIT_FILE.
SITECUSTOMIZE = '''
import atexit, os, signal, sys
_at, _source = os.environ["CTRL_C_AT"], os.environ["CTRL_C_FILE"]
_stem, _dir = os.path.basename(_source).split(".")[0], os.path.dirname(_source)
_state = {"sent": False}


def _is_the_module(path):
    path = os.path.abspath(str(path))
    head, name = os.path.split(path)
    if os.path.basename(head) == "__pycache__":
        head = os.path.dirname(head)
    return head == _dir and name.split(".")[0] == _stem


def _hook(event, args):
    if _state["sent"]:
        return
    hit = False
    if event == "import" and _at == "numpy" and args[0] == "numpy":
        hit = True
    elif event == "open" and _at == "load":
        hit = _is_the_module(args[0])
    elif event == "exec" and getattr(args[0], "co_filename", None) == _source:
        hit = _at == "exec"
    if hit:
        _send()


def _send():
    _state["sent"] = True
    os.kill(os.getpid(), signal.SIGINT)


def _profile(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "exit_with" and not _state["sent"]:
        sys.setprofile(None)
        _send()


def _at_exit():
    h = signal.getsignal(signal.SIGINT)
    with open(os.environ["CTRL_C_EXIT_FILE"], "w") as f:
        f.write("ignored" if h is signal.SIG_IGN else repr(h))


sys.addaudithook(_hook)
atexit.register(_at_exit)
if _at == "main-block":
    sys.setprofile(_profile)
'''

NATIVE_COMMANDS = [c for c in COMMANDS if c.startswith("native.")]


@pytest.mark.parametrize("moment", ["numpy", "load", "exec", "main-block"])
@pytest.mark.parametrize("module", NATIVE_COMMANDS)
def test_a_ctrl_c_while_a_command_starts_is_one_line_and_is_not_lost(module, moment, tmp_path):
    """`python -m native.X`: after native/__init__ (whose imports hold Ctrl-C) come the lookup
    of the command module, its own imports and its main block. A Ctrl-C there is one line and
    exit 130 — not a traceback (a KeyboardInterrupt raised outside every try; seen under
    emulated arm64 when the package put the default handler back before the command ran) and
    not lost (the command here is --help: a lost Ctrl-C prints the help and exits 0). And at
    exit Ctrl-C is ignored: a handler of Python's own, held or not, goes back to the system
    default during shutdown, where a second Ctrl-C ended the process by the signal (exit
    status -2 after the one line, seen under emulated arm64)."""
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    parts = module.split(".")
    source = os.path.join(ROOT, *parts, "__main__.py")
    if not os.path.exists(source):
        source = os.path.join(ROOT, *parts) + ".py"
    exit_file = tmp_path / "sigint-at-exit"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]),
               PYTHONIOENCODING="utf-8", CTRL_C_AT=moment, CTRL_C_FILE=source,
               CTRL_C_EXIT_FILE=str(exit_file))
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                            text=True, encoding="utf-8", env=env, cwd=ROOT, timeout=120,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (result.returncode, result.stdout, result.stderr.strip()) == \
        (130, "", "interrupted while starting; nothing was done"), result.stderr[-800:]
    assert exit_file.read_text() == "ignored"


def test_a_ctrl_c_a_command_does_not_handle_itself_is_one_line_and_exit_130():
    probe = ("import sys\nfrom pure import checks\n"
             "def main():\n    print('working')\n    raise KeyboardInterrupt\n"
             "checks.exit_with(main)\n")
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            encoding="utf-8", env=env, cwd=ROOT, timeout=60)
    assert (result.returncode, result.stdout, result.stderr.strip()) == \
        (130, "working\n", "interrupted (Ctrl-C)"), result.stderr[-500:]
