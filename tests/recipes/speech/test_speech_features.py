"""The mel filterbank against a hand computation, and log-mel frames on tones whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tones import RATE, tone

from rnnkit.recipes.speech.features import FeatureConfig, features, log_mel, mel_filterbank, normalise, stack_frames


def test_one_filter_by_hand():
    # 8 kHz, n_fft 8: bins at 0, 1000, 2000, 3000, 4000 Hz. One filter from 0 to 4000 Hz:
    # mel(4000) = 2595 log10(1 + 4000/700) = 2146.06; its peak is at mel 1073.03, i.e.
    # 700 (10^(1073.03/2595) - 1) = 1113.9 Hz. Rising 0 -> 1113.9, falling 1113.9 -> 4000.
    top = 2595 * math.log10(1 + 4000 / 700)
    peak = 700 * (10 ** (top / 2 / 2595) - 1)
    assert peak == pytest.approx(1113.9, abs=0.1)
    expected = [0.0, 1000 / peak, (4000 - 2000) / (4000 - peak), (4000 - 3000) / (4000 - peak), 0.0]
    got = mel_filterbank(1, 8, 8000, 0.0, 4000.0)
    assert got.shape == (1, 5)
    torch.testing.assert_close(got[0], torch.tensor(expected, dtype=torch.float32))


def test_filters_are_triangles_that_tile_the_band():
    fb = mel_filterbank(40, 512, RATE, 100.0, 3800.0).numpy()  # (40, 257)
    freqs = np.arange(257) * RATE / 512
    assert fb.max() <= 1.0
    assert (fb[:, freqs < 100] == 0).all()
    assert (fb[:, freqs > 3800] == 0).all()
    first, last = fb[0].argmax(), fb[-1].argmax()
    inside = (freqs > freqs[first]) & (freqs < freqs[last])  # strictly between the bins nearest the two peaks
    # each triangle falls as its neighbour rises: between the first and the last peak, the filters sum to 1
    np.testing.assert_allclose(fb[:, inside].sum(0), 1.0, atol=1e-6)
    assert (np.diff(fb.argmax(1)) > 0).all()  # peaks rise with the filter index


def test_bad_band_is_refused():
    with pytest.raises(ValueError, match="fmax <= rate/2"):
        mel_filterbank(10, 512, 8000, 100.0, 5000.0)


def test_a_tone_lights_its_band_and_frames_have_the_expected_count():
    config = FeatureConfig()
    fb = mel_filterbank(config.n_mels, config.n_fft, RATE, config.fmin, config.fmax)
    for freq in (500.0, 1500.0, 3000.0):
        frames = log_mel(tone(freq, 1.0), config)  # (T, n_mels)
        assert frames.shape == (1 + 16000 // 160, config.n_mels)  # centred frames every 10 ms
        band = int(frames[20:80].mean(0).argmax())
        bin_ = round(freq * config.n_fft / RATE)
        assert band == int(fb[:, bin_].argmax())


def test_normalise_and_stack():
    x = torch.randn(10, 3) * 5 + 2
    z = normalise(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(3), atol=1e-5, rtol=0)
    assert normalise(torch.ones(5, 2)).abs().max() == 0  # a constant band stays zero, not NaN
    s = stack_frames(torch.arange(14.0).reshape(7, 2), 3)  # 7 frames -> 3 steps, the last frame repeated
    assert s.tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [12, 13, 12, 13, 12, 13]]
    assert features(tone(440.0, 0.3), FeatureConfig(stack=3)).shape == (11, 120)  # 31 frames -> 11 steps
