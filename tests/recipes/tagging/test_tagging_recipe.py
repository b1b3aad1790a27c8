"""The pos and ner recipes end to end: `rnnkit recipe` and `rnnkit predict`, checkpoints of the older layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.recipes import all_recipes, get_recipe, load_run
from rnnkit.recipes.tagging.data import parse_brown
from rnnkit.recipes.tagging.model import Tagger

FIXTURES = Path(__file__).parents[2] / "fixtures"
QUICK = ["--epochs", "1", "--no-progress", "--batch-size", "2", "--threads", "1"]


def brown_conll(path: Path, copies: int = 4) -> Path:
    """The Brown fixture's three sentences (universal tags), ``copies`` times, as a CoNLL file."""
    sentences = parse_brown((FIXTURES / "recipes" / "brown_ca99").read_text(), "ca99", "universal") * copies
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.tokens, s.tags, strict=True))
                                for s in sentences) + "\n")
    return path


def test_ner_smoke_with_crf_then_predict_and_the_checkpoint_scores_what_the_run_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = str(FIXTURES / "recipes" / "ner.conll")
    assert main(["recipe", "ner", "--data", data, "--dev", data, "--test", data, "--out", str(tmp_path), *QUICK]) == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    # the best checkpoint, loaded back, tags the test sentences to the figures the run wrote
    run = load_run(tmp_path, all_recipes())
    recipe = get_recipe("ner")
    torch.manual_seed(0)
    again = recipe.evaluate(run.model, run.config, recipe.prepare_data(run.config), "test")
    assert set(again) == {"accuracy", "precision", "recall", "f1"}
    assert again == pytest.approx(summary["test"])
    capsys.readouterr()
    assert main(["predict", str(tmp_path), "Tom visited Paris"]) == 0
    words = capsys.readouterr().out.strip().split()
    assert [w.split("/")[0] for w in words] == ["Tom", "visited", "Paris"]
    assert all(w.endswith(")") for w in words)
    tags = {w.split("/")[1].split("(")[0] for w in words}
    assert tags <= set(run.meta["vocabs"]["tags"]["itos"])


def test_ner_without_crf_or_chars_on_a_split_of_data(tmp_path: Path):
    # 10 sentences (the fixture's 5, twice), no --dev/--test: an 80/10/10 split of --data, one sentence each for dev
    # and test (5 sentences left the dev split empty, which is now refused)
    data = tmp_path / "ner10.conll"
    data.write_text(((FIXTURES / "recipes" / "ner.conll").read_text().rstrip("\n") + "\n\n") * 2)
    args = ["recipe", "ner", "--data", str(data), "--no-crf", "--no-chars", "--out", str(tmp_path / "run")]
    assert main([*args, *QUICK]) == 0
    run = load_run(tmp_path / "run" / "best.pt", all_recipes())
    assert isinstance(run.model, Tagger)
    assert run.model.tagger.crf is None
    assert run.model.features.char is None


def test_an_empty_split_of_few_sentences_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # 5 sentences split 80/10/10 leave the dev split empty: the run went on without validation
    assert main(["recipe", "ner", "--data", str(FIXTURES / "recipes" / "ner.conll"), "--out", str(tmp_path),
                 *QUICK]) == 2
    assert "ner: the dev split is empty (train 4, dev 0, test 1 of 5 examples); give more data or give a --dev " \
           "file." in capsys.readouterr().err
    assert main(["recipe", "pos", "--data", str(FIXTURES / "recipes" / "pos.conllu"), "--max-train-sentences", "0",
                 "--out", str(tmp_path), *QUICK]) == 2
    assert "--max-train-sentences must be at least 1" in capsys.readouterr().err


def test_ner_rejects_non_bio_tags(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["recipe", "ner", "--data", str(FIXTURES / "recipes" / "pos.conllu"), "--out", str(tmp_path),
                 *QUICK]) == 2
    assert "tags that are not BIO" in capsys.readouterr().err


def test_pos_smoke_then_predict_a_conllu_file_and_a_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "run"
    assert main(["recipe", "pos", "--data", str(brown_conll(tmp_path / "brown.conll")), "--out", str(out),
                 "--max-minutes", "1", *QUICK]) == 0
    assert set(json.loads((out / "results.json").read_text())["test"]) == {"accuracy"}
    capsys.readouterr()
    assert main(["predict", str(out), str(FIXTURES / "recipes" / "pos.conllu"), "Hello", "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [[t["token"] for t in r["tokens"]]
            for r in results] == [["I", "do", "n't", "know", "."], ["Hello"], ["Hello"]]
    assert results[1] == results[2]  # the file's second sentence and the same words typed: one answer
    assert all(0 < t["p"] <= 1 for r in results for t in r["tokens"])

    # a CoNLL file of tokens alone, no tag column: its tokens are tagged, as the predict help says
    tokens = tmp_path / "tokens.conll"
    tokens.write_text("The\ncat\nsat\n\nHello\n")
    assert main(["predict", str(out), str(tokens), "Hello", "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [[t["token"] for t in r["tokens"]] for r in results] == [["The", "cat", "sat"], ["Hello"], ["Hello"]]
    assert results[1] == results[2]


def test_pos_learns_to_beat_tagging_every_word_with_the_most_common_tag(tmp_path: Path):
    conll = brown_conll(tmp_path / "brown.conll", copies=8)
    args = ["recipe", "pos", "--data", str(conll), "--dev", str(conll), "--test", str(conll), "--out",
            str(tmp_path / "run"), "--epochs", "12", "--patience", "0", "--lr", "0.01", "--hidden-size", "16",
            "--embedding-size", "16", "--char-filters", "8", "--batch-size", "8", "--no-progress", "--threads", "1"]
    assert main(args) == 0
    accuracy = json.loads((tmp_path / "run" / "results.json").read_text())["test"]["accuracy"]
    tags = [t for s in parse_brown((FIXTURES / "recipes" / "brown_ca99").read_text(), "ca99", "universal")
            for t in s.tags]
    majority = max(tags.count(t) for t in set(tags)) / len(tags)  # NOUN: the most common tag
    assert accuracy > majority + 0.3, (accuracy, majority)


# ---- checkpoints written before the recipe contract (tests/fixtures/checkpoints/README.md) ----
# the expected lines are what `rnnkit predict` printed for these files with that commit's code (ad9bf49)


@pytest.mark.parametrize(("name", "sentence", "printed"), [
    ("pos", "The old man the boats .",
     "The/ADJ(0.13) old/ADP(0.13) man/ADJ(0.14) the/ADJ(0.13) boats/ADJ(0.13) ./ADJ(0.12)"),
    ("ner", "Tom visited Paris", "Tom/I-creative-work(0.17) visited/I-creative-work(0.17) Paris/I-creative-work(0.19)"),
])
def test_checkpoint_of_the_older_layout_predicts_what_it_did(name: str, sentence: str, printed: str,
                                                             capsys: pytest.CaptureFixture[str]):
    assert main(["predict", str(FIXTURES / "checkpoints" / f"{name}-2026-11.pt"), sentence]) == 0
    assert capsys.readouterr().out.strip() == printed
