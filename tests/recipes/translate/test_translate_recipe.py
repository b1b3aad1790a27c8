"""The translate recipe: BLEU, its data sources, `rnnkit recipe translate` / `translate` / `predict`, a model that
must beat copying the source, and checkpoints of the older layout."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("tokenizers")
pytest.importorskip("sacrebleu")

from rnnkit.cli import main  # noqa: E402
from rnnkit.recipes import all_recipes, load_run, run_recipe  # noqa: E402
from rnnkit.recipes.translate.recipe import TranslateConfig, TranslateRecipe, bleu, load_pairs  # noqa: E402

FIXTURES = Path(__file__).parents[2] / "fixtures"
PAIRS = FIXTURES / "recipes2"


def test_bleu_is_100_for_identical_output_and_low_for_unrelated():
    refs = (PAIRS / "pairs.en").read_text().splitlines()
    assert bleu(refs, refs) == pytest.approx(100.0)
    assert bleu(["xyz"] * len(refs), refs) < 1.0


def test_exactly_one_data_source_is_required():
    with pytest.raises(ValueError, match="give exactly one data source, got none"):
        load_pairs(TranslateConfig())
    with pytest.raises(ValueError, match=r"got \['--source/--target', '--tsv'\]"):
        load_pairs(TranslateConfig(source="a", target="b", tsv="c"))


def test_smoke_run_then_translate_and_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "run"
    assert main(["recipe", "translate", "--source", str(PAIRS / "pairs.de"), "--target", str(PAIRS / "pairs.en"),
                 "--vocab-size", "60", "--embed-size", "16", "--hidden-size", "16", "--epochs", "2", "--beam", "2",
                 "--show", "1", "--no-progress", "--threads", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    # 5% of 8 pairs held out from the end: the last pair is the test set; copying its source is the baseline
    source, reference = (PAIRS
                         / "pairs.de").read_text().splitlines()[-1], (PAIRS / "pairs.en").read_text().splitlines()[-1]
    assert summary["baselines"]["copy the source"]["bleu"] == pytest.approx(bleu([source], [reference]))
    outputs = (out / "test-output.txt").read_text().splitlines()
    assert len(outputs) == 1
    assert summary["test"]["bleu"] == pytest.approx(bleu(outputs, [reference]))
    assert (out / "attention-0.png").exists()
    capsys.readouterr()
    assert main(["translate", str(out), "Ein Hund läuft im Schnee.", "Zwei Kinder.", "--beam", "3"]) == 0
    translated = capsys.readouterr().out.splitlines()
    assert len(translated) == 2
    # predict: the same translations, with the beam of the config, as JSON with the attention of every output subword
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Ein Hund läuft im Schnee.\n\nZwei Kinder.\n")
    assert main(["predict", str(out), str(sentences), "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in results] == ["Ein Hund läuft im Schnee.", "Zwei Kinder."]
    for r in results:
        assert len(r["attention"]["weights"]) == len(r["attention"]["target"])
        assert all(sum(row) == pytest.approx(1.0, abs=1e-3) for row in r["attention"]["weights"])
    assert main(["translate", str(out), "Ein Hund.", "--beam", "0"]) == 2
    assert "--beam must be >= 1, got 0" in capsys.readouterr().err


def number_pairs(path: Path) -> Path:
    """400 'German' sentences NAME VERB NUMBER NOUN, word for word into English; the names stay as they are."""
    names = ["anna", "tom", "lena", "paul", "mia"]
    verbs = {"sieht": "sees", "hat": "has", "malt": "paints", "sucht": "seeks"}
    numbers = {"zwei": "two", "drei": "three", "vier": "four", "fünf": "five", "sechs": "six"}
    nouns = {"hunde": "dogs", "katzen": "cats", "boote": "boats", "bäume": "trees"}
    pairs = [(f"{n} {v} {k} {o}", f"{n} {verbs[v]} {numbers[k]} {nouns[o]}") for n, v, k,
             o in itertools.product(names, verbs, numbers, nouns)]
    random.Random(0).shuffle(pairs)
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    return path


@pytest.mark.slow  # about 10 s of training on a busy 2-core machine
def test_a_trained_model_beats_copying_the_source(tmp_path: Path):
    # the last 20 pairs are held out (combinations never seen whole); copying keeps only the names right
    args = ["recipe", "translate", "--tsv", str(number_pairs(tmp_path / "pairs.tsv")), "--vocab-size", "60",
            "--embed-size", "16", "--hidden-size", "32", "--epochs", "6", "--patience", "0", "--batch-size", "16",
            "--lr", "0.01", "--beam", "1", "--show", "0", "--no-progress", "--threads", "1", "--out",
            str(tmp_path / "run")]
    assert main(args) == 0
    summary = json.loads((tmp_path / "run" / "results.json").read_text())
    learnt, copied = summary["test"]["bleu"], summary["baselines"]["copy the source"]["bleu"]
    assert copied < 5, (learnt, copied)  # measured: 31.3 against 1.7
    assert learnt > copied + 15, (learnt, copied)  # measured: 31.3 against 1.7


# ---- a checkpoint written before the recipe contract (tests/fixtures/checkpoints/README.md) ----


def test_checkpoint_of_the_older_layout_translates_as_it_did(capsys: pytest.CaptureFixture[str]):
    path = FIXTURES / "checkpoints" / "translate-2026-11.pt"
    # what `rnnkit translate` printed for this file with the code of ad9bf49
    assert main(["translate", str(path), "Ein Hund läuft im Schnee.", "--beam", "2"]) == 0
    assert main(["translate", str(path), "Ein Hund.", "--beam", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["mand" + "d" * 52, "manman" + "d" * 22]
    run = load_run(path, all_recipes())
    assert run.config.out.endswith("/translate")
    assert isinstance(run.config, TranslateConfig)
    assert run.config.vocab_size == 40


class CrashesInEpochTwo(TranslateRecipe):
    """The translate recipe, dying at the second batch of epoch 2 (after last.pt was written at every step)."""

    def batches(self, config: TranslateConfig, data: Any, epoch: int) -> Iterator[dict[str, Any]]:
        for n, batch in enumerate(super().batches(config, data, epoch)):
            if epoch == 2 and n == 1:
                raise RuntimeError("simulated crash")
            yield batch


def test_a_run_resumed_after_a_crash_ends_where_an_unbroken_one_does(tmp_path: Path):
    # the batch order of every epoch comes from one generator carried across epochs: last.pt must keep it
    config = TranslateConfig(source=str(PAIRS / "pairs.de"), target=str(PAIRS / "pairs.en"), vocab_size=60,
                             embed_size=8, hidden_size=8, batch_size=2, epochs=3, beam=1, show=0, progress=False,
                             threads=1, save_every=1)
    whole = run_recipe(TranslateRecipe(), dataclasses.replace(config, out=str(tmp_path / "whole")))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_recipe(CrashesInEpochTwo(), dataclasses.replace(config, out=str(tmp_path / "parts")))
    resumed = run_recipe(TranslateRecipe(), dataclasses.replace(config, out=str(tmp_path / "parts"), resume=True))
    assert resumed["test"] == whole["test"]
    a, b = (load_run(tmp_path / d / "best.pt", all_recipes()).model.state_dict() for d in ("whole", "parts"))
    for name in a:
        assert torch.equal(a[name], b[name]), name
