"""Hand-made audio for the speech tests: each digit word is a distinct pair of tone bursts, each
"speaker" shifts the pitch and tempo, and files are written with the stdlib ``wave`` module alone."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 16000


def tone(freq: float, seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fade in and out: no clicks
    return (0.4 * ramp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def word(w: int, pitch: float, tempo: float) -> np.ndarray:
    """Word id ``w`` (0..10): a low burst then a high one, both set by the word, scaled by the speaker."""
    low, high = 300 + 200 * w, 3600 - 250 * w
    return np.concatenate([tone(low * pitch, 0.12 * tempo), tone(high * pitch, 0.12 * tempo)])


def utterance(words: list[int], pitch: float, tempo: float, rng: np.random.Generator) -> np.ndarray:
    parts = [np.zeros(int(rng.uniform(0.05, 0.15) * RATE), np.float32)]
    for w in words:
        parts += [word(w, pitch, tempo), np.zeros(int(rng.uniform(0.05, 0.2) * RATE), np.float32)]
    x = np.concatenate(parts)
    return x + 0.01 * rng.standard_normal(x.size).astype(np.float32)


def write(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1, width: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if width == 2:
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    else:
        pcm = ((np.clip(samples, -1, 1) * 127) + 128).astype(np.uint8)  # 8-bit WAV is unsigned
    frames = np.repeat(pcm, channels) if channels > 1 else pcm
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return path


SYMBOLS = "zo123456789"


def corpus(root: Path, speakers: int, words: list[int], takes: int, max_digits: int, seed: int = 0) -> Path:
    """DIR/<speaker>/<digits>_<n>.wav for ``speakers`` tone speakers (each its own pitch and tempo)."""
    rng = np.random.default_rng(seed)
    for s in range(speakers):
        # a few % apart: words stay apart
        pitch, tempo = 0.96 + 0.08 * s / max(speakers - 1, 1), float(rng.uniform(0.8, 1.2))
        for n in range(takes):
            ws = [int(w) for w in rng.choice(words, size=int(rng.integers(1, max_digits + 1)))]
            text = "".join(SYMBOLS[w] for w in ws)
            write(root / f"spk{s}" / f"{text}_{n}.wav", utterance(ws, pitch, tempo, rng))
    return root


def train_on_tones(root: Path, recipe: str, flags: list[str]) -> Path:
    """A connected-digits recipe trained on a small tone corpus (5 speakers, strings of up to 3 of 3 tone words,
    25 epochs, beam 4) in ROOT/run; ``flags`` make the model tiny."""
    from rnnkit.cli import main

    corpus(root / "data", speakers=5, words=[2, 3, 4], takes=24, max_digits=3)
    out = root / "run"
    assert main(["recipe", recipe, "--data-dir", str(root / "data"), "--out", str(out), "--epochs", "25",
                 "--beam", "4", *flags]) == 0
    return out
