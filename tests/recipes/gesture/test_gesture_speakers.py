"""Gesture on a tiny JapaneseVowels-like task (tests/fixtures/recipes/speakers_*.ts: 3 speakers, 3 channels,
3-7 frames): the reader, learning end to end through run_recipe, variable lengths through the
length-aware layers, and the --differences / --frame inputs reaching the model and predict alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from rnnkit.models.many_to_one import ManyToOne
from rnnkit.recipes.classify import collate, wilson_interval
from rnnkit.recipes.gesture.data import read_series
from rnnkit.recipes.gesture.recipe import GestureConfig, GestureRecipe
from rnnkit.recipes.runner import load_run, run_recipe

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes"
TRAIN, TEST = FIXTURES / "speakers_TRAIN.ts", FIXTURES / "speakers_TEST.ts"
QUICK: dict[str, Any] = {"threads": 1, "progress": False, "hidden_size": 16, "batch_size": 4, "lr": 1e-2}


def test_reader_takes_the_japanese_vowels_layout():
    train, test = read_series(TRAIN), read_series(TEST)
    assert train.classes == test.classes == ["1", "2", "3"]
    assert [len(v) for v in train.values] == [5, 7, 3, 6, 4, 7, 5, 3, 6, 4, 7, 5]  # (T, C) per utterance
    assert {v.shape[1] for v in train.values + test.values} == {3}
    assert train.labels == ["1"] * 4 + ["2"] * 4 + ["3"] * 4
    assert test.values[2].flatten().tolist() == pytest.approx([-0.36, -0.44, 1.38, -0.22, -0.37, 1.14, -0.36, -0.29,
                                                               1.13])


def test_gesture_learns_the_speakers_through_run_recipe_over_variable_lengths(tmp_path: Path):
    summary = run_recipe(GestureRecipe(),
                         GestureConfig(data=str(TRAIN), test=str(TEST), epochs=12, out=str(tmp_path), **QUICK))
    assert summary["test"]["accuracy"] == 1.0  # 6 of 6, from a third by chance
    assert (summary["test"]["accuracy_low"], summary["test"]["accuracy_high"]) == pytest.approx(wilson_interval(6, 6))
    assert set(summary["baselines"]) == {"1-NN DTW"}  # lengths 3-7: no Euclidean distance

    # a padded batch of lengths 3-7 scores each series as if it were alone: the bidirectional GRU and the
    # mean pooling see only each series' own steps (lengths reach the layers) ...
    run = load_run(tmp_path, {"gesture": GestureRecipe()})
    assert isinstance(run.config, GestureConfig)
    data = GestureRecipe().prepare_data(run.config)
    x, lengths = collate(data.test.inputs)  # (6, 7, 3), (6,)
    assert sorted(lengths.tolist()) == [3, 3, 4, 5, 6, 7]
    with torch.no_grad():
        batched, _ = run.model(x, lengths=lengths)  # (6, 3)
        alone = torch.cat([run.model(s.unsqueeze(0))[0] for s in data.test.inputs])  # (6, 3)
        ignoring_lengths, _ = run.model(x)
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ignoring_lengths, alone, atol=1e-3)  # ... which matters: the padding would change them

    data.dev = data.test  # the validation figures that pick the best epoch: mean cross-entropy and accuracy
    dev = GestureRecipe().evaluate(run.model.eval(), run.config, data, "dev")
    want = torch.nn.functional.cross_entropy(alone, torch.tensor(data.test.labels))
    assert dev == pytest.approx({"loss": float(want), "accuracy": 1.0}, abs=1e-5)


def test_differences_and_frames_reach_the_model_and_predict_alike(tmp_path: Path):
    config = GestureConfig(data=str(TRAIN), test=str(TEST), epochs=2, differences=True, frame=2, out=str(tmp_path),
                           **QUICK)
    run_recipe(GestureRecipe(), config)
    run = load_run(tmp_path, {"gesture": GestureRecipe()})
    mean, std = run.meta["mean"], run.meta["std"]
    assert len(mean) == 6  # 3 channels and their 3 differences
    assert isinstance(run.model, ManyToOne)
    assert run.model.config.input_size == 12  # two steps of those six per frame
    results = run.recipe.predict(run.model, run.config, run.meta, [str(TEST)])
    for series, result in zip(read_series(TEST).values, results, strict=True):
        # by hand: [x_t, x_t - x_{t-1}] (0 at t = 1), standardised, two steps per frame (the odd last one repeated)
        x = torch.cat([series, torch.cat([torch.zeros(1, 3), series[1:] - series[:-1]])], 1)  # (T, 6)
        x = (x - mean) / std
        if len(x) % 2:
            x = torch.cat([x, x[-1:]])
        x = x.reshape(-1, 12)  # (ceil(T/2), 12)
        with torch.no_grad():
            p = torch.softmax(run.model(x.unsqueeze(0))[0][0], 0)
        assert dict(result["ranking"]) == pytest.approx(dict(zip(run.meta["classes"], p.tolist(), strict=True)),
                                                        abs=2e-6)
    with pytest.raises(ValueError, match="--frame must be 1 or more steps per frame, got 0"):
        GestureRecipe().prepare_data(GestureConfig(data=str(TRAIN), test=str(TEST), frame=0))
