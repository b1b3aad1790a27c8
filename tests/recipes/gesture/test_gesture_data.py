"""Gesture (.ts / UCR files) and row-by-row digits recipes: loaders on fixtures, smoke runs."""

from __future__ import annotations

import gzip
import json
import math
import zipfile
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.recipes import data_cache
from rnnkit.recipes.digits import data as digits
from rnnkit.tasks import gesture

FIXTURES = Path(__file__).parent / "fixtures" / "recipes"
QUICK = ["--epochs", "2", "--no-progress", "--threads", "1"]


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache; no package is installed and running a package manager is an error."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_cache.importlib.util, "find_spec", lambda name: None)

    def no_fetch(*args, **kwargs):
        raise AssertionError("tests must not run npm or pip")

    monkeypatch.setattr(data_cache.subprocess, "run", no_fetch)
    (tmp_path / "cache" / "pypi").mkdir(parents=True)
    return tmp_path / "cache"


# ---- .ts and UCR files ---------------------------------------------------------------------


def test_parse_ts_multichannel_variable_length_with_missing_values():
    s = gesture.read_series(FIXTURES / "motions.ts")
    assert s.classes == ["walk", "run", "rest"] and s.labels[:4] == ["walk", "walk", "walk", "run"]
    assert [tuple(v.shape) for v in s.values[:3]] == [(5, 2), (4, 2), (6, 2)]  # (T, C): channels become columns
    assert s.values[0][:, 1].tolist() == pytest.approx([1.0, 1.2, 1.0, 1.2, 1.0])
    assert math.isnan(float(s.values[7][3, 0]))  # '?' is missing


def test_parse_ts_errors_name_file_and_line():
    with pytest.raises(ValueError, match=r"motions_bad.ts:6: a value is not a number"):
        gesture.read_series(FIXTURES / "motions_bad.ts")
    with pytest.raises(ValueError, match=r"x.ts:3: class 'jump' is not among the declared classes"):
        gesture.parse_ts("@classLabel true walk run\n@data\n1,2:3,4:jump\n", "x.ts")
    with pytest.raises(ValueError, match=r"x.ts:3: channels have different lengths \[2, 3\]"):
        gesture.parse_ts("@classLabel true a\n@data\n1,2:3,4,5:a\n", "x.ts")
    with pytest.raises(ValueError, match=r"x.ts:1: time-stamped .ts files are not supported"):
        gesture.parse_ts("@timeStamps true\n@data\n", "x.ts")


def test_parse_ucr_csv_with_ragged_rows():
    s = gesture.read_series(FIXTURES / "wave.csv")
    assert s.labels == ["1", "1", "2", "2"] and [len(v) for v in s.values] == [5, 4, 5, 4]
    with pytest.raises(ValueError, match=r"w.csv:2: a value is not a number"):
        gesture.parse_ucr("1,0.5,0.2\n2,0.1,x\n", "w.csv", ",")


def test_standardise_uses_training_statistics_and_zeroes_missing():
    values = [torch.tensor([[1.0, 10.0], [3.0, float("nan")]])]
    out = gesture.standardise(values, torch.tensor([2.0, 10.0]), torch.tensor([1.0, 5.0]))
    assert out[0].tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_gesture_reads_bundled_aeon_problem_from_the_cached_wheel(offline_cache: Path):
    text = (FIXTURES / "motions.ts").read_text()
    with zipfile.ZipFile(offline_cache / "pypi" / "aeon-1.6.0-py3-none-any.whl", "w") as z:
        z.writestr("aeon/datasets/data/Motions/Motions_TRAIN.ts", text)
        z.writestr("aeon/datasets/data/Motions/Motions_TEST.ts", text)
    train, test = gesture.prepare_data(gesture.GestureConfig(dataset="Motions"))
    assert len(train.values) == len(test.values) == 9
    with pytest.raises(ValueError, match="aeon has no data set 'Nope'; available: Motions"):
        gesture.aeon_dataset("Nope")


def test_gesture_recipe_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    ts = str(FIXTURES / "motions.ts")
    assert main(["recipe", "gesture", "--data", ts, "--test", ts, "--out", str(tmp_path), *QUICK]) == 0
    assert json.loads((tmp_path / "results.json").read_text())["epochs_run"] == 2
    capsys.readouterr()
    assert main(["predict", str(tmp_path), ts]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 9 and lines[0].split()[0] in ("walk", "run", "rest") and "(true: walk)" in lines[0]
    assert main(["predict", str(tmp_path), str(FIXTURES / "wave.csv")]) == 2  # one channel, the model wants two


# ---- digits ------------------------------------------------------------------------------


def test_parse_pixels_square_images_and_errors():
    images, labels = digits.parse_pixels((FIXTURES / "digits4x4.csv").read_text(), "d.csv")
    assert images.shape == (12, 4, 4) and labels[:2] == [1, 1] and labels[-1] == 7
    assert images[0, :, 1].tolist() == [16.0] * 4  # a vertical bar: column 1 of every row
    with pytest.raises(ValueError, match=r"digits_bad.csv:2: 13 pixels; expected a square image"):
        digits.parse_pixels((FIXTURES / "digits_bad.csv").read_text(), "digits_bad.csv")
    with pytest.raises(ValueError, match=r"d.csv:1: the label \(last value\) must be a class number"):
        digits.parse_pixels("0,0,0,0,1.5\n", "d.csv")


def test_digits_reads_sklearn_file_from_the_cached_wheel(offline_cache: Path):
    csv = (FIXTURES / "digits4x4.csv").read_bytes()
    with zipfile.ZipFile(offline_cache / "pypi" / "scikit_learn-1.9.1-cp311-cp311-manylinux_x86_64.whl", "w") as z:
        z.writestr("sklearn/datasets/data/digits.csv.gz", gzip.compress(csv))
    images, labels, scale = digits.load_images("sklearn", None, None)
    assert images.shape == (12, 4, 4) and scale == 16.0 and float(images.max()) == 1.0


def test_digits_recipe_smoke_rows_and_flat(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = str(FIXTURES / "digits4x4.csv")
    args = ["recipe", "digits", "--data", data, "--test-fraction", "0.25", "--dev-fraction", "0.25", *QUICK]
    for kind in ("rows", "flat"):
        assert main([*args, "--model", kind, "--out", str(tmp_path / kind)]) == 0
        summary = json.loads((tmp_path / kind / "results.json").read_text())
        other = "flat" if kind == "rows" else "rows"
        assert set(summary["test"]) == {"accuracy"} and set(summary["baselines"]) == {other}
        assert summary["recipe"] == "digits" and summary["epochs_run"] == 2 and (tmp_path / kind / "training.png").exists()
        capsys.readouterr()
        assert main(["predict", str(tmp_path / kind), data]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 12 and lines[0].split()[0] in ("1", "7") and "(true: 1)" in lines[0]
