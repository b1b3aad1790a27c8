"""Gesture end to end: ``rnnkit recipe gesture`` trains (keeping the epoch of lowest training loss when
there is no validation split), ``rnnkit predict`` answers what the checkpoint's parts compute, and a
checkpoint of the pre-contract recipe predicts as it did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.recipes.gesture.data import read_series
from rnnkit.utils.checkpoint import load_checkpoint

FIXTURES = Path(__file__).parents[2] / "fixtures"
MOTIONS = FIXTURES / "recipes" / "motions.ts"  # 9 series of 2 channels, classes walk, run, rest
QUICK = ["--epochs", "3", "--no-progress", "--threads", "1"]


def reference(run: Path, path: Path) -> list[dict[str, float]]:
    """Class probabilities of each series of ``path`` from the checkpoint's parts: standardise with the
    training mean and deviation (a missing value becomes 0), the bidirectional GRU, softmax; one series at a time."""
    checkpoint = load_checkpoint(run)
    config, meta = checkpoint["config"], checkpoint["meta"]
    model = ManyToOne(ManyToOneConfig(
        num_outputs=len(meta["classes"]), input_size=len(meta["mean"]), hidden_size=config["hidden_size"],
        num_layers=config["num_layers"], cell=config["cell"], bidirectional=config["bidirectional"],
        pooling=config["pooling"])).eval()
    model.load_state_dict(checkpoint["model"])
    out = []
    with torch.no_grad():
        for series in read_series(path).values:
            x = torch.nan_to_num((series - meta["mean"]) / meta["std"], nan=0.0)  # (T, C)
            logits, _ = model(x.unsqueeze(0))  # (1, classes)
            out.append(dict(zip(meta["classes"], torch.softmax(logits[0], 0).tolist(), strict=True)))
    return out


def test_gesture_trains_without_a_dev_split_and_predicts_what_its_checkpoint_computes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    ts = str(MOTIONS)
    assert main(["recipe", "gesture", "--data", ts, "--test", ts, "--out", str(tmp_path), *QUICK]) == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    losses = [row["train_loss"] for row in summary["history"]]
    assert summary["epochs_run"] == 3
    assert all("dev_accuracy" not in row for row in summary["history"])
    assert summary["best_epoch"] == 1 + losses.index(min(losses))  # no dev split: the lowest training loss wins
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == summary["best_epoch"]

    capsys.readouterr()
    assert main(["predict", str(tmp_path), ts, "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in results] == [f"{ts} #{n}" for n in range(1, 10)]
    assert [r["true"] for r in results] == ["walk"] * 3 + ["run"] * 3 + ["rest"] * 3
    for result, want in zip(results, reference(tmp_path, MOTIONS), strict=True):
        assert dict(result["ranking"]) == pytest.approx(want, abs=2e-6)

    capsys.readouterr()
    assert main(["predict", str(tmp_path), ts]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    p = reference(tmp_path, MOTIONS)[0]
    a, b = sorted(p, key=p.__getitem__, reverse=True)[:2]
    assert first == f"{a} {p[a]:.3f}  {b} {p[b]:.3f}\t{ts} #1 (true: walk)"
    # one channel, the model reads two
    assert main(["predict", str(tmp_path), str(FIXTURES / "recipes" / "wave.csv")]) == 2
    assert "wave.csv has 1 channels; the model expects 2" in capsys.readouterr().err


@pytest.mark.parametrize(("fraction", "message"), [
    ("1.0", "--dev-fraction must be at least 0 (0: no validation) and below 1, got 1.0"),
    # 9 series x 0.05 hold none out
    ("0.05", "gesture: the dev split is empty (train 9, dev 0, test 9 of 18 examples); give more data or raise "
             "--dev-fraction (or set it to 0: no validation)."),
])
def test_a_dev_fraction_that_holds_out_nothing_or_everything_is_refused(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str],
                                                                         fraction: str, message: str):
    ts = str(MOTIONS)
    assert main(["recipe", "gesture", "--data", ts, "--test", ts, "--out", str(tmp_path), "--dev-fraction", fraction,
                 *QUICK]) == 2
    assert message in capsys.readouterr().err


def test_gesture_with_a_dev_split_keeps_the_epoch_of_lowest_dev_loss(tmp_path: Path):
    ts = str(MOTIONS)
    assert main(["recipe", "gesture", "--data", ts, "--test", ts, "--out", str(tmp_path), "--dev-fraction", "0.34",
                 *QUICK]) == 0
    history = json.loads((tmp_path / "results.json").read_text())["history"]
    losses = [row["dev_loss"] for row in history]  # cross-entropy: a handful of validation series tie on accuracy
    assert all(0.0 <= row["dev_accuracy"] <= 1.0 for row in history)
    assert json.loads((tmp_path / "results.json").read_text())["best_epoch"] == 1 + losses.index(min(losses))


def test_a_checkpoint_of_the_pre_contract_recipe_predicts_as_it_did(capsys: pytest.CaptureFixture[str]):
    # made with the code of commit ad9bf49 (see tests/fixtures/checkpoints/README.md); what that code's
    # `rnnkit predict` printed for it: (best, p, runner-up, p, true class) per series
    printed = [("walk", 0.466, "run", 0.279, "walk"), ("walk", 0.470, "run", 0.278, "walk"),
               ("walk", 0.464, "run", 0.279, "walk"), ("walk", 0.494, "run", 0.255, "run"),
               ("walk", 0.492, "run", 0.257, "run"), ("walk", 0.488, "run", 0.257, "run"),
               ("walk", 0.419, "run", 0.302, "rest"), ("walk", 0.421, "run", 0.302, "rest"),
               ("walk", 0.417, "run", 0.302, "rest")]
    capsys.readouterr()
    assert main(["predict", str(FIXTURES / "checkpoints" / "gesture-2026-11.pt"), str(MOTIONS)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{a} {p:.3f}  {b} {q:.3f}\t{MOTIONS} #{n} (true: {true})"
                                                    for n, (a, p, b, q, true) in enumerate(printed, start=1)]
