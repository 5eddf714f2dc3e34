"""Contract C2: ``native.gradcheck.exercise3_errors`` — exercise 3's numbers per parameter."""
import pytest

from native.gradcheck import exercise3_errors


def test_exercise3_errors_names_every_parameter_like_the_chapter_and_holds_plain_floats():
    result = exercise3_errors()
    assert set(result) == {"parameters", "pure", "native", "chapter_bias", "threshold"}
    assert result["parameters"] == ["W1", "b1", "W2", "b2"]
    for key in ("pure", "native", "threshold"):
        assert len(result[key]) == 4 and all(type(x) is float for x in result[key]), key
    assert [type(x) for x in result["chapter_bias"]] == [type(None), float, type(None), float]


def test_exercise3_errors_pass_for_backward_and_fail_for_the_chapters_mean_bias():
    result = exercise3_errors()
    for name, p, n, t in zip(result["parameters"], result["pure"], result["native"], result["threshold"]):
        assert p <= t and n <= t, name
    # mean(δ) = sum(δ)/N with N = 3: a = n/3, so |a−n| / (|a|+|n|) = (2/3) / (4/3) = 1/2
    for bias_error, t in zip(result["chapter_bias"][1::2], result["threshold"][1::2]):
        assert bias_error == pytest.approx(0.5, rel=1e-6) and bias_error > t


def test_exercise3_errors_is_deterministic_and_follows_its_arguments():
    assert exercise3_errors((3, 4, 4, 2), 5, 1) == exercise3_errors((3, 4, 4, 2), 5, 1)
    deep = exercise3_errors(sizes=(3, 4, 4, 2), samples=5, seed=1)
    assert deep["parameters"] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert deep["chapter_bias"][1] == pytest.approx(1 - 2 / 6, rel=1e-6)   # N = 5: (4/5)/(6/5)
