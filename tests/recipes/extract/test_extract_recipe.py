"""The extract recipe end to end on a made-up task in ACLSum's format: a sentence holding an aspect's
marker word is that aspect's summary, wherever it stands. The tagger has to learn the markers (lead-3
cannot know them); summarize and predict then mark the chosen sentences."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.extract.data import ASPECTS, SECTIONS
from rnnkit.recipes.extract.recipe import ExtractConfig, ExtractRecipe

MARKERS = {"challenge": "zorp", "approach": "quix", "outcome": "blin"}
FILLER = ["we", "the", "model", "data", "results", "task", "show", "method", "paper", "new", "work", "table", "using",
          "two", "large", "small", "simple"]


def made_up_paper(rng: random.Random, number: int) -> dict[str, object]:
    """A paper of 6-9 filler sentences; three of them, at random places, carry one marker each."""
    count = rng.randint(6, 9)
    sentences = [" ".join(rng.choices(FILLER, k=rng.randint(4, 7))) + " ." for _ in range(count)]
    where = dict(zip(ASPECTS, rng.sample(range(count), 3), strict=True))
    for aspect, i in where.items():
        words = sentences[i].split()
        words.insert(rng.randrange(len(words)), MARKERS[aspect])
        sentences[i] = " ".join(words)
    cuts = sorted(rng.sample(range(1, count), 2))
    parts = dict(zip(SECTIONS, (sentences[: cuts[0]], sentences[cuts[0] : cuts[1]], sentences[cuts[1] :]), strict=True))

    def marks(aspect: str) -> dict[str, list[int]]:
        flat = [int(i == where[aspect]) for i in range(count)]
        return {"abstract": flat[: cuts[0]], "introduction": flat[cuts[0] : cuts[1]], "conclusion": flat[cuts[1] :]}

    return {"id": f"T-{number}", "title": "made up", "summary": {a: sentences[where[a]] for a in ASPECTS},
            "sentences": parts, "highlights": {a: marks(a) for a in ASPECTS}}


def write_split(folder: Path, name: str, papers: int, rng: random.Random, start: int) -> None:
    (folder / name).write_text("\n".join(json.dumps(made_up_paper(rng, start + n)) for n in range(papers)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("extract")
    rng = random.Random(0)
    for name, papers, start in (("train.jsonl", 24, 0), ("val.jsonl", 10, 100), ("test.jsonl", 12, 200)):
        write_split(folder, name, papers, rng, start)
    out = folder / "run"
    args = ["recipe", "extract", "--data", str(folder), "--out", str(out), "--min-freq", "1", "--embed-size", "16",
            "--word-hidden", "16", "--sent-hidden", "16", "--dropout", "0", "--max-k", "3", "--lr", "0.01",
            "--epochs", "8", "--patience", "0", "--batch-size", "4", "--no-progress", "--threads", "1"]
    assert main(args) == 0
    return out


def test_learns_the_markers_and_beats_lead_3(trained: Path):
    summary = json.loads((trained / "results.json").read_text())
    test, lead3, oracle = summary["test"], summary["baselines"]["lead3"], summary["baselines"]["oracle"]
    for aspect in ASPECTS:
        assert test[f"{aspect}_k"] == 1  # the summary is one sentence: validation picks k = 1
        assert test[f"{aspect}_rouge2"] == pytest.approx(100.0)  # the marked sentence, every time
        assert oracle[f"{aspect}_rouge2"] == pytest.approx(100.0)  # the oracle finds it too
        assert lead3[f"{aspect}_rouge2"] < 70  # three sentences, of which at most one is right
    assert summary["history"][-1]["train_loss"] < 0.1 < summary["history"][0]["train_loss"]


def test_summarize_marks_the_chosen_sentences(trained: Path):
    run = load_run(trained, all_recipes())
    assert isinstance(run.recipe, ExtractRecipe)
    assert isinstance(run.config, ExtractConfig)
    text = ("We show the model on two tasks. The new zorp data is large.\n\nTable two shows simple results. "
            "Using the quix method we work. The paper shows blin results. We show two tables.")
    result = run.recipe.summarize(run.model, run.config, run.meta, text)
    assert result["chosen"] == {"challenge": [1], "approach": [3], "outcome": [4]}
    assert result["aspects"]["approach"] == "Using the quix method we work."
    assert result["summary"].splitlines()[0] == "challenge: The new zorp data is large."
    assert len(result["sentences"]) == 6
    shown = run.recipe.show(result).splitlines()
    assert shown[0] == "challenge: The new zorp data is large."
    assert shown[4] == "  [...]   1  We show the model on two tasks."
    assert shown[5] == "  [C..]   2  The new zorp data is large."
    assert shown[7] == "  [.A.]   4  Using the quix method we work."
    assert shown[8] == "  [..O]   5  The paper shows blin results."
    with pytest.raises(ValueError, match="no sentences"):
        run.recipe.summarize(run.model, run.config, run.meta, "  \n ")


def test_predict_summarizes_files_and_names_a_missing_one(trained: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    paper = tmp_path / "paper.txt"
    paper.write_text("The blin results are good. We work with data. A quix model. A zorp task is hard.")
    capsys.readouterr()
    assert main(["predict", str(trained), str(paper)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"== {paper}"
    assert "  [..O]   1  The blin results are good." in out
    assert "  [C..]   4  A zorp task is hard." in out
    assert main(["predict", str(trained), str(paper), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["chosen"] == {"challenge": [3], "approach": [2], "outcome": [0]}
    assert main(["predict", str(trained), str(tmp_path / "missing.txt")]) != 0
    assert f"no file {tmp_path / 'missing.txt'}; pass plain-text files" in capsys.readouterr().err


def test_rnnkit_summarize_marks_the_chosen_sentences(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    paper = tmp_path / "paper.txt"
    paper.write_text("A zorp task is hard.\nWe work with data.\n\nThe blin results are good. A quix model.")
    capsys.readouterr()
    assert main(["summarize", str(trained), str(paper)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [f"== {paper}", "challenge: A zorp task is hard.", "approach: A quix model.",
                       "outcome: The blin results are good."]
    assert out[5:] == ["  [C..]   1  A zorp task is hard.", "  [...]   2  We work with data.",
                       "  [..O]   3  The blin results are good.", "  [.A.]   4  A quix model."]


def test_settings_out_of_range_are_refused_by_name(tmp_path: Path):
    with pytest.raises(ValueError, match="extract: max_k must be at least 1, got 0"):
        ExtractRecipe().prepare_data(ExtractConfig(max_k=0, data=str(tmp_path)))
