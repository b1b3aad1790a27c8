"""Caption recipe: scene composition, captions read back into facts, the model contract, and a smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from rnnkit.cli import main  # noqa: E402
from rnnkit.recipes.caption.recipe import (  # noqa: E402
    CaptionConfig,
    Captioner,
    CaptionRecipe,
    batch,
    canonical,
    caption_metrics,
)
from rnnkit.recipes.caption.scenes import CANVAS, Item, caption_facts, compose, draw_item  # noqa: E402
from rnnkit.recipes.handwriting import ink_boxes, load_source, resample, split_sources  # noqa: E402
from rnnkit.recipes.text import TokenVocab  # noqa: E402
from rnnkit.utils.checkpoint import load_checkpoint  # noqa: E402

OLD_CHECKPOINT = Path(__file__).parents[2] / "fixtures" / "checkpoints" / "caption-2026-11.pt"
SMOKE = ["--digits", "sklearn", "--num-train", "96", "--num-dev", "16", "--num-test", "16", "--channels", "8",
         "--feature-size", "16", "--hidden-size", "32", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def digits():
    return load_source("sklearn")  # small and always installed with the test dependencies


def test_both_captions_of_a_scene_read_back_to_its_fact(digits):
    for scene in compose(digits, np.arange(200), 40, seed=1, augment=True):
        first, second = scene.captions()
        assert caption_facts(first) == scene.fact() == caption_facts(second)
        assert scene.first.digit != scene.second.digit


def test_caption_facts_by_hand():
    fact = caption_facts("a small two below a large seven")
    assert fact == (Item(7, "large"), "above", Item(2, "small"))
    assert caption_facts("a small two to the right of a large seven") == (Item(7, "large"), "left of", Item(2, "small"))
    for bad in ("", "a small two", "a tiny two above a large seven", "a small two near a large seven",
                "two above seven"):
        assert caption_facts(bad) is None


def test_items_are_placed_where_the_caption_says(digits):
    half = CANVAS // 2
    for scene in compose(digits, np.arange(300), 30, seed=2):
        # each item sits wholly in its own half, along the layout's axis
        axis = 0 if scene.layout == "horizontal" else 1  # sum over rows -> column profile
        profile = scene.image.sum(axis=axis)
        assert profile[:half].sum() > 0
        assert profile[half:].sum() > 0
        assert scene.image.max() <= 1.0
        assert scene.image.shape == (CANVAS, CANVAS)


def test_held_out_scenes_use_unseen_digit_images(digits):
    labels = digits.labels
    train, dev, test = split_sources(labels)
    assert not set(train) & set(test)
    assert not set(train) & set(dev)
    assert not set(dev) & set(test)
    assert len(train) + len(dev) + len(test) == len(labels)
    assert set(labels[test]) == set(range(10)) == set(labels[dev])  # every digit is in both unseen pools
    with pytest.raises(ValueError, match="digit 1 has 2 source images, too few"):
        split_sources(np.array([0] * 10 + [1] * 2), test_fraction=0.4, dev_fraction=0.4)


def test_compose_needs_two_kinds_of_digit(digits):
    zeros = np.flatnonzero(digits.labels == 0)[:5]
    with pytest.raises(ValueError, match="at least two different digits"):
        compose(digits, zeros, 3, seed=0)


def test_resample_is_area_averaging():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    # an integer upscale repeats each pixel: nearest-neighbour
    np.testing.assert_allclose(resample(image, 0, 0, 4, 8), np.kron(image, np.ones((2, 2))))
    # halving averages 2x2 blocks: the top-left block is (0 + 1 + 4 + 5) / 4 = 2.5
    np.testing.assert_allclose(resample(image, 0, 0, 4, 2), [[2.5, 4.5], [10.5, 12.5]])
    # a window hanging one pixel off the top-left corner reads zeros there: only a quarter
    # of the top-left target pixel, and half of its two neighbours, lie on the image
    np.testing.assert_allclose(resample(np.ones((4, 4), np.float32), -1, -1, 4, 2), [[0.25, 0.5], [0.5, 1.0]])


def test_ink_box_is_the_square_around_the_ink():
    image = np.zeros((1, 10, 10), dtype=np.float32)
    image[0, 2:8, 4:6] = 1.0  # ink 6 rows tall, 2 columns wide
    np.testing.assert_allclose(ink_boxes(image), [[2.0, 2.0, 6.0]])  # centred on columns 4-5: 5 - 3 = 2


def test_jittered_items_differ_but_keep_their_size_and_range(digits):
    plain = draw_item(digits, 0, 16)
    assert plain.shape == (16, 16)
    assert plain.max() == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    jittered = [draw_item(digits, 0, 16, rng) for _ in range(5)]
    assert all(j.shape == (16, 16) and j.min() >= 0.0 and j.max() == pytest.approx(1.0) for j in jittered)
    assert all(not np.allclose(j, plain) for j in jittered)


@pytest.mark.parametrize("attention", ["none", "additive"])
def test_captioner_follows_the_forward_contract(attention):
    config = CaptionConfig(channels=8, feature_size=16, embed_size=8, hidden_size=16, attention=attention)
    model = Captioner(config, vocab_size=12, bos_id=1, eos_id=2)
    images = torch.rand(3, CANVAS, CANVAS)
    targets = torch.tensor([[5, 6, 2], [7, 2, 0], [3, 4, 2]])
    logits, loss = model(images, targets, torch.tensor([3, 2, 3]))
    assert logits.shape == (3, 3, 12)
    assert loss is not None
    assert loss.requires_grad
    out = model.caption(images)
    assert len(out) == 3
    assert all(2 not in ids for ids in out)
    assert len(model.caption(images, beam=2)) == 3
    with pytest.raises(ValueError, match=r"expected float images \(B, 32, 32\), got \(3, 28, 28\)"):
        model(torch.rand(3, 28, 28))


def test_metrics_count_either_true_phrasing_and_nothing_else(digits):
    scenes = compose(digits, np.arange(300), 4, seed=5)
    true = [s.captions()[k % 2] for k, s in enumerate(scenes)]  # both phrasings are true
    perfect = caption_metrics(true, scenes)
    assert perfect["fact_accuracy"] == perfect["parsed"] == perfect["digits_right"] == 1.0
    assert perfect.get("bleu", 100.0) == pytest.approx(100.0)
    # swap the sizes of the first scene's items: digits and relation still right, the fact not
    a, b = scenes[0].first, scenes[0].second
    wrong_size = (f"a {b.size} {NAMES[a.digit]} {'to the left of' if scenes[0].layout == 'horizontal' else 'above'} a "
                  f"{a.size} {NAMES[b.digit]}")
    garbled = ["a a a", *true[1:]]
    metrics = caption_metrics([wrong_size, *true[1:]], scenes)
    assert metrics["digits_and_relation_right"] == 1.0
    assert metrics["fact_accuracy"] == (0.75 if a.size != b.size else 1.0)
    assert caption_metrics(garbled, scenes)["parsed"] == 0.75 == caption_metrics(garbled, scenes)["fact_accuracy"]


NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def test_smoke_recipe_predict_and_generate_through_the_cli(tmp_path, capsys):
    assert main(["recipe", "caption", *SMOKE, "--epochs", "2", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["recipe"] == "caption"
    assert result["epochs_run"] == 2
    assert {"fact_accuracy", "digits_right", "parsed"} <= set(result["test"])
    # the cosine schedule: epoch 1 at lr, epoch 2 at lr * (1 + cos(pi / 2)) / 2 = lr / 2; patience 0 runs both
    assert result["config"]["schedule"] == "cosine"
    assert result["config"]["patience"] == 0
    assert (tmp_path / "captions.png").exists()
    assert (tmp_path / "training.png").exists()
    assert load_checkpoint(tmp_path / "best.pt")["kind"] == "caption"

    scene = compose(load_source("sklearn"), np.arange(100), 1, seed=3)[0]
    np.save(tmp_path / "scene.npy", scene.image)
    np.save(tmp_path / "inverted.npy", 1.0 - scene.image)  # dark digits on a light ground read the same
    capsys.readouterr()
    assert main(["predict", str(tmp_path), str(tmp_path / "scene.npy"), str(tmp_path / "inverted.npy")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(str(tmp_path / "scene.npy") + ":")
    assert lines[0].split(":", 1)[1] == lines[1].split(":", 1)[1]
    np.save(tmp_path / "wrong.npy", np.zeros((8, 8)))
    assert main(["predict", str(tmp_path), str(tmp_path / "wrong.npy")]) != 0
    assert "wrong.npy is (8, 8); the model reads 32x32 grey images" in capsys.readouterr().err

    assert main(["generate", str(tmp_path), "--num", "2", "--seed", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    assert all("(placed: a " in line for line in out[:2])
    assert out[2] == f"saved {tmp_path / 'generated-0.png'}"
    assert (tmp_path / "generated-0.png").exists()


def test_a_checkpoint_from_before_the_contract_gives_the_old_models_outputs(tmp_path, capsys):
    """caption-2026-11.pt was written by `rnnkit recipe caption` at ad9bf49 (tests/fixtures/checkpoints/README.md).
    At that commit, its model's loss on the two scenes below (sklearn digits 0-99, seed 3, canonical
    captions) was 3.015892505645752: `caption.load(checkpoint)`, then `model(*caption.batch(...))[1]`."""
    recipe = CaptionRecipe()
    upgraded = recipe.upgrade(load_checkpoint(OLD_CHECKPOINT))
    config = CaptionConfig(**upgraded["config"])
    model = recipe.build_model(config, upgraded["meta"])
    model.load_state_dict(upgraded["model"])
    model.eval()
    scenes = compose(load_source("sklearn"), np.arange(100), 2, seed=3)
    vocab = TokenVocab.from_dict(upgraded["meta"]["vocab"])
    with torch.no_grad():
        loss = model(*batch(scenes, [canonical(s) for s in scenes], vocab))[1]
    assert float(loss) == pytest.approx(3.015892505645752, abs=1e-6)

    np.save(tmp_path / "scene.npy", scenes[0].image)
    capsys.readouterr()
    assert main(["predict", str(OLD_CHECKPOINT), str(tmp_path / "scene.npy")]) == 0
    assert capsys.readouterr().out.startswith(str(tmp_path / "scene.npy") + ":")
