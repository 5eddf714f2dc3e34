"""Whatever a student's backward() does, both gradient checks end in a verdict (issue 21 point 5,
issue 20 points 3, 4 and 7): a one-line refusal naming what came, with the student's own
file:line when their code raises, and exit status 1 — never 0, never a traceback."""
import os
import subprocess
import sys

import pytest

import native.gradcheck
import pure.gradcheck_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAINS = {"pure": pure.gradcheck_cli.main, "native": native.gradcheck.main}

HEADER = """
import numpy as np
import pure

def right(activations, pre_activations, weights, y_onehot):
    L = [np.asarray(a, dtype=float) for a in activations]
    Z = [np.asarray(z, dtype=float) for z in pre_activations]
    W = [np.asarray(w, dtype=float) for w in weights]
    gw, gb = pure.backward([a.tolist() for a in L], [z.tolist() for z in Z], [w.tolist() for w in W],
                           np.asarray(y_onehot, dtype=float).tolist())
    return [np.array(g) for g in gw], [np.array(g) for g in gb]

class Weird:
    def __float__(self):
        raise RuntimeError("no float for you")

class BadList(list):
    def __len__(self):
        raise RuntimeError("no length")

class WeirdReal(float):          # a real number by type, whose float() raises
    def __float__(self):
        raise RuntimeError("no float for you either")

"""

CASES = {
    "exits": ("import sys\n    sys.exit(0)", "raised SystemExit(0) (sys.exit() or exit() was called) (at "),
    "exits_quietly": ("raise SystemExit", "raised SystemExit(None)"),
    "generator": ("return (g for g in right(activations, pre_activations, weights, y_onehot))",
                  "must return a pair (grad_w, grad_b), got a generator (an iterator; return a list)"),
    "generator_grad_w": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                         "    return (g for g in gw), gb",
                         "must return grad_w as a list of 2 matrices, one per layer, got a generator"),
    "generator_rows": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                       "    gw[0] = [(x for x in row) for row in gw[0].tolist()]\n    return gw, gb",
                       "grad_w[0] must have shape (4, 5) (like weights[0]), got a row that is a generator"),
    "float_raises": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                     "    gw[1] = gw[1].tolist(); gw[1][2][1] = Weird()\n    return gw, gb",
                     "grad_w[1][2][1] is "),
    "real_float_raises": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                          "    gb[0] = [[WeirdReal(1.0)] * 5]\n    return gw, gb",
                          "grad_b[0][0][0] is "),
    "len_raises": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                   "    return BadList(gw), gb",
                   "returned something that cannot be read as numbers: RuntimeError: no length (at "),
    "strings": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                "    gb[0] = [[str(x) for x in gb[0][0]]]\n    return gw, gb",
                "grad_b[0][0][0] is '"),
    "string_array": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                     "    gb[0] = gb[0].astype(str)\n    return gw, gb",
                     "grad_b[0] holds <U"),
    "complex": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                "    gb[1] = gb[1] + 0.5j\n    return gw, gb",
                "grad_b[1] holds complex numbers (complex128); a gradient is real"),
    "complex_list": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                     "    gb[1] = [[complex(x, 1) for x in gb[1][0]]]\n    return gw, gb",
                     "grad_b[1][0][0] is "),
    "bools": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
              "    gb[1] = [[True, False, True]]\n    return gw, gb",
              "grad_b[1][0][0] is True (a bool), expected a real number"),
    "only_grad_w": ("return right(activations, pre_activations, weights, y_onehot)[0]",
                    "returned 2 matrices shaped like the weights: grad_w alone? return grad_w, grad_b"),
    "swapped": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n    return gb, gw",
                "swapped? return grad_w, grad_b"),
    "flat_bias": ("gw, gb = right(activations, pre_activations, weights, y_onehot)\n"
                  "    return gw, [g[0] for g in gb]",
                  "grad_b[0] must have shape (1, 5) (like biases[0]), got a flat row of 5 numbers"),
    "broadcast": ("W = np.asarray(weights[1])\n    return W @ W, None",
                  "raised ValueError: "),
    "index": ("rows = [[0.0]]\n    return rows[3], None", "raised IndexError: list index out of range (at "),
}


def write_student(tmp_path, case):
    body, _ = CASES[case]
    path = tmp_path / f"student_{case}.py"
    path.write_text(HEADER + f"def backward(activations, pre_activations, weights, y_onehot):\n    {body}\n")
    return path


@pytest.mark.parametrize("check", ["pure", "native"])
@pytest.mark.parametrize("case", list(CASES))
def test_whatever_the_students_backward_does_the_check_fails_it_in_one_line(tmp_path, capsys, check, case):
    path = write_student(tmp_path, case)
    status = MAINS[check](["--backward", f"{path}:backward"])
    out, err = capsys.readouterr()
    assert status == 1, (out, err)
    assert CASES[case][1] in err, err
    assert out == "" and len(err.strip().splitlines()) == 1, err
    if case in ("exits", "broadcast", "index"):
        line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                    if "sys.exit" in text or "W @ W" in text or "rows[3]" in text)
        assert f"(at {path}:{line} in backward: " in err, err     # the student's own line


def test_a_students_error_inside_numpy_or_our_helpers_points_at_the_students_line(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text("from pure.network import softmax\n\n"
                    "def backward(activations, pre_activations, weights, y_onehot):\n"
                    "    return softmax([[]]), None\n")
    assert pure.gradcheck_cli.main(["--backward", f"{path}:backward"]) == 1
    err = capsys.readouterr().err
    assert "raised ValueError: max() " in err                 # raised in pure/network.py ...
    assert f"(at {path}:4 in backward: return softmax([[]]), None)" in err, err   # ... shown at theirs


def test_the_chapters_numpy_backward_given_to_pure_gradcheck_is_told_to_use_native(tmp_path, capsys):
    path = tmp_path / "chapter.py"
    path.write_text("import numpy as np\n\ndef backward(activations, pre_activations, weights, y_onehot):\n"
                    "    m = y_onehot.shape[0]\n    return None\n")
    assert pure.gradcheck_cli.main(["--backward", f"{path}:backward"]) == 1
    err = capsys.readouterr().err
    assert "'list' object has no attribute 'shape'" in err
    assert f"check it with python -m native.gradcheck --backward {path}:backward" in err


class HugeArray:
    """Looks like a 10⁴×10⁴ float64 array; reading any entry fails the test."""
    shape = (10_000, 10_000)

    class dtype:
        kind = "f"

    def tolist(self):
        raise AssertionError("read the entries of a wrong-shaped answer")

    def __iter__(self):
        raise AssertionError("iterated a wrong-shaped answer")

    __len__ = lambda self: 10_000


class HugeList(list):
    def __iter__(self):
        raise AssertionError("iterated a wrong-shaped answer")


@pytest.mark.parametrize("huge", [HugeArray, lambda: HugeList([[0.0] * 3] * 10_000)])
@pytest.mark.parametrize("check", ["pure", "native"])
def test_a_huge_wrong_shape_is_refused_before_a_single_entry_is_read(check, huge, monkeypatch, capsys):
    def backward(activations, pre_activations, weights, y_onehot):
        return [huge(), huge()], [huge(), huge()]
    monkeypatch.setattr(sys.modules[__name__], "backward_under_test", backward, raising=False)
    status = MAINS[check](["--backward", f"{__name__}:backward_under_test"])
    err = capsys.readouterr().err
    assert status == 1 and "grad_w[0] must have shape (4, 5) (like weights[0]), got " in err, err


@pytest.mark.parametrize("command", ["pure.gradcheck", "native.gradcheck"])
def test_sys_exit_0_in_a_students_backward_never_exits_0(tmp_path, command):
    path = write_student(tmp_path, "exits")
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-m", command, "--backward", f"{path}:backward"],
                            capture_output=True, text=True, encoding="utf-8", env=env, timeout=120)
    assert result.returncode == 1, result
    assert "SystemExit(0)" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_sys_exit_while_importing_a_students_file_is_a_one_line_refusal(tmp_path, capsys):
    path = tmp_path / "exits_on_import.py"
    path.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(SystemExit) as exit_info:
        pure.gradcheck_cli.main(["--backward", f"{path}:backward"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"importing '{path}' failed: SystemExit(3) (sys.exit() or exit() was called) (at {path}:2" in err


def test_np_seterr_in_a_students_backward_does_not_outlive_the_call(tmp_path, capsys):
    import numpy as np
    path = tmp_path / "seterr.py"
    path.write_text(HEADER + "def backward(activations, pre_activations, weights, y_onehot):\n"
                    "    np.seterr(all='raise')\n    return right(activations, pre_activations, weights, y_onehot)\n")
    before = np.geterr()
    assert native.gradcheck.main(["--backward", f"{path}:backward"]) == 0, capsys.readouterr()
    assert np.geterr() == before
