"""Issue 20 point 2: a failed gradient check says what is wrong, in both checks.

Each planted mistake is a student's own backward() written twice — NumPy, as the
chapter writes it, for ``native.gradcheck``, and plain lists for ``pure.gradcheck``
— and each check must name it.
"""
import pytest

import native.gradcheck
import pure.gradcheck_cli
from pure.gradcheck import gradient_pairs, random_problem
from pure.gradcheck_diagnosis import MISTAKES, diagnose, findings
from pure.network import forward

NUMPY = """
import numpy as np

def backward(activations, pre_activations, weights, y_onehot):
    L, m = len(weights), y_onehot.shape[0]
    grad_w, grad_b = [None] * L, [None] * L
    delta = (activations[-1] - y_onehot) / m                       # DELTA
    # MASK_OUT
    for i in reversed(range(L)):
        grad_w[i] = activations[i].T @ delta                       # GRAD_W
        grad_b[i] = np.sum(delta, axis=0, keepdims=True)           # GRAD_B
        if i > 0:
            delta = (delta @ weights[i].T) * (pre_activations[i - 1] > 0)   # HANDOFF
    return grad_w, grad_b                                          # RETURN
"""

LISTS = """
from pure.linalg import apply, column_sums, hadamard, matmul, scale, subtract, transpose

def relu_prime(z):
    return 1.0 if z > 0 else 0.0

def backward(activations, pre_activations, weights, y_onehot):
    L, m = len(weights), len(y_onehot)
    grad_w, grad_b = [None] * L, [None] * L
    delta = scale(subtract(activations[-1], y_onehot), 1.0 / m)                       # DELTA
    # MASK_OUT
    for i in reversed(range(L)):
        grad_w[i] = matmul(transpose(activations[i]), delta)                          # GRAD_W
        grad_b[i] = column_sums(delta)                                                # GRAD_B
        if i > 0:
            delta = hadamard(matmul(delta, transpose(weights[i])), apply(relu_prime, pre_activations[i - 1]))  # HANDOFF
    return grad_w, grad_b                                                             # RETURN
"""

# mistake -> {marker: (NumPy line, lists line)}
PLANTED = {
    "chapter_mean": {"GRAD_B": ("grad_b[i] = np.mean(delta, axis=0, keepdims=True)",
                                "grad_b[i] = scale(column_sums(delta), 1.0 / m)")},
    "no_division": {"DELTA": ("delta = activations[-1] - y_onehot",
                              "delta = subtract(activations[-1], y_onehot)")},
    "divided_twice": {"DELTA": ("delta = (activations[-1] - y_onehot) / m / m",
                                "delta = scale(subtract(activations[-1], y_onehot), 1.0 / m / m)")},
    "no_relu_mask": {"HANDOFF": ("delta = delta @ weights[i].T",
                                 "delta = matmul(delta, transpose(weights[i]))")},
    "mask_on_output": {"MASK_OUT": ("delta = delta * (pre_activations[-1] > 0)",
                                    "delta = hadamard(delta, apply(relu_prime, pre_activations[-1]))")},
    "transposed": {"GRAD_W": ("grad_w[i] = delta.T @ activations[i]",
                              "grad_w[i] = matmul(transpose(delta), activations[i])")},
    "swapped": {"RETURN": ("return grad_b, grad_w", "return grad_b, grad_w")},
}

# what each check must say: a named mistake of the diagnosis, or a one-line refusal
SAYS = {key: MISTAKES[key].format(m=3) for key in MISTAKES}
SAYS["transposed"] = "the transpose: transposed product? ∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ"
SAYS["swapped"] = "returned (grad_b, grad_w): swapped? return grad_w, grad_b"


def plant(template, mistake, numpy):
    lines = []
    for line in template.splitlines():
        for marker, replacement in PLANTED[mistake].items():
            if line.rstrip().endswith(f"# {marker}") or line.strip() == f"# {marker}":
                indent = line[:len(line) - len(line.lstrip())]
                line = indent + replacement[0 if numpy else 1]
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("check", ["pure", "native"])
@pytest.mark.parametrize("mistake", list(PLANTED))
def test_each_planted_mistake_is_named_by_both_gradchecks(tmp_path, capsys, check, mistake):
    student = tmp_path / f"mine_{mistake}.py"
    student.write_text(plant(NUMPY if check == "native" else LISTS, mistake, check == "native"))
    main = native.gradcheck.main if check == "native" else pure.gradcheck_cli.main
    status = main(["--backward", f"{student}:backward"])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert SAYS[mistake] in out + err, out + err
    if mistake in ("transposed", "swapped"):
        assert out == "" and len(err.strip().splitlines()) == 1, err     # refused in one line
    else:
        assert f"likely mistake (the gradients equal what it gives, to 1e-6): {SAYS[mistake]}" in out
        others = [text for key, text in SAYS.items() if key != mistake]
        assert not any(text in out for text in others), out


@pytest.mark.parametrize("check", ["pure", "native"])
def test_the_unplanted_templates_pass_both_checks(tmp_path, capsys, check):
    student = tmp_path / "mine.py"
    student.write_text(NUMPY if check == "native" else LISTS)
    main = native.gradcheck.main if check == "native" else pure.gradcheck_cli.main
    assert main(["--backward", f"{student}:backward"]) == 0, capsys.readouterr()


def _diagnosis_of(backward_fn, sizes=(4, 5, 3), samples=3, seed=0):
    X, Y, W, B = random_problem(list(sizes), samples, seed)
    pairs = gradient_pairs(X, Y, W, B, backward_fn=backward_fn)
    acts, pres = forward(X, W, B)
    from pure.gradcheck_rules import allowance_for
    return diagnose(pairs, acts, pres, W, Y, allowance=allowance_for(X, Y, W, B)), pairs, pres


def _module(tmp_path, source):
    import importlib.util
    path = tmp_path / "m.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("m_planted", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_the_relu_mask_only_the_columns_of_units_that_were_off_fail(tmp_path):
    """Issue 20's 'W1 1.00e+00, b1 7.88e-01': now it says which entries, and why."""
    module = _module(tmp_path, plant(LISTS, "no_relu_mask", False))
    diagnosis, pairs, pres = _diagnosis_of(module.backward, seed=1)
    off = sorted({c for row in pres[0] for c, z in enumerate(row) if z <= 0})
    assert off == [1, 3, 4]                                   # units 0 and 2 were on for every sample
    found = {f.name: f for f in findings(pairs, pres, allowance=1e-9)}
    assert set(found) == {"W1", "b1"}
    assert found["W1"].failing == ("12 of 20, only in columns 1, 3, 4: the columns of units whose ReLU "
                                   "was off (z ≤ 0) for some sample (layer 1); the units that were on "
                                   "for every sample pass")
    assert found["b1"].failing.startswith("3 of 5, only in columns 1, 3, 4: the columns of units whose")
    for f in found.values():
        assert f.index[1] in off and f.ratio is None
    assert diagnosis.mistake == "no_relu_mask"
    # a failure in some columns that are not the off units is not blamed on ReLU
    def one_column(activations, pre_activations, weights, y_onehot):
        import pure
        grad_w, grad_b = pure.backward(activations, pre_activations, weights, y_onehot)
        grad_b[0][0][0] *= 1.5                                # unit 0 was on for every sample
        return grad_w, grad_b
    _, pairs, pres = _diagnosis_of(one_column, seed=1)
    assert "ReLU" not in findings(pairs, pres, allowance=1e-9)[0].failing


def test_the_worst_entry_is_shown_with_its_index_and_both_values_and_the_ratio_n(tmp_path):
    module = _module(tmp_path, plant(LISTS, "no_division", False))
    diagnosis, pairs, pres = _diagnosis_of(module.backward)
    text = "\n".join(diagnosis.lines)
    for name, analytic, numerical, _ in pairs:
        assert f"  {name}  worst {name}[" in text
    b2 = next(f for f in findings(pairs, pres, allowance=1e-9) if f.name == "b2")
    r, c = b2.index
    a, n = pairs[3][1][r][c], pairs[3][2][r][c]
    assert (b2.analytic, b2.numerical) == (a, n) and a == pytest.approx(3 * n, rel=1e-6)
    assert f"a = {a:.6g}, n = {n:.6g}" in text
    assert "a/n = 3 (N = 3) on every entry" in text           # 3× too big, not just "0.5"
    assert "fails: all 15 entries" in text


def test_a_mask_of_the_wrong_hidden_layer_is_named_on_a_network_where_it_fits(tmp_path):
    source = plant(LISTS, "no_relu_mask", False).replace(
        "delta = matmul(delta, transpose(weights[i]))",
        "delta = hadamard(matmul(delta, transpose(weights[i])), apply(relu_prime, pre_activations[i]))")
    module = _module(tmp_path, source)
    assert _diagnosis_of(module.backward, sizes=(4, 5, 5, 5))[0].mistake == "mask_shifted"


def test_a_transposed_product_on_square_layers_is_named_by_its_values(tmp_path):
    source = plant(LISTS, "transposed", False)
    module = _module(tmp_path, source)
    assert _diagnosis_of(module.backward, sizes=(4, 4, 4))[0].mistake == "grad_w_transposed"
    handoff = LISTS.replace("matmul(delta, transpose(weights[i]))", "matmul(delta, weights[i])")
    assert _diagnosis_of(_module(tmp_path, handoff).backward, sizes=(4, 5, 5))[0].mistake == \
        "handoff_not_transposed"


def test_an_unknown_mistake_gets_the_facts_and_no_false_name(tmp_path):
    def odd(activations, pre_activations, weights, y_onehot):
        import pure
        grad_w, grad_b = pure.backward(activations, pre_activations, weights, y_onehot)
        grad_w[1][2][1] += 0.05
        return grad_w, grad_b
    diagnosis, _, _ = _diagnosis_of(odd)
    assert diagnosis.mistake is None
    assert "worst W2[2, 1]" in "\n".join(diagnosis.lines)
    assert "fails: 1 of 15, only in columns 1" in "\n".join(diagnosis.lines) or \
        "fails: 1 of 15" in "\n".join(diagnosis.lines)
    assert diagnosis.lines[-1].startswith("no mistake we know of matches")


def test_a_passing_check_has_no_diagnosis():
    import pure
    assert _diagnosis_of(pure.backward)[0] == ([], None)


def test_nan_in_a_students_gradients_is_said_and_nothing_is_named():
    def nans(activations, pre_activations, weights, y_onehot):
        import pure
        grad_w, grad_b = pure.backward(activations, pre_activations, weights, y_onehot)
        grad_w[0][1][2] = float("nan")
        return grad_w, grad_b
    diagnosis, _, _ = _diagnosis_of(nans)
    text = "\n".join(diagnosis.lines)
    assert "worst W1[1, 2]: a = nan" in text and "1 of them NaN or inf" in text
    assert diagnosis.mistake is None


def test_where_a_batch_cannot_tell_two_mistakes_apart_both_are_named(tmp_path):
    """2→3→3→2, 2 samples, seed 1: every weight gradient is 0 here, so /N twice and mean(δ) agree."""
    module = _module(tmp_path, plant(LISTS, "divided_twice", False))
    diagnosis, _, _ = _diagnosis_of(module.backward, sizes=(2, 3, 3, 2), samples=2, seed=1)
    text = "\n".join(diagnosis.lines)
    assert MISTAKES["divided_twice"].format(m=2) in text and MISTAKES["chapter_mean"].format(m=2) in text
    assert "equally consistent with this batch" in text


@pytest.mark.parametrize("mistake", ["chapter_mean", "no_division", "divided_twice", "no_relu_mask",
                                     "mask_on_output"])
def test_each_planted_mistake_is_named_on_unseen_shapes_and_seeds(tmp_path, mistake):
    from pure.gradcheck_rules import allowance_for, compare_gradients
    from pure.gradcheck_diagnosis import matching_mistakes
    module = _module(tmp_path, plant(LISTS, mistake, False))
    judged = 0
    for sizes in [(3, 4, 4, 2), (5, 5, 5, 5), (6, 2, 4), (4, 7, 3)]:
        for samples, seed in [(2, 0), (3, 1), (5, 2), (4, 3)]:
            X, Y, W, B = random_problem(list(sizes), samples, seed)
            pairs = gradient_pairs(X, Y, W, B, backward_fn=module.backward)
            allowance = allowance_for(X, Y, W, B)
            if all(row.passed for row in compare_gradients(pairs, allowance=allowance)):
                continue                              # the mistake changes nothing on this batch
            acts, pres = forward(X, W, B)
            assert mistake in matching_mistakes([p[1] for p in pairs], acts, pres, W, Y, allowance), \
                (sizes, samples, seed)
            judged += 1
    assert judged >= 8


def test_a_mistake_outside_the_planted_ones_is_named_from_its_pattern():
    """Weights N times too big, biases right (δ without /N, then mean(δ) for the bias): ratio N on
    every failing entry."""
    def weights_times_n(activations, pre_activations, weights, y_onehot):
        import pure
        grad_w, grad_b = pure.backward(activations, pre_activations, weights, y_onehot)
        return [[[3 * g for g in row] for row in G] for G in grad_w], grad_b
    diagnosis, _, _ = _diagnosis_of(weights_times_n)
    assert diagnosis.mistake == "no_division"
    assert diagnosis.lines[-1].startswith("likely mistake (from the pattern above): the /N is missing")
