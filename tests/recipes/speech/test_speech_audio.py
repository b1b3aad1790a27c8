"""Reading WAV files: good files come back as the samples written (resampled if need be); bad ones are
refused with an error that names the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tones import RATE, tone, write

from rnnkit.recipes.speech.audio import read_wav, resample
from rnnkit.recipes.speech.data import parse_digits, read_folder


def test_reads_back_what_was_written(tmp_path: Path):
    x = tone(440.0, 0.5)
    got = read_wav(write(tmp_path / "a.wav", x), RATE)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, (x * 32767).astype(np.int16) / np.float32(32768))  # as tones.write stores them


def test_another_rate_is_resampled_keeping_length_in_seconds_and_pitch(tmp_path: Path):
    x = tone(1000.0, 0.5, rate=8000)
    got = read_wav(write(tmp_path / "phone.wav", x, rate=8000), RATE)
    assert got.size == 8000  # 0.5 s at 16 kHz
    spectrum = np.abs(np.fft.rfft(got))
    assert np.argmax(spectrum) * RATE / got.size == pytest.approx(1000.0, abs=2.0)


def test_resample_identity_and_ratio():
    x = np.random.default_rng(0).standard_normal(441).astype(np.float32)
    assert resample(x, 22050, 22050) is not x
    assert resample(x, 22050, 16000).size == 320


def test_stereo_is_refused_unless_mixed(tmp_path: Path):
    path = write(tmp_path / "stereo.wav", tone(300.0, 0.2), channels=2)
    with pytest.raises(ValueError, match=r"stereo\.wav: 2 channels; expected one.*--mix"):
        read_wav(path, RATE)
    mono = read_wav(path, RATE, mix=True)
    np.testing.assert_allclose(mono, read_wav(write(tmp_path / "m.wav", tone(300.0, 0.2)), RATE))


@pytest.mark.parametrize(("content", "message"), [
    (b"hello, this is a text file, not audio", r"notes\.wav: not a WAV file"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", r"notes\.wav: a WAV header that cannot be read"),
])
def test_not_a_wav_names_the_file(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_wav(path, RATE)


def test_eight_bit_empty_and_missing_files_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match=r"byte\.wav: 8-bit samples; expected 16-bit"):
        read_wav(write(tmp_path / "byte.wav", tone(300.0, 0.1), width=1), RATE)
    with pytest.raises(ValueError, match=r"empty\.wav: no audio samples"):
        read_wav(write(tmp_path / "empty.wav", np.zeros(0, np.float32)), RATE)
    with pytest.raises(FileNotFoundError, match=r"no file .*gone\.wav"):
        read_wav(tmp_path / "gone.wav", RATE)
    with pytest.raises(ValueError, match=r"slow\.wav: sample rate 2000 Hz"):
        read_wav(write(tmp_path / "slow.wav", tone(300.0, 0.1, rate=2000), rate=2000), RATE)


def test_folder_names_are_digit_strings(tmp_path: Path):
    assert parse_digits("3o9z0", "x") == [4, 1, 10, 0, 0]
    write(tmp_path / "ann" / "3o91a.wav", tone(300.0, 0.1))  # TIDIGITS' own name: the trailing a is the take
    write(tmp_path / "ann" / "72_take2.wav", tone(300.0, 0.1))
    speakers = read_folder(tmp_path, RATE)
    assert sorted((u.words for u in speakers["ann"]), key=len) == [[8, 3], [4, 1, 10, 2]]
    write(tmp_path / "bob" / "hello.wav", tone(300.0, 0.1))
    with pytest.raises(ValueError, match=r"bob/hello\.wav: 'hello' is not a digit string"):
        read_folder(tmp_path, RATE)
