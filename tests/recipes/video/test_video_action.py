"""The video-action recipe: its scores by hand, the model's motion input, a tiny version learnt through
run_recipe, and `rnnkit predict` on good and bad clip files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.recipes.video.action_metrics import confusion, frame_set_accuracy, runs
from rnnkit.recipes.video.action_recipe import VideoActionConfig
from rnnkit.recipes.video.clips import ACTIONS, CANVAS, make_script, render
from rnnkit.recipes.video.recognizer import ActionRecognizer, RecognizerConfig, with_motion

pytest.importorskip("sklearn")

# left or right, one digit, 10-12 frames: a motion task a few dozen steps can learn
TINY = ["--digits", "sklearn", "--actions", "moves left,moves right", "--max-digits", "1", "--min-frames", "10",
        "--max-frames", "12", "--margin", "2", "--num-train", "192", "--num-dev", "32", "--num-test", "64",
        "--channels", "8", "--feature-size", "32", "--hidden-size", "32", "--dropout", "0", "--batch-size", "16",
        "--lr", "0.01", "--epochs", "30", "--max-steps", "100", "--patience", "0", "--schedule", "constant",
        "--no-progress", "--threads", "1"]


def test_frame_set_accuracy_and_confusion_by_hand():
    true = np.zeros((1, 3, 3), dtype=bool)
    true[0, :, 0] = True  # every frame: action 0
    true[0, 2, 2] = True  # frame 2: actions 0 and 2
    predicted = true.copy()
    predicted[0, 2, 2] = False  # frame 2 misses action 2: not the exact set
    mask = np.array([[True, True, True]])
    assert frame_set_accuracy(predicted, true, mask) == pytest.approx(2 / 3)
    assert frame_set_accuracy(predicted, true, np.array([[True, True, False]])) == 1.0  # padding is not scored
    counts = confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert runs(["a", "a", "b", "a"]) == [(0, 1, "a"), (2, 2, "b"), (3, 3, "a")]


def test_motion_channel_is_the_next_frame_minus_this_one():
    # x_t = (4b + t)^2
    clips = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1, 1).expand(2, 4, CANVAS, CANVAS) ** 2
    both = with_motion(clips, torch.tensor([4, 3]))  # the second clip has 3 real frames
    motion = both[:, :, 1, 0, 0]
    assert both[:, :, 0, 0, 0].tolist() == clips[:, :, 0, 0].tolist()
    assert motion[0].tolist() == [1.0, 3.0, 5.0, 5.0]  # 1-0, 4-1, 9-4, then the last frame repeats 9-4
    assert motion[1].tolist() == [9.0, 11.0, 11.0, 11.0]  # 25-16, 36-25, then 36-25 from the last real frame on


def test_the_model_refuses_clips_of_the_wrong_shape():
    model = ActionRecognizer(RecognizerConfig(channels=8, feature_size=16, hidden_size=8))
    with pytest.raises(ValueError, match=r"expected float clips \(B, T, 64, 64\), got \(2, 5, 32, 32\)"):
        model(torch.zeros(2, 5, 32, 32), torch.tensor([5, 5]))
    with pytest.raises(ValueError, match=r"lengths must be \(2,\) values in \[2, 5\], got \[5, 1\]"):
        model(torch.zeros(2, 5, CANVAS, CANVAS), torch.tensor([5, 1]))


def test_unknown_actions_are_refused_by_name():
    with pytest.raises(ValueError, match="--actions must be 'all' or two or more of .*got 'moves left,flies'"):
        VideoActionConfig(actions="moves left,flies").script_options()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("video-action")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNKIT_CACHE", str(root / "cache"))
        assert main(["recipe", "video-action", "--out", str(root / "run"), *TINY]) == 0
    return root / "run"


def test_learns_left_from_right_through_run_recipe(trained: Path):
    summary = json.loads((trained / "results.json").read_text())
    test, commonest = summary["test"], summary["baselines"]["commonest"]
    assert test["frame_accuracy"] >= 0.85  # chance is about a half: the move it starts with, or the other
    assert test["clip_accuracy"] >= 0.75
    assert test["frame_accuracy"] > commonest["frame_accuracy"] + 0.25
    assert test["frame_accuracy_each_frame"] >= 0.8  # the same model without the Viterbi decoding, reported beside it
    assert summary["history"][-1]["train_loss"] < 0.5 * summary["history"][0]["train_loss"]
    for picture in ("confusion.png", "strip.png", "training.png"):
        assert (trained / picture).stat().st_size > 0


def test_predict_reads_a_clip_and_names_its_actions(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from rnnkit.recipes.handwriting import load_source

    rng = np.random.default_rng(5)
    script = make_script(rng, frames=(12, 12), actors=(1, 1), actions=("moves left", "moves right"))
    path = tmp_path / "clip.npy"
    np.save(path, render(script, load_source("sklearn"), rng))
    capsys.readouterr()
    assert main(["predict", str(trained), str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["input"] == str(path)
    assert result["frames"] == 12
    assert result["clip_action"] in ACTIONS
    assert len(result["frame_actions"]) == 12
    assert all(set(frame) <= set(ACTIONS) and 1 <= len(frame) <= 2 for frame in result["frame_actions"])
    assert main(["predict", str(trained), str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: main action: ")


def test_predict_refuses_a_clip_of_the_wrong_shape_by_file_name(trained: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "small.npy"
    np.save(bad, np.zeros((12, 32, 32), dtype=np.uint8))
    capsys.readouterr()
    assert main(["predict", str(trained), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad} holds an array of shape (12, 32, 32); expected (T, 64, 64)" in err
    assert "Traceback" not in err
