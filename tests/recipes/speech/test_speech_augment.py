"""Augmentations do what their equations say: the SNR is the one asked for, speed changes length and pitch,
the telephone band drops what a phone line drops."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from tones import RATE, tone

from rnnkit.recipes.speech import augment as augment_module
from rnnkit.recipes.speech.augment import add_noise, augment, echo, gain, pink_noise, shift, speed, telephone
from rnnkit.recipes.speech.data import Utterance
from rnnkit.recipes.speech.recipe import versions


def power(x: np.ndarray) -> float:
    return float(np.mean(x.astype(np.float64) ** 2))


@pytest.mark.parametrize("snr", [20.0, 5.0])
def test_noise_at_the_asked_snr(snr: float):
    x = tone(700.0, 0.5)
    n = pink_noise(x.size, np.random.default_rng(0))
    y = add_noise(x, snr, n)
    assert 10 * np.log10(power(x) / power(y - x)) == pytest.approx(snr, abs=1e-3)


def test_speed_gain_shift():
    x = tone(1000.0, 1.0)
    fast = speed(x, 1.1)
    assert fast.size == pytest.approx(RATE / 1.1, abs=2)
    assert np.argmax(np.abs(np.fft.rfft(fast))) * RATE / fast.size == pytest.approx(1100.0, abs=3)
    assert power(gain(x, 6.0)) / power(x) == pytest.approx(10 ** 0.6, rel=1e-4)
    s = shift(x, 100, 50)
    assert s.size == x.size + 150
    assert not s[:100].any()
    assert not s[-50:].any()


def test_telephone_band():
    low, mid, high = (power(telephone(tone(f, 0.5), RATE)[2000:-2000]) / power(tone(f, 0.5)[2000:-2000])
                      for f in (100.0, 1000.0, 5000.0))
    assert mid > 0.8
    assert low < 0.05
    assert high < 0.01


def test_augment_is_seeded():
    x = tone(500.0, 0.4)
    a, b = augment(x, RATE, np.random.default_rng(3)), augment(x, RATE, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 1.0


def test_echo_adds_one_delayed_quieter_copy():
    x = np.zeros(10, np.float32)
    x[2] = 1.0  # an impulse at sample 2
    y = echo(x, 5, 0.4)
    assert y.size == 15
    assert np.flatnonzero(y).tolist() == [2, 7]
    assert y[2] == 1.0
    assert y[7] == pytest.approx(0.4)


def _recording_speed(factors: list[float]) -> Callable[[np.ndarray, float], np.ndarray]:
    """A stand-in for augment.speed that records each factor and returns the samples unchanged."""

    def speed(samples: np.ndarray, factor: float) -> np.ndarray:
        factors.append(factor)
        return samples

    return speed


def test_augment_speed_range(monkeypatch: pytest.MonkeyPatch):
    x = tone(500.0, 0.2)
    np.testing.assert_array_equal(augment(x, RATE, np.random.default_rng(5)),  # the default is the range 0.1
                                  augment(x, RATE, np.random.default_rng(5), speed_range=0.1))
    factors: list[float] = []
    monkeypatch.setattr(augment_module, "speed", _recording_speed(factors))
    for range_, low, high in [(0.1, 0.9, 1.1), (0.3, 0.7, 1.3)]:
        factors.clear()
        rng = np.random.default_rng(0)
        for _ in range(200):
            augment(x, RATE, rng, speed_range=range_)
        assert 70 < len(factors) < 130  # p 0.5
        assert low <= min(factors) < low + 0.05
        assert high - 0.05 < max(factors) <= high
    with pytest.raises(ValueError, match="speed_range must be in \\[0, 1\\), got 1.0"):
        augment(x, RATE, np.random.default_rng(0), speed_range=1.0)


def test_recipe_copies_use_the_speed_setting(monkeypatch: pytest.MonkeyPatch):
    factors: list[float] = []
    monkeypatch.setattr(augment_module, "speed", _recording_speed(factors))
    utterances = [Utterance(tone(500.0, 0.1), [1], "v", f"u{i}") for i in range(100)]
    kept = list(versions(utterances, RATE, copies=1, seed=0, speed=0.3))
    assert len(kept) == 200
    assert kept[0][0] is utterances[0].samples  # the original first, then its copy
    assert min(factors) < 0.85
    assert max(factors) > 1.15
