"""The 31 TIDIGITS utterances of Debian ``pocketsphinx-testdata``: Sphinx cepstra and their transcripts.

``usr/share/pocketsphinx/test/data/tidigits/`` holds two adult speakers of TIDIGITS (Leonard, 1984;
``man.ah``: 16 utterances, ``woman.ak``: 15) as MFC files (13 cepstra per 10 ms, big-endian; no
audio), the list of them (``tidigits.ctl``), the words said (``tidigits.lsn``: ``one one one
(man.ah.111a)`` per line) and the acoustic model they were decoded with, whose ``hmm/feat.params``
says how the cepstra were made (``sphinx.py``). A file's name spells its digits as TIDIGITS does
(``2934za``: two nine three four zero, take a), which is checked against the transcript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rnnkit.recipes.data_cache import archive_files, debian_archive
from rnnkit.recipes.speech.data import SYMBOLS, WORDS
from rnnkit.recipes.speech.sphinx import parse_params, read_mfc

PACKAGE = "pocketsphinx-testdata"
FOLDER = "usr/share/pocketsphinx/test/data/tidigits"
HINT = (f"The TIDIGITS test comes from Debian {PACKAGE} (`apt-get download {PACKAGE}`; run `apt-get update` first if "
        "the package lists are empty); train with --no-tidigits to skip it.")


@dataclass
class Tidigits:
    """The test set: cepstra (T, 13) per utterance, its words (indices into WORDS), its speaker and id."""

    cepstra: list[np.ndarray]
    words: list[list[int]]
    speakers: list[str]
    ids: list[str]
    params: dict[str, str]  # hmm/feat.params: the front end that made the cepstra


def parse_transcripts(text: str, name: str) -> dict[str, list[int]]:
    """``words (utterance id)`` lines -> {id: word ids}; errors name ``name`` and the line."""
    out: dict[str, list[int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*(.*?)\s*\((\S+)\)\s*", line)
        if match is None:
            raise ValueError(f"{name}, line {n}: expected 'words (utterance id)', got {line!r}.")
        words, uid = match.group(1).split(), match.group(2)
        unknown = [w for w in words if w not in WORDS]
        if not words or unknown:
            raise ValueError(f"{name}, line {n}: {uid} has {'unknown words ' + str(unknown) if unknown else 'no words'}"
                             f"; expected some of {', '.join(WORDS)}.")
        if uid in out:
            raise ValueError(f"{name}, line {n}: {uid} is transcribed twice.")
        out[uid] = [WORDS.index(w) for w in words]
    return out


def spelled(uid: str) -> str:
    """The digits a TIDIGITS id spells: man.ah.2934za -> 2934z (the last letter names the take)."""
    return re.sub(r"[ab]$", "", uid.rsplit(".", 1)[-1])


def parse(files: dict[str, bytes], source: str) -> Tidigits:
    """The test set from the package's files ({path: bytes}, paths ending in ``tidigits/...``)."""
    def member(name: str) -> bytes:
        hits = [body for path, body in files.items() if path.endswith(f"tidigits/{name}")]
        if not hits:
            raise FileNotFoundError(f"{source} has no {FOLDER}/{name}. {HINT}")
        return hits[0]

    ids = member("tidigits.ctl").decode().split()
    transcripts = parse_transcripts(member("tidigits.lsn").decode(), f"{source}:{FOLDER}/tidigits.lsn")
    params = parse_params(member("hmm/feat.params").decode(), f"{source}:{FOLDER}/hmm/feat.params")
    out = Tidigits([], [], [], [], params)
    for uid in ids:
        if uid not in transcripts:
            raise ValueError(f"{source}: {uid} is in tidigits.ctl but not in tidigits.lsn.")
        words = transcripts[uid]
        said = "".join(SYMBOLS[w] for w in words)
        if spelled(uid) != said:
            raise ValueError(f"{source}: {uid}'s name spells {spelled(uid)!r} but tidigits.lsn says {said!r}.")
        out.cepstra.append(read_mfc(member(f"{uid}.mfc"), f"{source}:{FOLDER}/{uid}.mfc"))
        out.words.append(words)
        out.speakers.append(uid.rsplit(".", 1)[0])
        out.ids.append(uid)
    return out


def load() -> Tidigits:
    """The 31 utterances, from the cached ``pocketsphinx-testdata`` package (fetched once with ``apt-get download``)."""
    deb = debian_archive(PACKAGE, HINT)
    return parse(archive_files(deb, f"*{FOLDER}/*"), deb.name)
