"""Exercise 1 with the student's own numbers (issue 20 point 5): inputs, parameters and hand-derived
gradients on the command line; each marked, the right value shown only for wrong ones; a kink
warning; the worked answer only behind --answer; named-key mistakes in one line."""
import pytest

from pure import examples
from pure.examples import EXERCISE1_EXAMPLE, exercise1_gradients, mark_exercise1

RIGHT = ["w1_1=-0.528", "w1_2=-0.176", "b1=-0.352", "w2=-0.242", "b2=-0.440"]


def run(capsys, *argv):
    status = examples.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_without_flags_it_prints_the_forward_pass_and_no_gradient(capsys):
    status, out, _ = run(capsys)
    assert status == 0
    assert "z₁ = 0.55, a₁ = 0.55, z₂ = 0.24" in out and "--mine" in out and "--answer" in out
    right = exercise1_gradients(EXERCISE1_EXAMPLE["params"], EXERCISE1_EXAMPLE["x"], EXERCISE1_EXAMPLE["y"])
    assert not any(f"{v:.4f}" in out or f"{v:.6g}" in out for v in right.values())   # no answer given away


def test_right_gradients_are_marked_right_and_no_value_is_shown(capsys):
    status, out, _ = run(capsys, "--mine", *RIGHT)
    assert status == 0
    assert out.count("  right\n") == 5 and "WRONG" not in out and "5 of 5 right" in out
    assert "-0.528344" not in out                        # the exact value stays hidden


def test_a_wrong_gradient_is_marked_wrong_with_the_right_value_for_it_alone(capsys):
    status, out, _ = run(capsys, "--mine", "w1_1=-0.264", *RIGHT[1:])
    assert status == 1
    lines = [line for line in out.splitlines() if line.strip().startswith("∂L/∂")]
    assert lines[0].split()[-1] == "-0.528344)" and "WRONG: the right value is -0.528344" in lines[0]
    assert all(line.endswith("right") for line in lines[1:])
    assert "4 of 5 right" in out


def test_the_students_own_inputs_and_parameters_and_the_squared_loss(capsys):
    params = {"w1_1": 0.2, "w1_2": 0.7, "b1": -0.1, "w2": -1.3, "b2": 0.4}
    x, y = (2.0, -1.0), 0.25
    from pure.examples import exercise1_squared_gradients
    truth = exercise1_squared_gradients(params, x, y)
    mine = [f"{k}={v:.5g}" for k, v in truth.items()]
    status, out, _ = run(capsys, "--x", "2", "-1", "--y", "0.25", "--loss", "squared",
                         "--params", *[f"{k}={v}" for k, v in params.items()], "--mine", *mine)
    assert status == 0 and "5 of 5 right" in out, out
    status, out, _ = run(capsys, "--x", "2", "-1", "--y", "0.25",          # the same numbers, wrong loss
                         "--params", *[f"{k}={v}" for k, v in params.items()], "--mine", *mine)
    assert status == 1 and "WRONG" in out


def test_a_warning_when_relu_sits_at_its_kink(capsys):
    status, out, _ = run(capsys, "--x", "1", "1", "--params", "w1_1=0.5", "w1_2=-0.5", "b1=0",
                         "w2=1", "b2=0", "--mine", "b1=0")
    assert "sits at ReLU's kink" in out and "not given: w1_1, w1_2, w2, b2" in out
    _, out, _ = run(capsys, "--mine", *RIGHT)
    assert "kink" not in out


def test_the_worked_answer_is_behind_answer(capsys):
    status, out, _ = run(capsys, "--answer")
    assert status == 0 and "§5.3" in out and "rel. error" in out


@pytest.mark.parametrize("argv, complaint", [
    (["--mine", "w11=1"], "--mine: unknown name 'w11' (did you mean 'w1_1'?); the names are w1_1, w1_2, b1, w2, b2"),
    (["--mine", "w1_1"], "--mine takes NAME=VALUE words (e.g. w1_1=0.4), got 'w1_1'"),
    (["--mine", "w1_1=abc"], "--mine w1_1: 'abc' is not a number"),
    (["--mine", "w1_1=1", "w1_1=2"], "--mine names w1_1 twice"),
    (["--mine", "b1=nan"], "must be a finite number"),
    (["--params", "w1_1=1", "w1_2=2", "b1=3", "w2=4", "b=5"], "unknown: 'b' (did you mean 'b2'?); missing: b2"),
    (["--y", "2"], "--y must be between 0 and 1 for cross-entropy"),
    (["--answer", "--mine", "b1=0"], "--answer prints the worked example only"),
])
def test_each_mistake_on_the_command_line_is_one_line(capsys, argv, complaint):
    with pytest.raises(SystemExit) as exit_info:
        examples.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and complaint in err and len(err.strip().splitlines()) == 1, err


def test_a_misnamed_key_in_the_functions_is_a_one_line_value_error():
    with pytest.raises(ValueError, match=r"unknown: 'w11' \(did you mean 'w1_1'\?\)"):
        examples.exercise1_numerical_gradients({"w11": 0.4, "w1_2": -0.3, "b1": 0.1, "w2": 0.8, "b2": -0.2},
                                               (1.5, 0.5), 1.0)
    with pytest.raises(ValueError, match="missing: b"):
        examples.neuron_gradients({"w": 0.5}, 2.0, 0.3)


def test_mark_exercise1_is_the_commands_rule():
    p, x, y = EXERCISE1_EXAMPLE["params"], EXERCISE1_EXAMPLE["x"], EXERCISE1_EXAMPLE["y"]
    marks = mark_exercise1(p, x, y, {"w2": -0.242, "b2": -0.45})
    assert marks["w2"][2] is True and marks["b2"][2] is False
