"""The fraud recipe end to end on the hand-made fixture: it learns, the baselines score what they must,
`rnnkit predict` agrees with the evaluation, bad rows are refused by name."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.recipes import all_recipes, load_run
from rnnkit.utils.reading import DataFormatError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "recipes" / "fraud.csv"
QUICK = ["--no-progress", "--threads", "1", "--batch-size", "8"]
TRAIN_ROWS = 35  # the fixture's 50 transactions are a minute apart: 70% is rows 1-35, then 5 dev, 10 test


def fixture_table() -> tuple[list[str], np.ndarray]:
    """Header and values (N, 31) of the fixture, read with the csv module alone (independently of the recipe)."""
    rows = list(csv.reader(FIXTURE.open()))
    return rows[0], np.array(rows[1:], dtype=float)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fraud") / "run"
    args = ["recipe", "fraud", "--data", str(FIXTURE), "--out", str(out), "--epochs", "15", "--patience", "0",
            "--lr", "0.01", "--no-baselines", *QUICK]
    assert main(args) == 0
    return out


def test_learns_the_fixture_with_statistics_from_training_rows_only(trained: Path):
    summary = json.loads((trained / "results.json").read_text())
    assert summary["test"]["auprc"] == 1.0
    assert summary["test"]["roc_auc"] == 1.0
    assert summary["history"][-1]["train_loss"] < 0.05 < summary["history"][0]["train_loss"]
    assert summary["baselines"] == {}
    assert (trained / "pr_curve.png").stat().st_size > 0
    run = load_run(trained, all_recipes())
    header, values = fixture_table()
    train = values[:TRAIN_ROWS, 1:30].copy()  # V1..V28, Amount of the first 35 rows
    train[:, -1] = np.log1p(train[:, -1])
    assert run.meta["features"] == header[1:30]
    np.testing.assert_allclose(run.meta["mean"], train.mean(0), rtol=1e-12)
    np.testing.assert_allclose(run.meta["std"], train.std(0), rtol=1e-12)
    frauds = int(values[:TRAIN_ROWS, 30].sum())
    assert run.meta["fraud_weight"] == pytest.approx(math.sqrt((TRAIN_ROWS - frauds) / frauds))
    # the threshold chosen on validation is saved with the weights it was chosen for
    threshold = 1 / (1 + math.exp(-float(run.model.get_buffer("threshold"))))
    assert threshold == pytest.approx(summary["test"]["threshold_probability"])


def test_predict_agrees_with_the_evaluation(trained: Path, capsys: pytest.CaptureFixture[str]):
    capsys.readouterr()
    assert main(["predict", str(trained), str(FIXTURE), "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    _, values = fixture_table()
    assert [r["input"] for r in results] == [f"{FIXTURE}:{n}" for n in range(2, 52)]
    assert [r["true"] for r in results] == values[:, 30].astype(int).tolist()
    test = results[-10:]  # the last 20% by time
    flagged_frauds = sum(r["flagged"] and r["true"] for r in test)
    summary = json.loads((trained / "results.json").read_text())["test"]
    assert flagged_frauds / 2 == summary["recall"]
    assert flagged_frauds / max(sum(r["flagged"] for r in test), 1) == summary["precision"]
    assert main(["predict", str(trained), str(FIXTURE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 50
    assert lines[3].startswith(f"{FIXTURE}:5  p(fraud) ")
    assert lines[3].endswith("(true: fraud)")


def test_predict_rows_without_class_and_bad_files(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    lines = FIXTURE.read_text().splitlines()
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines[:4]) + "\n")  # no Class
    capsys.readouterr()
    assert main(["predict", str(trained), str(rows), "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(results) == 3
    assert all(set(r) == {"input", "fraud_probability", "flagged"} for r in results)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(",".join(c for k, c in enumerate(line.split(",")) if k != 29) for line in lines[:4]))
    assert main(["predict", str(trained), str(bad)]) != 0  # the command prints the reader's error, not a traceback
    assert capsys.readouterr().err.startswith(f"rnnkit predict: error: {bad}:1: missing column Amount; expected a "
                                              "header with the columns Time, V1..V28, Amount (and Class, optional).")
    run = load_run(trained, all_recipes())
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(bad))}:1: missing column Amount"):
        run.recipe.predict(run.model, run.config, run.meta, [str(bad)])
    assert main(["predict", str(trained), "nowhere.csv"]) != 0
    assert "predict fraud: no file nowhere.csv; pass CSV files with the columns Time, V1" in capsys.readouterr().err


def test_baselines_score_what_they_must_on_the_fixture(tmp_path: Path):
    out = tmp_path / "run"
    assert main(["recipe", "fraud", "--data", str(FIXTURE), "--out", str(out), "--epochs", "1", *QUICK]) == 0
    baselines = json.loads((out / "results.json").read_text())["baselines"]
    assert set(baselines) == {"logistic_regression", "gradient_boosting", "gradient_boosting_l2"}
    assert baselines["logistic_regression"]["auprc"] == 1.0  # separable frauds: a linear score ranks them first
    for name in ("gradient_boosting", "gradient_boosting_l2"):
        # 35 training rows cannot be split into leaves of min_samples_leaf=20: every tree is one leaf, every
        # score the same, so AUPRC is the test's fraud share (2 of 10) and ROC-AUC a coin's
        assert baselines[name]["auprc"] == pytest.approx(0.2)
        assert baselines[name]["roc_auc"] == 0.5
    assert (out / "pr_curve.png").stat().st_size > 0
