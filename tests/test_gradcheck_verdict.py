"""The gradient check's verdict: no false alarms for correct gradients, no pass for wrong ones.

Issue 13, point 8: rounding in the loss difference used to fail correct gradients
(8 of the seeds 0–299 on 4→5→3, and every wide network); the error model must
pass those and still fail the chapter's mean(δ) bias and small real bugs.
"""
import numpy as np
import pytest

import pure
from pure.gradcheck import (CHAPTER_THRESHOLD, MACHINE_EPSILON, THRESHOLD, backward_with_chapter_bias,
                            gradient_check, judge, relative_error, rounding_allowance)
from native.gradcheck import exercise3_errors


def test_correct_gradients_pass_on_every_seed_0_to_299_of_the_chapters_network():
    failed = [seed for seed in range(300) if not all(r.passed for r in gradient_check((4, 5, 3), 3, seed))]
    assert failed == []


def test_seed_122_passes_by_the_rounding_clause_not_by_a_looser_threshold():
    rows = gradient_check((4, 5, 3), 3, seed=122)
    assert all(row.passed for row in rows)
    assert sum(row.by_rounding for row in rows) >= 1    # one entry of 7e-6 off by 2e-11


def test_the_chapters_mean_bias_fails_the_biases_on_every_seed_0_to_299():
    for seed in range(300):
        verdicts = [row.passed for row in gradient_check((4, 5, 3), 3, seed, chapter_bias=True)]
        assert verdicts == [True, False, True, False], f"seed {seed}: {verdicts}"


def test_correct_gradients_of_a_wide_network_pass():
    """--sizes 4 1000 3: the numerical side's rounding grows with the width (was FAIL at 1.2e-6)."""
    result = exercise3_errors((4, 1000, 3), 3, 0)
    assert all(e <= t for e, t in zip(result["pure"], result["threshold"])), result["pure"]
    assert all(e <= t for e, t in zip(result["native"], result["threshold"])), result["native"]
    assert all(e > t for e, t in zip(result["chapter_bias"][1::2], result["threshold"][1::2]))


def _scaled(backward_fn, layer, factor, which=0):
    def wrong(activations, pre_activations, weights, y_onehot):
        grads = backward_fn(activations, pre_activations, weights, y_onehot)
        grads[which][layer] = [[g * factor for g in row] for row in grads[which][layer]]
        return grads
    return wrong


def _no_relu_mask(activations, pre_activations, weights, y_onehot):
    """backward that forgets ReLU' when handing δ back: a classic bug."""
    ones = [[[1.0] * len(row) for row in Z] for Z in pre_activations]
    return pure.backward(activations, ones, weights, y_onehot)


def _no_one_over_m(activations, pre_activations, weights, y_onehot):
    """backward of the summed loss instead of the mean: every gradient m times too big."""
    m = len(y_onehot)
    grad_w, grad_b = pure.backward(activations, pre_activations, weights, y_onehot)
    times_m = lambda gs: [[[g * m for g in row] for row in G] for G in gs]
    return times_m(grad_w), times_m(grad_b)


@pytest.mark.parametrize("bug, failing", [
    (backward_with_chapter_bias, {"b1", "b2"}),
    (_no_one_over_m, {"W1", "b1", "W2", "b2"}),
    (_no_relu_mask, {"W1", "b1"}),
    (_scaled(pure.backward, 0, 1 + 1e-5), {"W1"}),        # a bug the chapter's 1e-5 bar lets through
])
def test_wrong_gradients_fail_on_the_parameters_they_touch(bug, failing):
    for seed in range(20):
        rows = gradient_check((4, 5, 3), 3, seed, backward_fn=bug)
        assert {row.name for row in rows if not row.passed} == failing, f"seed {seed}"


def test_a_bug_of_1e_5_of_the_gradient_passes_the_chapters_bar_but_not_ours():
    rows = gradient_check((4, 5, 3), 3, 0, backward_fn=_scaled(pure.backward, 0, 1 + 1e-5))
    error = rows[0][2]
    assert THRESHOLD < error < CHAPTER_THRESHOLD


def test_rounding_allowance_is_3_u_layers_times_loss_plus_scores_over_eps():
    logits = [[1.0, -4.0], [2.0, 0.5]]            # mean over samples of max |Z| = (4 + 2) / 2 = 3
    assert rounding_allowance(2.0, logits, 3, eps=1e-5) == pytest.approx(
        3 * MACHINE_EPSILON * 3 * (2.0 + 3.0) / 1e-5, rel=1e-12)


def test_rounding_allowance_of_the_chapters_case_is_far_below_any_real_gradient():
    X, Y, W, B = pure.gradcheck.random_problem([4, 5, 3], 3, 0)
    allowance = pure.gradcheck.allowance_for(X, Y, W, B)
    assert 1e-11 < allowance < 1e-8


def test_judge_passes_an_entry_within_the_allowance_or_the_threshold_and_nothing_else():
    # the entry of seed 122: 7e-6 off by 2e-11 — relative 1.4e-6, within an allowance of 1e-10
    assert relative_error(7e-6 + 2e-11, 7e-6) > THRESHOLD
    assert judge([[7e-6 + 2e-11, 0.3]], [[7e-6, 0.3]], allowance=1e-10)[1:] == (True, 1, 0)
    assert judge([[7e-6 + 2e-11, 0.3]], [[7e-6, 0.3]], allowance=1e-11)[1:] == (False, 0, 0)
    assert judge([[0.3 * (1 + 1e-8)]], [[0.3]], allowance=0.0)[1:] == (True, 0, 0)
    assert judge([[0.3 * (1 + 1e-6)]], [[0.3]], allowance=1e-10)[1:] == (False, 0, 0)


def test_judge_leaves_entries_at_a_kink_unjudged_and_counts_them():
    assert judge([[0.5, 0.3]], [[0.25, 0.3]], at_kink=[[True, False]]) == (0.0, True, 0, 1)
    assert judge([[0.5, 0.3]], [[0.25, 0.3]], at_kink=[[False, False]]).passed is False


def test_an_entry_whose_difference_straddles_a_relu_kink_is_not_judged_and_others_still_are():
    """3→4→4→4→2, 5 samples, seed 87: nudging W1 moves a hidden z across 0 (was FAIL at 4e-3)."""
    rows = gradient_check((3, 4, 4, 4, 2), 5, 87)
    assert all(row.passed for row in rows)
    assert {row.name: row.at_kink for row in rows if row.at_kink} == {"W1": 3, "b1": 1}
    wrong = gradient_check((3, 4, 4, 4, 2), 5, 87, backward_fn=_scaled(pure.backward, 0, 1.01))
    assert [row.name for row in wrong if not row.passed] == ["W1"]


def test_kink_watch_flags_an_entry_only_when_the_relu_pattern_changes_between_its_two_calls():
    from pure.gradcheck import KinkWatch
    results = iter([((True, False), 1.0), ((True, False), 0.5),     # entry 0: same pattern
                    ((True, True), 2.0), ((True, False), 1.0)])     # entry 1: a ReLU switched
    watch = KinkWatch(lambda: next(results))
    assert [watch() for _ in range(4)] == [1.0, 0.5, 2.0, 1.0]
    assert watch.take(1, 2) == [[False, True]]
    assert watch.take(0, 0) == []


def test_native_numerical_gradient_refuses_float32_naming_the_argument():
    param = np.ones((2, 2), dtype=np.float32)
    with pytest.raises(TypeError, match="param must be float64 .* got float32"):
        import native
        native.numerical_gradient(lambda: float(param.sum()), param)
    assert (param == 1).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_gradient_of_nan_or_inf_never_passes(bad):
    assert relative_error(bad, 0.3) == float("inf") and relative_error(0.3, bad) == float("inf")
    assert judge([[bad, 0.3]], [[0.3, 0.3]], allowance=1.0).passed is False

    def nan_backward(activations, pre_activations, weights, y_onehot):
        grad_w, grad_b = pure.backward(activations, pre_activations, weights, y_onehot)
        grad_b[1][0][0] = bad
        return grad_w, grad_b
    assert [row.name for row in gradient_check(backward_fn=nan_backward) if not row.passed] == ["b2"]


def _output_z_at_zero(sizes=(3, 4, 2), samples=2, seed=3):
    """A real problem whose first output pre-activation z sits at 0: nudging W2's first
    column moves it across 0. The output layer has no ReLU, so no entry is at a kink."""
    from pure.gradcheck import random_problem
    X, Y, W, B = random_problem(list(sizes), samples, seed)
    _, pres = pure.forward(X, W, B)
    B[-1][0][0] -= pres[-1][0][0]
    _, pres = pure.forward(X, W, B)
    assert abs(pres[-1][0][0]) < 1e-12 and count_open_hidden(pres) > 0
    return X, Y, W, B


def count_open_hidden(pres):
    return sum(z > 0 for Z in pres[:-1] for row in Z for z in row)


def test_the_pure_kink_watch_ignores_the_output_layer_which_has_no_relu():
    """On a real check (not a stub): an output z crossing 0 flags nothing, and a wrong
    output-layer gradient still fails there (a watch that covered the output would skip it)."""
    from pure.gradcheck import check_backward
    X, Y, W, B = _output_z_at_zero()
    rows = check_backward(X, Y, W, B)
    assert all(row.passed for row in rows) and not any(row.at_kink for row in rows)
    wrong = check_backward(X, Y, W, B, backward_fn=_scaled(pure.backward, 1, 1.01))
    assert [row.name for row in wrong if not row.passed] == ["W2"]


def test_the_native_kink_watch_ignores_the_output_layer_which_has_no_relu():
    from native import gradcheck as ng
    X, Y, W, B = _output_z_at_zero()
    problem = ng._Problem.__new__(ng._Problem)
    problem.X, problem.Y, problem.W, problem.B = X, Y, W, B
    problem.Xn, problem.Yn = np.array(X), np.array(Y)
    problem.Wn, problem.Bn = [np.array(w) for w in W], [np.array(b) for b in B]
    for name, _, _, param in problem.parameters():
        _, at_kink = problem.numerical(param)
        assert not any(flag for row in at_kink for flag in row), name
