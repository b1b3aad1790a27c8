"""The synthesisers themselves (slow: fetches espeak-ng and flite as .debs when not installed; skips when neither
works)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.recipes.speech import synth
from rnnkit.recipes.speech.features import FeatureConfig, features


def engines_or_skip() -> dict[str, synth.Engine]:
    try:
        return {"espeak": synth.espeak(), "flite": synth.flite()}
    except FileNotFoundError as e:
        pytest.skip(f"espeak-ng/flite cannot be had here: {e}")


@pytest.mark.slow
def test_voices_speak_the_words_at_their_speed():
    engines = engines_or_skip()
    variants = synth.espeak_variants(engines["espeak"])
    assert {"m1", "f1", "klatt", "whisper"} <= set(variants)
    assert len(variants) > 50
    slow, fast = synth.render([synth.Take("espeak:m3", "three nine oh one", 120, 50),
                               synth.Take("espeak:m3", "three nine oh one", 240, 50)], engines, 16000)
    assert 1.5 < slow.size / fast.size < 2.5  # twice the words per minute: about half the length
    for name in synth.FLITE_VOICES:
        (audio,) = synth.render([synth.Take(f"flite:{name}", "seven", 175, 120)], engines, 16000)
        assert 0.2 < audio.size / 16000 < 2.0
        assert np.abs(audio).max() > 0.05
        assert np.isfinite(features(audio, FeatureConfig()).numpy()).all()


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown voice 'festival:x'"):
        synth.command(synth.Take("festival:x", "one", 175, 50), {}, Path("out.wav"))
