"""Digit error rate and string accuracy on cases worked by hand."""

from __future__ import annotations

import pytest

from rnnkit.recipes.speech.metrics import (
    edit_distance,
    error_rate,
    string_accuracy,
    voice_error_rate,
    voice_error_rates,
)


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


def test_voice_error_rate_weighs_each_voice_the_same():
    # voice a: 3 strings, 6 digits, 0 errors; voice b: 1 string, 2 digits, 1 substitution
    refs = [[1, 2], [3, 4], [5, 6], [7, 8]]
    hyps = [[1, 2], [3, 4], [5, 6], [7, 9]]
    voices = ["a", "a", "a", "b"]
    assert voice_error_rates(refs, hyps, voices) == {"a": 0.0, "b": 0.5}
    assert voice_error_rate(refs, hyps, voices) == pytest.approx((0.0 + 0.5) / 2)  # not 1 / 8, the corpus rate
    assert error_rate(refs, hyps) == pytest.approx(1 / 8)
    with pytest.raises(ValueError, match="4 references, 4 hypotheses and 3 voices"):
        voice_error_rate(refs, hyps, voices[:3])
