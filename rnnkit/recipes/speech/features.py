"""Log-mel features: a short-time Fourier transform, a mel filterbank, a log, per-utterance normalisation.

    X[t, k]   = sum_n w[n] x[t*hop + n] exp(-2 pi i k n / N_fft)        (torch.stft, Hann window w)
    P[t, k]   = |X[t, k]|^2                                               power spectrum, k = 0..N_fft/2
    mel(f)    = 2595 log10(1 + f / 700)                                   (the HTK mel scale)
    M[m, k]   = triangle m at frequency f_k: rising from mel point m-1 to m, falling to m+1
    L[t, m]   = log(sum_k M[m, k] P[t, k] + eps)
    Z[t, m]   = (L[t, m] - mean_t L[., m]) / std_t L[., m]                per-utterance, per-band normalisation

The normalisation removes a recording's overall level and its channel's colouring (a cepstral
mean normalisation in the log-mel domain), which is most of what separates a telephone prompt
from a synthesiser's output. Frames are then stacked ``stack`` at a time and the rate divided by
it (T/stack steps of stack*n_mels values), so the recurrent layers take fewer, richer steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes frames (stored with a trained model: the same settings must be used on new audio)."""

    rate: int = 16000  # Hz; every input is resampled to this
    n_fft: int = 512  # 32 ms at 16 kHz: the next power of two above the window
    win_ms: float = 25.0  # the usual speech analysis window
    hop_ms: float = 10.0  # the usual frame shift
    n_mels: int = 40  # bands between fmin and fmax
    fmin: float = 100.0  # Hz; below: hum and the telephone band's cut
    fmax: float = 3800.0  # Hz; under 4 kHz so an 8 kHz telephone recording fills every band
    stack: int = 3  # frames stacked into one recurrent step (30 ms steps)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale: 2595 log10(1 + f/700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """The inverse of ``hz_to_mel``: f = 700 (10^(m / 2595) - 1)."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, rate: int, fmin: float, fmax: float) -> Tensor:
    """Triangular filters (n_mels, n_fft//2 + 1) with peaks equally spaced in mel, each 1 at its peak.

    Filter m rises linearly in Hz from point m-1 to its peak at point m and falls to point m+1,
    where the n_mels + 2 points are equally spaced on the mel scale from fmin to fmax.
    """
    if not 0 <= fmin < fmax <= rate / 2:
        raise ValueError(f"mel_filterbank: need 0 <= fmin < fmax <= rate/2 = {rate / 2}, got fmin={fmin}, fmax={fmax}.")
    points = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # (n_mels + 2,) Hz
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft  # (K,) Hz of each FFT bin
    lower, peak, upper = points[:-2, None], points[1:-1, None], points[2:, None]  # (n_mels, 1) each
    rising = (freqs - lower) / (peak - lower)  # (n_mels, K)
    falling = (upper - freqs) / (upper - peak)
    return torch.from_numpy(np.maximum(0.0, np.minimum(rising, falling))).float()  # (n_mels, K)


def log_mel(samples: np.ndarray | Tensor, config: FeatureConfig) -> Tensor:
    """Log mel energies (T, n_mels) of mono ``samples`` at ``config.rate`` (not normalised)."""
    x = torch.as_tensor(samples, dtype=torch.float32)
    win = round(config.win_ms * config.rate / 1000)
    hop = round(config.hop_ms * config.rate / 1000)
    if x.numel() < win:
        x = torch.nn.functional.pad(x, (0, win - x.numel()))  # a click shorter than one window still gets a frame
    spec = torch.stft(x, config.n_fft, hop_length=hop, win_length=win, window=torch.hann_window(win),
                      center=True, return_complex=True)  # (K, T)
    power = spec.abs() ** 2  # (K, T)
    fbank = mel_filterbank(config.n_mels, config.n_fft, config.rate, config.fmin, config.fmax)  # (n_mels, K)
    return torch.log(fbank @ power + 1e-6).T  # (T, n_mels)


def normalise(frames: Tensor) -> Tensor:
    """Per-utterance, per-band standardisation of (T, F) frames (a silent band keeps zero, not NaN)."""
    mean = frames.mean(0, keepdim=True)  # (1, F)
    std = frames.std(0, unbiased=False, keepdim=True).clamp(min=1e-3)  # (1, F)
    return (frames - mean) / std


def stack_frames(frames: Tensor, stack: int) -> Tensor:
    """(T, F) -> (ceil(T/stack), stack*F): each step the next ``stack`` frames side by side (the last padded by
    repeating)."""
    T = frames.shape[0]
    pad = (-T) % stack
    if pad:
        frames = torch.cat([frames, frames[-1:].expand(pad, -1)])
    return frames.reshape(-1, stack * frames.shape[1])  # (T/stack, stack*F)


def features(samples: np.ndarray | Tensor, config: FeatureConfig) -> Tensor:
    """The model's input for one utterance: normalised log-mel frames, stacked: (T/stack, stack*n_mels)."""
    return stack_frames(normalise(log_mel(samples, config)), config.stack)
