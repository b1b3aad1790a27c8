"""Spoken digit data: synthesised voices split by voice, your own recordings, and the real test clips.

Words: "zero", "oh", "one" ... "nine" (11, as in TIDIGITS). Written as symbols: z (zero), o (oh),
1-9; a digit string "3o91" is "three oh nine one".

Synthetic corpus. The voices (espeak-ng's variants and flite's five) are shuffled with the seed and
split: ``test_voices`` + one flite voice never heard in training (the synthetic test), ``dev_voices``
+ one flite voice for early stopping, the rest for training. Each utterance (a ``Take``) draws an
accent, a speed and a pitch; connected strings also draw a pause between words and sometimes a
comma (a longer pause). Audio is cached in ``<cache>/speech/`` under a hash of the takes, so a rerun
with the same settings reads it back instead of synthesising.

Your own recordings (``data_dir``): DIR/<speaker>/<digits>[_anything].wav, where <digits> are the
symbols above (and 0 for zero); TIDIGITS' own names (``3o91a.wav``) qualify. Speakers are split
like voices.

Real test clips: the Asterisk PBX's English prompts, Debian ``asterisk-core-sounds-en-wav``
(en_US_f_Allison/digits/0-9.wav and oh.wav: one speaker, 8 kHz telephone audio, CC-BY-SA 3.0) and
PyPI ``spokennumbers`` 1.0.0 (spokennumbers/default/0-9.wav, stereo 44.1 kHz, MIT): 21 clips.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnnkit.recipes.data_cache import archive_files, cache_dir, debian_archive, pypi_archive
from rnnkit.recipes.speech import synth
from rnnkit.recipes.speech.audio import decode_wav, read_wav

WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SYMBOLS = ("z", "o", "1", "2", "3", "4", "5", "6", "7", "8", "9")  # one character per word, as in TIDIGITS names
SYMBOL_IDS = {**{s: i for i, s in enumerate(SYMBOLS)}, "0": 0}


@dataclass
class Utterance:
    """Audio (float32 mono at the corpus rate) and its words (indices into WORDS)."""

    samples: np.ndarray
    words: list[int]
    speaker: str
    source: str  # where it came from: a file, or a synthesiser voice


def spell(words: Sequence[int]) -> str:
    """Word ids as a digit string: [2, 1, 11] ... -> "1o9"."""
    return "".join(SYMBOLS[w] for w in words)


def parse_digits(text: str, name: str) -> list[int]:
    """The word ids of a digit string ("3o91", "309"), or a ValueError naming ``name``."""
    bad = [c for c in text if c not in SYMBOL_IDS]
    if not text or bad:
        raise ValueError(f"{name}: {text!r} is not a digit string; expected the characters 0-9, z (zero) and o (oh), "
                         "e.g. 3o91.wav or 7_take2.wav.")
    return [SYMBOL_IDS[c] for c in text]


# ---- voices and takes ---------------------------------------------------------------------------------


def split_voices(voices: Sequence[str], dev: int, test: int, seed: int) -> dict[str, list[str]]:
    """Voices (or speakers) shuffled with ``seed`` and cut into test, dev and train; flite voices
    (if any) are split on their own, one to test and one to dev, so each split has a recorded-voice synthesiser."""
    rng = random.Random(seed)
    parts: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    flite = sorted(v for v in voices if v.startswith("flite:"))
    others = sorted(v for v in voices if not v.startswith("flite:"))
    rng.shuffle(flite)
    rng.shuffle(others)
    if len(flite) >= 3:
        parts["test"].append(flite.pop())
        parts["dev"].append(flite.pop())
    others += flite
    if len(others) < dev + test + 1:
        raise ValueError(f"speech: {len(others)} voices/speakers cannot give {test} test, {dev} dev and some training "
                         "voices; lower --test-voices/--dev-voices or give more speakers.")
    parts["test"] += others[:test]
    parts["dev"] += others[test:test + dev]
    parts["train"] += others[test + dev:]
    return {k: sorted(v) for k, v in parts.items()}


def make_take(voice: str, words: Sequence[int], rng: random.Random) -> synth.Take:
    """A random rendering of ``words`` by ``voice``: accent, speed, pitch, and pauses between the words."""
    texts = [WORDS[w] for w in words]
    text = texts[0] + "".join((", " if rng.random() < 0.15 else " ") + t for t in texts[1:])  # a comma: a longer pause
    speed = rng.randint(130, 230)
    if voice.startswith("flite:"):
        female = synth.FLITE_VOICES[voice.split(":", 1)[1]] == "f"
        return synth.Take(voice, text, speed, rng.randint(150, 240) if female else rng.randint(85, 145))
    return synth.Take(voice, text, speed, rng.randint(15, 85), rng.choice(synth.ACCENTS), rng.randint(0, 12))


def synthesise(takes: Sequence[synth.Take], engines: dict[str, synth.Engine], rate: int) -> list[np.ndarray]:
    """The audio of ``takes``: read from the cache if these exact takes were made before, else synthesised and
    cached."""
    key = hashlib.sha1(json.dumps([rate, *[asdict(t) for t in takes]]).encode()).hexdigest()[:16]
    path = cache_dir() / "speech" / f"audio-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            pcm, offsets = z["pcm"], z["offsets"]
        print(f"speech: read {len(takes)} synthesised utterances from {path}")
        return [pcm[a:b].astype(np.float32) / 32767.0 for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    start = time.perf_counter()
    audio = synth.render(takes, engines, rate)
    seconds = time.perf_counter() - start
    pcm = np.concatenate([np.round(np.clip(a, -1, 1) * 32767).astype(np.int16) for a in audio])
    offsets = np.cumsum([0, *[a.size for a in audio]])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, pcm=pcm, offsets=offsets)
    tmp.replace(path)
    hours = pcm.size / rate / 3600
    print(f"speech: synthesised {len(takes)} utterances ({hours:.2f} h of audio) in {seconds:.0f}s; cached in {path}")
    return audio


def engines_for(voices: Sequence[str]) -> dict[str, synth.Engine]:
    """The synthesisers the voices need."""
    kinds = {v.split(":", 1)[0] for v in voices}
    return {k: (synth.espeak() if k == "espeak" else synth.flite()) for k in kinds}


def all_voices() -> list[str]:
    """Every voice: espeak-ng's variants and flite's voices (fetching the programs if need be)."""
    return [f"espeak:{v}" for v in synth.espeak_variants(synth.espeak())] + [f"flite:{v}" for v in synth.FLITE_VOICES]


def word_lists(kind: str, count: int, max_digits: int, rng: random.Random) -> list[list[int]]:
    """The words of ``count`` utterances: each word ``count`` times (isolated), or random strings of 1..max_digits
    words."""
    if kind == "isolated":
        return [[w] for w in range(len(WORDS)) for _ in range(count)]
    return [[rng.randrange(len(WORDS)) for _ in range(rng.randint(1, max_digits))] for _ in range(count)]


def synthetic_split(voices: Sequence[str], kind: str, count: int, max_digits: int, rate: int, seed: int,
                    flite_weight: int = 1) -> list[Utterance]:
    """Utterances of ``voices``: per voice ``count`` takes of each word (isolated), or ``count`` strings spread over
    the voices (connected). A flite voice makes ``flite_weight`` times as many (there are 5 of them against ~100)."""
    rng = random.Random(seed)
    takes: list[synth.Take] = []
    if kind == "isolated":
        for voice in voices:
            n = count * (flite_weight if voice.startswith("flite:") else 1)
            takes += [make_take(voice, words, rng) for words in word_lists(kind, n, max_digits, rng)]
    else:
        weights = [flite_weight if v.startswith("flite:") else 1 for v in voices]
        for words in word_lists(kind, count, max_digits, rng):
            takes.append(make_take(rng.choices(list(voices), weights)[0], words, rng))
    audio = synthesise(takes, engines_for(voices), rate)
    return [Utterance(a, _words_of(t.text), t.voice, f"{t.voice} ({t.accent}, {t.speed} wpm, pitch {t.pitch})")
            for a, t in zip(audio, takes, strict=True)]


def _words_of(text: str) -> list[int]:
    return [WORDS.index(w) for w in text.replace(",", " ").split()]


# ---- your own recordings, and the real test clips -------------------------------------------------------


def read_folder(folder: str | Path, rate: int) -> dict[str, list[Utterance]]:
    """DIR/<speaker>/<digits>[_...].wav -> utterances by speaker (every error names the file)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}; give a folder of speaker folders of WAV files named by their "
                                "digits (DIR/<speaker>/3o91.wav).")
    speakers: dict[str, list[Utterance]] = {}
    for path in sorted(root.glob("*/*.wav")):
        stem = path.stem.split("_")[0]
        if len(stem) > 1 and stem[-1] in "ab" and stem[:-1] and all(c in SYMBOL_IDS for c in stem[:-1]):
            stem = stem[:-1]  # TIDIGITS names a speaker's two takes 3o91a, 3o91b
        words = parse_digits(stem, str(path))
        speakers.setdefault(path.parent.name,
                            []).append(Utterance(read_wav(path, rate), words, path.parent.name, str(path)))
    if not speakers:
        raise FileNotFoundError(f"{root} holds no DIR/<speaker>/<digits>.wav files; put each speaker's recordings in a "
                                "folder of their own, named by what is said (3o91.wav).")
    return speakers


ASTERISK = "asterisk-core-sounds-en-wav"
SPOKENNUMBERS = ("spokennumbers", "1.0.0")
REAL_HINT = ("The real test clips come from Debian asterisk-core-sounds-en-wav and PyPI spokennumbers==1.0.0; train "
             "with --no-real to skip them.")


def real_clips(rate: int) -> list[Utterance]:
    """The 21 real recordings: Asterisk's Allison (0-9, oh; 8 kHz) and spokennumbers' default voice (0-9; stereo, mixed
    down)."""
    clips: list[Utterance] = []
    files = archive_files(debian_archive(ASTERISK, hint=REAL_HINT), "*/en_US_f_Allison/digits/*.wav")
    for name in [*(f"{d}.wav" for d in range(10)), "oh.wav"]:
        member = next((m for m in files if m.endswith(f"/digits/{name}")), None)
        if member is None:
            raise FileNotFoundError(f"{ASTERISK} has no en_US_f_Allison/digits/{name}. {REAL_HINT}")
        word = 1 if name == "oh.wav" else SYMBOL_IDS[name[0]]
        clips.append(Utterance(decode_wav(files[member], f"{ASTERISK}:{member}", rate), [word], "asterisk-allison",
                               member))
    wheel = pypi_archive(*SPOKENNUMBERS, hint=REAL_HINT)
    files = archive_files(wheel, "spokennumbers/default/*.wav")
    for d in range(10):
        member = f"spokennumbers/default/{d}.wav"
        if member not in files:
            raise FileNotFoundError(f"{wheel.name} has no {member}. {REAL_HINT}")
        clips.append(Utterance(decode_wav(files[member], f"{wheel.name}:{member}", rate, mix=True),
                               [SYMBOL_IDS[str(d)]], "spokennumbers-default", member))
    return clips
