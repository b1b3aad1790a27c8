"""The Wilson score interval of a test accuracy, against worked values and its defining equation."""

from __future__ import annotations

import math

import pytest

from rnnkit.recipes.classify import wilson_interval


def test_wilson_interval_at_all_right_and_all_wrong():
    # k = n = 10, z = 1.96 by hand: z^2 = 3.8416, scale 1.38416, centre 1.19208 / 1.38416 = 0.861229,
    # half 1.96 * 0.098 / 1.38416 = 0.138770 -> (0.722459, 1); k = 0 mirrors it
    assert wilson_interval(10, 10) == pytest.approx((0.722459, 1.0), abs=1e-6)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.277541), abs=1e-6)


@pytest.mark.parametrize(("k", "n"), [(1, 2), (45, 50), (359, 370), (136, 150)])
def test_wilson_bounds_solve_the_score_equation(k: int, n: int):
    # the bounds are the two proportions p0 whose score test sits exactly at z: (k/n - p0)^2 = z^2 p0 (1 - p0) / n
    z = 1.96
    low, high = wilson_interval(k, n, z)
    assert low < k / n < high
    for p0 in (low, high):
        assert (k / n - p0) ** 2 == pytest.approx(z * z * p0 * (1 - p0) / n, rel=1e-9)
    assert math.isclose(sum(wilson_interval(n - k, n, z)), 2 - low - high)  # symmetric under k -> n - k


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError, match="need 0 <= successes <= n and n > 0, got 11 of 10"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="got 0 of 0"):
        wilson_interval(0, 0)
