"""Exercise 3 with the student's own numerical gradient (issue 20 point 6): ``--numerical FILE:FUNC``
checks it against the project's on the chapter's 4→5→3 case, in both checks, and names the usual
mistakes."""
import pytest

import native.gradcheck
import pure.gradcheck_cli

CHAPTER_NUMPY = '''
import numpy as np

def numerical_gradient(loss_fn, param, eps=1e-5):      # §5.8, as the chapter prints it
    grad = np.zeros_like(param)
    it = np.nditer(param, flags=['multi_index'], op_flags=['readwrite'])
    while not it.finished:
        idx = it.multi_index
        old = param[idx]
        param[idx] = old + eps
        loss_plus = loss_fn()
        param[idx] = old - eps
        loss_minus = loss_fn()
        param[idx] = old                                  # RESTORE
        grad[idx] = (loss_plus - loss_minus) / (2 * eps)  # SLOPE
        it.iternext()
    return grad
'''

LISTS = '''
def numerical_gradient(loss_fn, param, eps=1e-5):
    grad = [[0.0] * len(row) for row in param]
    for i in range(len(param)):
        for j in range(len(param[i])):
            old = param[i][j]
            param[i][j] = old + eps
            loss_plus = loss_fn()
            param[i][j] = old - eps
            loss_minus = loss_fn()
            param[i][j] = old                                  # RESTORE
            grad[i][j] = (loss_plus - loss_minus) / (2 * eps)  # SLOPE
    return grad
'''

MISTAKES = {
    "eps_not_2eps": ("SLOPE", "(loss_plus - loss_minus) / eps", "yours is 2× ours: divide by 2ε, not ε"),
    "one_sided": ("SLOPE", "(loss_plus - loss_fn()) / eps if False else (loss_plus - LOSS0) / eps",
                  "a one-sided difference (L(θ+ε) − L(θ))/ε?"),
    "not_restored": ("RESTORE", "pass", "put every entry back (param[idx] = old)"),
}


def plant(source, mistake):
    marker, code, _ = MISTAKES[mistake]
    out = []
    for line in source.splitlines():
        if line.rstrip().endswith(f"# {marker}"):
            indent = line[:len(line) - len(line.lstrip())]
            target = line.strip().split(" = ")[0]
            line = indent + (code if code == "pass" else f"{target} = {code}")
        out.append(line)
    text = "\n".join(out) + "\n"
    if mistake == "one_sided":     # L(θ) measured once per entry, before the nudges
        text = text.replace("old = param", "LOSS0 = loss_fn(); old = param")
    return text


MAINS = {"pure": (pure.gradcheck_cli.main, LISTS), "native": (native.gradcheck.main, CHAPTER_NUMPY)}


@pytest.mark.parametrize("check", ["pure", "native"])
def test_a_correct_numerical_gradient_passes_against_ours(tmp_path, capsys, check):
    main, source = MAINS[check]
    path = tmp_path / "mine.py"
    path.write_text(source)
    status = main(["--numerical", f"{path}:numerical_gradient"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "OK: your numerical gradient agrees with ours on all 4 parameters" in out
    assert "yours~ours" in out and "|a−n| / max(|a|+|n|, R/1e-7)" in out


@pytest.mark.parametrize("check", ["pure", "native"])
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_usual_numerical_mistake_fails_and_is_named(tmp_path, capsys, check, mistake):
    main, source = MAINS[check]
    path = tmp_path / f"mine_{mistake}.py"
    path.write_text(plant(source, mistake))
    status = main(["--numerical", f"{path}:numerical_gradient"])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert MISTAKES[mistake][2] in out + err, out + err


def test_numerical_refuses_a_function_of_the_wrong_signature_in_one_line(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text("def numerical_gradient(loss_fn):\n    return 0\n")
    with pytest.raises(SystemExit) as exit_info:
        pure.gradcheck_cli.main(["--numerical", f"{path}:numerical_gradient"])
    assert exit_info.value.code == 2
    assert "--numerical: " in capsys.readouterr().err
