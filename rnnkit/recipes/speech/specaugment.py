"""Augmenting feature frames on the fly: a warp of the frequency axis and SpecAugment's masks.

Applied to each training utterance's stacked log-mel steps every time it is drawn, so every epoch
sees new versions (the audio-level copies of ``augment.py`` are made once, before training).

    warp:  Z'[t, m] = Z[t, p_m],  p_m = the band position of f_m / beta,  beta in [1/(1+w), 1+w]
           f_m is band m's centre in Hz: the spectrum's frequencies scaled by beta, as a shorter
           (beta > 1) or longer vocal tract scales the formants (VTLP: Jaitly and Hinton, 2013);
           positions between bands are interpolated, beyond the last band read the last
    freq:  Z'[t, m] = 0 for m in [m0, m0 + f), f uniform in [0, F]      (Park et al., 2019), F a share of n_mels
    time:  Z'[t, m] = 0 for t in [t0, t0 + s), s uniform in [0, S]

Zero is each band's mean after the per-utterance normalisation. A stacked step holds ``stack``
frames of ``n_mels`` bands; warps and frequency masks act on every frame of it alike. Time masks
are kept short (S = 4 steps, 120 ms at 30 ms a step) so that none hides a whole word: a word
the model cannot hear would make its CTC target wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.recipes.speech.features import FeatureConfig, hz_to_mel, mel_to_hz


@dataclass(frozen=True)
class SpecAugmentConfig:
    """How strongly to augment: 0 turns each part off."""

    warp: float = 0.15  # w: formants scaled by up to 15% either way
    freq_masks: int = 2  # frequency masks per utterance
    freq_share: float = 0.2  # F / n_mels: the widest, as a share of the bands (8 of 40)
    time_masks: int = 2  # time masks per utterance
    time_width: int = 4  # S: the longest, in steps


def warp_positions(fc: FeatureConfig, beta: float) -> Tensor:
    """(n_mels,) the fractional band each band reads when frequencies are scaled by ``beta``."""
    edges = np.linspace(hz_to_mel(fc.fmin), hz_to_mel(fc.fmax), fc.n_mels + 2)  # mel points of the filterbank
    centres = mel_to_hz(edges[1:-1])  # (n_mels,) Hz
    source = hz_to_mel(centres / beta)  # where each band's energy comes from, in mel
    position = (source - edges[1]) / (edges[2] - edges[1])  # in bands: centres are equally spaced in mel
    return torch.from_numpy(np.clip(position, 0.0, fc.n_mels - 1)).float()


def warp(x: Tensor, fc: FeatureConfig, beta: float) -> Tensor:
    """(T, stack*n_mels) -> the same with every frame's bands read at ``warp_positions`` (linear interpolation)."""
    p = warp_positions(fc, beta)  # (n_mels,)
    lo = p.floor().long()
    hi = (lo + 1).clamp(max=fc.n_mels - 1)
    frac = p - lo  # (n_mels,)
    bands = x.reshape(x.shape[0], -1, fc.n_mels)  # (T, stack, n_mels)
    return (bands[..., lo] * (1 - frac) + bands[..., hi] * frac).reshape(x.shape)


def spec_augment(x: Tensor, fc: FeatureConfig, config: SpecAugmentConfig, generator: torch.Generator) -> Tensor:
    """A new augmented copy of one utterance's (T, stack*n_mels) features (``x`` is left alone)."""
    if config.warp > 0:
        w = torch.empty(()).uniform_(-1.0, 1.0, generator=generator).item()  # log-uniform beta in [1/(1+w), 1+w]
        x = warp(x, fc, float(np.exp(w * np.log1p(config.warp))))
    else:
        x = x.clone()
    bands = x.view(x.shape[0], -1, fc.n_mels)  # (T, stack, n_mels), shares memory with x
    widest = round(config.freq_share * fc.n_mels)  # F
    for _ in range(config.freq_masks):
        f = int(torch.randint(0, widest + 1, (), generator=generator))
        m0 = int(torch.randint(0, max(fc.n_mels - f, 0) + 1, (), generator=generator))
        bands[:, :, m0 : m0 + f] = 0.0
    for _ in range(config.time_masks):
        s = min(int(torch.randint(0, config.time_width + 1, (), generator=generator)), x.shape[0] // 4)
        t0 = int(torch.randint(0, x.shape[0] - s + 1, (), generator=generator))
        x[t0 : t0 + s] = 0.0
    return x
