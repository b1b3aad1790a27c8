"""Augmenting audio as a speech system's training would: speed, echo, noise, gain, time shift, telephone band.

    speed:      x'(t) = x(a t), a in [1-r, 1+r]    resampling: tempo and pitch both scale by a (Ko et al., 2015: r 0.1)
    noise:      x' = x + s n,  s^2 = P_x / (P_n 10^(SNR/10))     white or pink n, SNR in dB over the whole clip
    gain:       x' = 10^(g/20) x
    shift:      silence of a random length before and after the speech
    telephone:  band-pass 300-3400 Hz, down to 8 kHz and back: what a phone line leaves of the signal
    echo:       x'[n] = x[n] + g x[n - d],  d in [50, 250] ms, g in [0.2, 0.6]: one reflection off a hard
                wall, the crudest room (and what espeak-ng's own echo setting adds to some of its voices)

Pitch is varied where the voice is made (the synthesiser's pitch setting, ``synth.py``); speed
both there and here. Every function takes the samples and returns new ones; ``augment`` draws
one random chain from a NumPy generator, so a seeded run makes the same copies.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

SNRS_DB = (20.0, 10.0, 5.0)  # clean-ish, noisy, very noisy


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (shorter and higher for factor > 1) by resampling."""
    ratio = Fraction(factor).limit_denominator(50)
    return resample_poly(x, ratio.denominator, ratio.numerator).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with power falling as 1/f: white noise shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    spectrum /= np.sqrt(np.maximum(f, 1.0))  # amplitude 1/sqrt(f): power 1/f
    return np.fft.irfft(spectrum, n).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, noise: np.ndarray) -> np.ndarray:
    """``x`` plus ``noise`` scaled so that power(x) / power(scaled noise) = 10^(snr_db/10)."""
    p_x = float(np.mean(x.astype(np.float64) ** 2))
    p_n = float(np.mean(noise.astype(np.float64) ** 2))
    if p_x == 0.0 or p_n == 0.0:
        return x.copy()
    scale = np.sqrt(p_x / (p_n * 10.0 ** (snr_db / 10.0)))
    return (x + scale * noise[: x.size]).astype(np.float32)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    """``x`` made louder by ``db`` decibels (quieter if negative): amplitude times 10^(db/20)."""
    return (x * 10.0 ** (db / 20.0)).astype(np.float32)


def shift(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``before`` samples of silence, ``x``, ``after`` samples of silence."""
    return np.concatenate([np.zeros(before, np.float32), x.astype(np.float32), np.zeros(after, np.float32)])


def telephone(x: np.ndarray, rate: int) -> np.ndarray:
    """The 300-3400 Hz band of ``x``, sent through 8 kHz sampling and back to ``rate``."""
    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=rate, output="sos")
    narrow = resample_poly(sosfilt(sos, x), 8000, rate) if rate != 8000 else sosfilt(sos, x)
    return (resample_poly(narrow, rate, 8000) if rate != 8000 else narrow).astype(np.float32)


def echo(x: np.ndarray, delay: int, g: float) -> np.ndarray:
    """``x`` plus a copy ``delay`` samples later and ``g`` times as loud (the result is ``delay`` samples longer)."""
    out = np.concatenate([x.astype(np.float32), np.zeros(delay, np.float32)])
    out[delay:] += g * x
    return out


def augment(x: np.ndarray, rate: int, rng: np.random.Generator, speed_range: float = 0.1) -> np.ndarray:
    """One random chain: speed (p 0.5, a factor in [1 - speed_range, 1 + speed_range]), telephone (p 0.25), echo
    (p 0.3), shift, noise at one of SNRS_DB (p 0.6), gain."""
    if not 0.0 <= speed_range < 1.0:
        raise ValueError(f"augment: speed_range must be in [0, 1), got {speed_range}.")
    if rng.random() < 0.5:
        x = speed(x, float(rng.uniform(1.0 - speed_range, 1.0 + speed_range)))
    if rng.random() < 0.25:
        x = telephone(x, rate)
    if rng.random() < 0.3:
        x = echo(x, int(rng.uniform(0.05, 0.25) * rate), float(rng.uniform(0.2, 0.6)))
    x = shift(x, int(rng.integers(0, rate // 5)), int(rng.integers(0, rate // 5)))  # up to 200 ms either side
    if rng.random() < 0.6:
        n = rng.standard_normal(x.size).astype(np.float32) if rng.random() < 0.5 else pink_noise(x.size, rng)
        x = add_noise(x, float(rng.choice(SNRS_DB)), n)
    x = gain(x, float(rng.uniform(-12.0, 6.0)))
    return np.clip(x, -1.0, 1.0)
