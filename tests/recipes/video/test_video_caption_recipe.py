"""Video-caption recipe: a tiny run learns its clips through run_recipe; metrics by hand; caption-video on clips good
and bad."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from rnnkit.cli import main  # noqa: E402
from rnnkit.recipes import all_recipes, load_run  # noqa: E402
from rnnkit.recipes.text import TokenVocab  # noqa: E402
from rnnkit.recipes.video.caption_recipe import (  # noqa: E402
    VideoCaptionConfig,
    caption_clips,
    caption_metrics,
    frame_truth,
    make_split,
)
from rnnkit.recipes.video.captioner import VideoCaptioner  # noqa: E402
from rnnkit.recipes.video.clips import Actor, Script, Segment, clip_dataset  # noqa: E402
from rnnkit.recipes.video.sentences import canonical, phrasings  # noqa: E402

# 12 clips of sklearn handwriting, a small CNN trained on their frames, no validation split: the
# epoch with the lowest training loss is kept, so the run shows whether the model can learn its clips
TINY = ["--digits", "sklearn", "--num-train", "12", "--num-dev", "0", "--num-test", "2", "--channels", "8",
        "--hidden-size", "48", "--embed-size", "16", "--pretrain-epochs", "60",
        "--pretrain-frames", "8", "--batch-size", "4", "--lr", "0.02", "--epochs", "60", "--references", "2", "--beam",
        "2", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video-caption")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNKIT_CACHE", str(out / "cache"))  # clips built afresh (and cached there)
        assert main(["recipe", "video-caption", *TINY, "--out", str(out / "run")]) == 0
    return out


def test_metrics_by_hand():
    a = Script(8, (Actor(3, (Segment("grows", 0, 4), Segment("stays", 4, 8))),))
    b = Script(8, (Actor(1, (Segment("rotates", 0, 8),)),
                   Actor(6, (Segment("moves left", 0, 3), Segment("bounces", 3, 8)))))
    refs = [phrasings(a, 3), phrasings(b, 3)]
    perfect = caption_metrics([canonical(a), refs[1][1]], [a, b], refs)
    assert perfect == {"fully_right": 1.0, "digits_right": 1.0, "parsed": 1.0, "fully_right_one": 1.0,
                       "fully_right_two": 1.0, "bleu": pytest.approx(100.0)}
    # right digits, one action wrong; then an unreadable caption
    metrics = caption_metrics(["the three grows, then shrinks", "the one rotates, and flies"], [a, b], refs)
    assert metrics["fully_right"] == 0.0
    assert metrics["digits_right"] == 0.5
    assert metrics["parsed"] == 0.5
    assert 0.0 < metrics["bleu"] < 100.0
    # the one-digit clip right, the two-digit clip wrong: the split says which
    split = caption_metrics([canonical(a), "the one rotates"], [a, b], refs)
    assert (split["fully_right"], split["fully_right_one"], split["fully_right_two"]) == (0.5, 1.0, 0.0)
    assert "fully_right_two" not in caption_metrics([canonical(a)], [a], refs[:1])  # no two-digit clips


def test_frame_truth_by_hand():
    script = Script(5,
                    (Actor(2, (Segment("stays", 0, 2), Segment("grows", 2, 5))), Actor(9, (Segment("bounces", 0, 5),))))
    present, actions = frame_truth(script)
    assert present.shape == actions.shape == (5, 10)
    assert present.sum(1).tolist() == [2] * 5
    assert present[:, [2, 9]].all()
    assert actions[:, 2].tolist() == [0, 0, 5, 5, 5]  # ACTIONS.index: stays 0, grows 5
    assert actions[:, 9].tolist() == [8] * 5  # bounces 8
    assert (actions[:, [0, 1, 3, 4, 5, 6, 7, 8]] == -1).all()


def test_tiny_run_learns_to_caption_its_clips(tiny_run: Path):
    result = json.loads((tiny_run / "run" / "results.json").read_text())
    assert result["recipe"] == "video-caption"
    assert {"fully_right", "digits_right", "parsed", "bleu"} <= set(result["test"])
    assert (tiny_run / "run" / "attention.png").exists()
    history = result["history"]
    assert history[-1]["train_loss"] < 0.25 * history[0]["train_loss"]
    # the clips it trained on, read from their frames by the saved model (its own frame CNN, as caption-video reads
    # them): a model that did not read them would write one caption for all (1 in 12 right)
    run = load_run(tiny_run / "run", all_recipes())
    assert isinstance(run.config, VideoCaptionConfig)
    assert isinstance(run.model, VideoCaptioner)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNKIT_CACHE", str(tiny_run / "cache"))
        clips = clip_dataset("sklearn", "train", 12, 0)
    split = make_split(clips, None, 2, 0)
    with torch.no_grad():
        hyps = caption_clips(run.model, split, TokenVocab.from_dict(run.meta["vocab"]), beam=1)
    train = caption_metrics(hyps, clips.scripts, split.references)
    assert train["fully_right"] >= 0.75, train


def test_caption_video_prints_a_caption_for_npy_and_gif(tiny_run: Path, capsys: pytest.CaptureFixture[str]):
    from PIL import Image

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNKIT_CACHE", str(tiny_run / "cache"))
        clips = clip_dataset("sklearn", "train", 12, 0)
    clip = clips.clip(0)  # uint8 (T, 64, 64)
    np.save(tiny_run / "clip.npy", clip)
    np.save(tiny_run / "clip-float.npy", clip.astype(np.float32) / 255.0)
    frames = [Image.fromarray(f) for f in clip]
    frames[0].save(tiny_run / "clip.gif", save_all=True, append_images=frames[1:], duration=80)
    capsys.readouterr()
    assert main(["caption-video", str(tiny_run / "run"),
                 *(str(tiny_run / n) for n in ("clip.npy", "clip-float.npy", "clip.gif"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    captions = [line.split(": ", 1)[1] for line in lines]
    assert captions[0] == captions[1] == captions[2]  # the same frames, however they are stored
    assert lines[0].startswith(str(tiny_run / "clip.npy"))
    assert main(["caption-video", str(tiny_run / "run"), str(tiny_run / "clip.npy"), "--json", "--beam", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == len(clip)


@pytest.mark.parametrize(("name", "array", "message"), [
    ("flat.npy", np.zeros((64, 64), np.uint8), r"flat\.npy holds an array of shape \(64, 64\); expected \(T, 64, 64\)"),
    ("small.npy", np.zeros((10, 32, 32), np.uint8), r"small\.npy holds an array of shape \(10, 32, 32\)"),
    ("clip.mp4", None, r"clip\.mp4: only \.npy clips"),
    ("missing.npy", None, r"no clip file .*missing\.npy"),
])
def test_caption_video_names_a_bad_clip(tiny_run: Path, capsys: pytest.CaptureFixture[str], name, array, message):
    path = tiny_run / name
    if array is not None:
        np.save(path, array)
    elif name.endswith(".mp4"):
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    assert main(["caption-video", str(tiny_run / "run"), str(path)]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_caption_video_without_a_run_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["caption-video", str(tmp_path / "nothing"), "clip.npy"]) == 2
    assert f"no checkpoint at {tmp_path / 'nothing'}" in capsys.readouterr().err


def test_a_run_reuses_an_earlier_runs_frame_cnn(tiny_run: Path, capsys: pytest.CaptureFixture[str]):
    # a second run on the same clips with --frame-encoder: the CNN is read, not trained (no pretraining epochs run),
    # and the new run saves exactly the weights it was given, so caption-video reads its frames the same way
    again = tiny_run / "again"
    flags = [*TINY, "--frame-encoder", str(tiny_run / "run"), "--epochs", "2", "--dropout", "0.2"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNKIT_CACHE", str(tiny_run / "cache"))
        capsys.readouterr()
        assert main(["recipe", "video-caption", *flags, "--out", str(again)]) == 0
    out = capsys.readouterr().out
    assert f"frame CNN read from {tiny_run / 'run'}" in out
    assert "frame CNN trained on" not in out
    first, second = load_run(tiny_run / "run", all_recipes()), load_run(again, all_recipes())
    assert isinstance(first.model, VideoCaptioner)
    assert isinstance(second.model, VideoCaptioner)
    assert second.model.decoder.config.dropout == 0.2
    for name, weight in first.model.frames.state_dict().items():
        torch.testing.assert_close(second.model.frames.state_dict()[name], weight, rtol=0, atol=0)


def test_reusing_a_frame_cnn_of_other_channels_says_which(tiny_run: Path):
    from rnnkit.recipes.video.caption_recipe import reuse_frame_encoder

    assert reuse_frame_encoder(str(tiny_run / "run"), 8).training is False
    with pytest.raises(ValueError, match=r"has --channels 8, this run 16; pass --channels 8"):
        reuse_frame_encoder(str(tiny_run / "run"), 16)


def test_defaults_build_the_wider_frame_cnn_and_caption_greedily(tiny_run: Path):
    # the defaults measured on the validation clips (docs/results.md): --channels 24 (91.3% of the captions fully
    # right against 86.0% at 16) and greedy decoding (beam 3 left segments out: 87.7%)
    from rnnkit.recipes.video.caption_recipe import VideoCaptionRecipe

    config = VideoCaptionConfig()
    assert config.beam == 1
    meta = {"vocab": load_run(tiny_run / "run", all_recipes()).meta["vocab"], "frame_encoder": None}
    model = VideoCaptionRecipe().build_model(config, meta)
    assert isinstance(model, VideoCaptioner)
    convs = [m for m in model.frames.modules() if isinstance(m, torch.nn.Conv2d)]
    # stem C/2, then C, then 2C in the last three blocks, read by the head
    assert [c.out_channels for c in convs[:-1]] == [12, 24, 48, 48, 48]
    assert convs[-1].in_channels == 48
    assert config.pretrain_minutes >= 25  # the 24-channel CNN's 20 epochs take about 14 minutes on a free core
