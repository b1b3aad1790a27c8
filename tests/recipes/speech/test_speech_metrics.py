"""Digit error rate, string accuracy and the Wilson interval on cases worked by hand."""

from __future__ import annotations

import pytest

from rnnkit.recipes.speech.metrics import edit_distance, error_rate, string_accuracy, wilson


def test_edit_distance_by_hand():
    assert edit_distance("kitten", "sitting") == 3  # k->s, e->i, +g
    assert edit_distance([1, 2, 3], []) == 3
    assert edit_distance([], [4]) == 1
    assert edit_distance([3, 9, 1], [3, 1]) == 1


def test_error_rate_and_string_accuracy_by_hand():
    refs = [[1, 2, 3], [4, 5], [6]]
    hyps = [[1, 3], [4, 5, 6], [6]]  # one deletion, one insertion, one exact: 2 errors in 6 reference digits
    assert error_rate(refs, hyps) == pytest.approx(2 / 6)
    assert string_accuracy(refs, hyps) == pytest.approx(1 / 3)
    assert error_rate([[1, 2]], [[7, 7, 7, 7]]) == 2.0  # insertions make it exceed 1
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        error_rate([[1], [2]], [[1]])


def test_wilson_by_hand():
    # 0 of 21: low 0, high z^2 / (n + z^2) = 3.8416 / 24.8416
    assert wilson(0, 21) == pytest.approx((0.0, 3.8416 / 24.8416))
    # 10 of 20: centre 0.5; half = 1.96 / (1 + 3.8416/20) * sqrt(0.25/20 + 3.8416/1600) = 0.2007
    low, high = wilson(10, 20)
    assert (low, high) == pytest.approx((0.2993, 0.7007), abs=1e-4)
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson(3, 2)
