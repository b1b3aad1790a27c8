"""The feature-level augmentation: a frequency warp moves a tone where a tone of the scaled frequency sits, masks
zero what they say and nothing else, and a seeded generator repeats them."""

from __future__ import annotations

import pytest
import torch
from tones import RATE, tone

from rnnkit.recipes.speech.features import FeatureConfig, features
from rnnkit.recipes.speech.specaugment import SpecAugmentConfig, spec_augment, warp, warp_positions

FC = FeatureConfig(rate=RATE)


def peak_band(x: torch.Tensor) -> int:
    """The band with the most energy, averaged over the middle steps and the stacked frames."""
    bands = x.reshape(x.shape[0], -1, FC.n_mels)[5:-5]  # (T, stack, n_mels), away from the fades
    return int(bands.mean((0, 1)).argmax())


def test_no_warp_reads_every_band_from_itself():
    torch.testing.assert_close(warp_positions(FC, 1.0), torch.arange(FC.n_mels, dtype=torch.float32), atol=1e-4, rtol=0)
    x = torch.randn(7, FC.stack * FC.n_mels)
    torch.testing.assert_close(warp(x, FC, 1.0), x, atol=1e-4, rtol=0)


@pytest.mark.parametrize("beta", [1.15, 1 / 1.15])
def test_warping_a_tone_puts_it_where_the_scaled_tone_is(beta: float):
    x = features(tone(1000.0, 0.5), FC)
    assert peak_band(warp(x, FC, beta)) == peak_band(features(tone(1000.0 * beta, 0.5), FC))
    assert peak_band(warp(x, FC, beta)) != peak_band(x)


def test_masks_zero_whole_bands_and_steps_and_leave_the_input_alone():
    x = torch.randn(60, FC.stack * FC.n_mels) + 10.0  # nothing near zero before masking
    before = x.clone()
    config = SpecAugmentConfig(warp=0.0, freq_masks=2, time_masks=2)
    y = spec_augment(x, FC, config, torch.Generator().manual_seed(1))
    assert torch.equal(x, before)
    zero = y.reshape(60, FC.stack, FC.n_mels) == 0
    steps = zero.all(2).all(1)  # (T,) whole steps masked
    bands = zero.all(0)  # (stack, n_mels) bands masked in every step
    assert (bands == bands[0]).all()  # every stacked frame of a step loses the same bands
    assert int(bands[0].sum()) <= 2 * round(0.2 * FC.n_mels)
    assert int(steps.sum()) <= 2 * 4
    assert torch.equal(zero, bands.unsqueeze(0) | steps[:, None, None])  # zero only where a mask is
    assert torch.equal(y, spec_augment(x, FC, config, torch.Generator().manual_seed(1)))  # seeded: the same copy


def test_turned_off_it_is_the_identity():
    x = torch.randn(20, FC.stack * FC.n_mels)
    off = SpecAugmentConfig(warp=0.0, freq_masks=0, time_masks=0)
    assert torch.equal(spec_augment(x, FC, off, torch.Generator().manual_seed(0)), x)
