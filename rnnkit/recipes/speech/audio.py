"""Reading and writing WAV files (16-bit PCM, the stdlib ``wave`` module) and resampling.

Every error a user's file can cause names the file and says what to do: a file that is not a
RIFF/WAVE file, a compressed or 8/24/32-bit one, a stereo one (unless the caller asks to mix the
channels down), an empty one. A different sample rate is resampled (polyphase filtering,
``scipy.signal.resample_poly``) to the rate asked for.
"""

from __future__ import annotations

import io
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

MIN_RATE = 4000  # below this nothing of speech above 2 kHz survives; refuse rather than guess


def decode_wav(raw: bytes, name: str, rate: int, mix: bool = False) -> np.ndarray:
    """The samples of a WAV file's bytes as float32 in [-1, 1], mono, at ``rate`` Hz.

    Args:
        name: the file's name, for error messages.
        mix: average several channels into one (else a multi-channel file is an error).
    Raises:
        ValueError: naming ``name``, when the bytes are not 16-bit PCM WAV audio that can be used.
    """
    if not raw.startswith(b"RIFF") or raw[8:12] != b"WAVE":
        raise ValueError(f"{name}: not a WAV file (no RIFF/WAVE header; it starts with {raw[:12]!r}). "
                         "Give a .wav file of 16-bit PCM audio (convert with `sox in.mp3 -b 16 out.wav`).")
    try:
        with wave.open(io.BytesIO(raw)) as w:
            channels, width, source_rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            pcm = w.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{name}: a WAV header that cannot be read ({e}). Give 16-bit PCM audio "
                         "(convert with `sox in.wav -b 16 -e signed-integer out.wav`).") from None
    if width != 2:
        raise ValueError(f"{name}: {8 * width}-bit samples; expected 16-bit PCM. Convert with `sox {name} -b 16 "
                         "out.wav`.")
    if channels != 1 and not mix:
        raise ValueError(f"{name}: {channels} channels; expected one (mono). Mix it down (`sox {name} -c 1 out.wav`), "
                         "or ask for the channels to be mixed (`rnnkit listen --mix`).")
    samples = np.frombuffer(pcm[: len(pcm) // (2 * channels) * 2 * channels], dtype="<i2").astype(np.float32) / 32768.0
    if samples.size == 0:
        raise ValueError(f"{name}: no audio samples (the file holds a header only). Give a recording.")
    samples = samples.reshape(-1, channels).mean(1)  # (N,) mono
    if source_rate < MIN_RATE:
        raise ValueError(f"{name}: sample rate {source_rate} Hz; expected at least {MIN_RATE} Hz (speech is recorded "
                         "at 8-48 kHz).")
    return resample(samples, source_rate, rate)


def read_wav(path: str | Path, rate: int, mix: bool = False) -> np.ndarray:
    """``decode_wav`` of a file on disk (a missing file is a FileNotFoundError naming it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}; give a .wav recording.")
    return decode_wav(path.read_bytes(), str(path), rate, mix)


def resample(samples: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    """``samples`` at ``source_rate`` Hz resampled to ``rate`` Hz (polyphase, with scipy's anti-aliasing filter)."""
    if source_rate == rate:
        return samples.astype(np.float32)
    ratio = Fraction(rate, source_rate)  # e.g. 16000/22050 = 320/441
    return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """Mono float samples in [-1, 1] as the bytes of a 16-bit PCM WAV file (values beyond are clipped)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> Path:
    """Write mono ``samples`` as a 16-bit WAV file; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_wav(samples, rate))
    return path
