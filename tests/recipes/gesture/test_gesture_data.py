"""Gesture: the readers of .ts and UCR CSV/TSV series and of the problems in the aeon wheel, on hand-written
fixtures."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest
import torch

from rnnkit.recipes.gesture import data as gesture

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes"



# ---- .ts and UCR files ---------------------------------------------------------------------


def test_parse_ts_multichannel_variable_length_with_missing_values():
    s = gesture.read_series(FIXTURES / "motions.ts")
    assert s.classes == ["walk", "run", "rest"]
    assert s.labels[:4] == ["walk", "walk", "walk", "run"]
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
    assert s.labels == ["1", "1", "2", "2"]
    assert [len(v) for v in s.values] == [5, 4, 5, 4]
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
    train, test = gesture.read_splits("Motions", None, None)
    assert len(train.values) == len(test.values) == 9
    with pytest.raises(ValueError, match="aeon has no data set 'Nope'; available: Motions"):
        gesture.aeon_dataset("Nope")
