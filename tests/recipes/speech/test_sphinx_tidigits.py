"""The TIDIGITS reader on hand-written files in the package's layout, and (slow) on the real package."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.recipes.speech import tidigits
from rnnkit.recipes.speech.data import WORDS, spell
from rnnkit.recipes.speech.sphinx import write_mfc

ROOT = "./usr/share/pocketsphinx/test/data/tidigits"


def package(lsn: str, ids: list[str], frames: int = 3) -> dict[str, bytes]:
    files = {f"{ROOT}/tidigits.ctl": "".join(f"{i}\n" for i in ids).encode(),
             f"{ROOT}/tidigits.lsn": lsn.encode(),
             f"{ROOT}/hmm/feat.params": b"-lowerf 1\n-upperf 4000\n-nfilt 20\n"}
    for n, uid in enumerate(ids):
        files[f"{ROOT}/{uid}.mfc"] = write_mfc(np.full((frames + n, 13), float(n), np.float32))
    return files


def test_parse_transcripts():
    got = tidigits.parse_transcripts("one one one (man.ah.111a)\noh six nine (woman.ak.o69a)\n", "t.lsn")
    assert got == {"man.ah.111a": [2, 2, 2], "woman.ak.o69a": [1, 7, 10]}
    assert [WORDS[w] for w in got["woman.ak.o69a"]] == ["oh", "six", "nine"]


@pytest.mark.parametrize(("text", "message"), [
    ("one one one man.ah.111a\n", "t.lsn, line 1: expected 'words \\(utterance id\\)'"),
    ("one (a.b.1a)\nwon (a.b.1b)\n", "t.lsn, line 2: a.b.1b has unknown words \\['won'\\]"),
    ("one (a.b.1a)\none (a.b.1a)\n", "line 2: a.b.1a is transcribed twice"),
    (" (a.b.1a)\n", "line 1: a.b.1a has no words"),
])
def test_bad_transcripts_name_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        tidigits.parse_transcripts(text, "t.lsn")


def test_the_name_spells_the_digits():
    assert tidigits.spelled("man.ah.2934za") == "2934z"
    assert tidigits.spelled("woman.ak.ooa") == "oo"
    assert tidigits.spelled("man.ah.9b") == "9"


def test_parse_a_package():
    ids = ["man.ah.3oa", "woman.ak.za"]
    t = tidigits.parse(package("three oh (man.ah.3oa)\nzero (woman.ak.za)\n", ids), "test.deb")
    assert t.ids == ids
    assert [spell(w) for w in t.words] == ["3o", "z"]
    assert t.speakers == ["man.ah", "woman.ak"]
    assert [c.shape for c in t.cepstra] == [(3, 13), (4, 13)]
    assert t.cepstra[1][0, 0] == 1.0
    assert t.params == {"lowerf": "1", "upperf": "4000", "nfilt": "20"}


def test_a_name_that_disagrees_with_its_transcript_is_an_error():
    with pytest.raises(ValueError, match="man.ah.3oa's name spells '3o' but tidigits.lsn says '3z'"):
        tidigits.parse(package("three zero (man.ah.3oa)\n", ["man.ah.3oa"]), "test.deb")


def test_missing_files_are_named():
    files = package("three oh (man.ah.3oa)\n", ["man.ah.3oa"])
    del files[f"{ROOT}/man.ah.3oa.mfc"]
    with pytest.raises(FileNotFoundError, match="test.deb has no .*tidigits/man.ah.3oa.mfc"):
        tidigits.parse(files, "test.deb")
    with pytest.raises(ValueError, match="woman.ak.za is in tidigits.ctl but not in tidigits.lsn"):
        tidigits.parse(package("three oh (man.ah.3oa)\n", ["man.ah.3oa", "woman.ak.za"]), "test.deb")


@pytest.mark.slow
def test_the_31_real_utterances():
    try:
        t = tidigits.load()
    except FileNotFoundError as e:
        pytest.skip(f"pocketsphinx-testdata cannot be fetched here: {e}")
    assert len(t.ids) == 31
    assert t.speakers.count("man.ah") == 16
    assert t.speakers.count("woman.ak") == 15
    assert sum(len(w) for w in t.words) == 107
    assert spell(t.words[t.ids.index("man.ah.2934za")]) == "2934z"
    for c, uid in zip(t.cepstra, t.ids, strict=True):
        assert c.shape[1] == 13, uid
        assert 50 < len(c) < 500, uid  # 0.5-5 s at 100 frames a second
        assert np.isfinite(c).all(), uid
    assert (t.params["upperf"], t.params["nfilt"], t.params["transform"]) == ("4000", "20", "dct")


def test_without_debian_the_errors_name_the_packages(offline_cache):
    from rnnkit.recipes.speech import sphinx

    with pytest.raises(FileNotFoundError, match="pocketsphinx-testdata.*apt-get download pocketsphinx-testdata"):
        tidigits.load()
    with pytest.raises(FileNotFoundError, match="sphinxbase-utils.*apt-get download sphinxbase-utils libsphinxbase3"):
        sphinx.front_end({"nfilt": "20"})
