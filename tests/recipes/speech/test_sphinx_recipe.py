"""digits-ctc-sphinx: the deltas by hand, the features' layout, and the recipe end to end on a tiny
tone-pattern corpus through sphinx_fe (skipped unless sphinx_fe's and pocketsphinx-testdata's Debian
packages are in the cache), with `rnnkit predict` reading a WAV file through the same front end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tones import train_on_tones

from rnnkit.cli import main
from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.data_cache import cache_dir
from rnnkit.recipes.speech import sphinx, tidigits
from rnnkit.recipes.speech.sphinx_recipe import SphinxDigitsConfig, SphinxDigitsRecipe, cepstral_features, deltas

TINY = ["--no-real", "--no-progress", "--threads", "1", "--hidden-size", "24", "--num-layers", "1",
        "--augment-copies", "0", "--test-voices", "1", "--dev-voices", "1", "--batch-size", "8", "--dropout", "0",
        "--lr", "0.01", "--patience", "0"]


def test_deltas_by_hand():
    # d_t = (1 (c_{t+1} - c_{t-1}) + 2 (c_{t+2} - c_{t-2})) / 10, with c_{-k} = c_0 and c_{T-1+k} = c_{T-1}
    c = torch.tensor([[0.0], [1.0], [4.0], [9.0]])
    want = torch.tensor([[(1 + 2 * 4) / 10], [(4 + 2 * 9) / 10], [(9 - 1 + 2 * (9 - 0)) / 10],
                         [(9 - 4 + 2 * (9 - 1)) / 10]])
    torch.testing.assert_close(deltas(c), want)


def test_deltas_of_a_ramp_are_its_slope_inside():
    c = 3.0 * torch.arange(10.0)[:, None].expand(10, 2)  # (T, F)
    torch.testing.assert_close(deltas(c)[2:-2], torch.full((6, 2), 3.0))


def test_cepstral_features_layout():
    rng = np.random.default_rng(0)
    cepstra = rng.standard_normal((10, 13)).astype(np.float32) * 5 + 2
    x = cepstral_features(cepstra, stack=3)
    assert x.shape == (4, 3 * 39)  # 10 frames -> 4 steps, the last padded by repeating the 10th
    frames = x.reshape(-1, 39)[:10]  # (T, 39): cepstra, deltas, delta-deltas
    torch.testing.assert_close(frames.mean(0), torch.zeros(39), atol=1e-5, rtol=0)
    torch.testing.assert_close(frames[:, :13].std(0, unbiased=False), torch.ones(13), atol=1e-4, rtol=0)
    # standardised cepstra are the input cepstra, shifted and scaled per coefficient
    c = torch.from_numpy(cepstra)
    torch.testing.assert_close(frames[:, :13], (c - c.mean(0)) / c.std(0, unbiased=False), atol=1e-5, rtol=0)


def test_mel_band_augmentations_are_refused():
    with pytest.raises(ValueError, match="--warp 0.1 and --freq-masks 0 act on mel bands"):
        SphinxDigitsRecipe().prepare_data(SphinxDigitsConfig(warp=0.1))


@pytest.fixture(scope="module")
def sphinx_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    needed = [*sphinx.PACKAGES, tidigits.PACKAGE]
    missing = [p for p in needed if not list((cache_dir() / "debian").glob(f"{p}_*.deb"))]
    if missing:
        pytest.skip(f"not in the cache: {', '.join(missing)} (`rnnkit recipe digits-ctc-sphinx` fetches them)")
    return train_on_tones(tmp_path_factory.mktemp("sphinx"), "digits-ctc-sphinx", TINY)


def test_the_recipe_learns_tone_strings_and_tests_on_tidigits(sphinx_run: Path):
    test = json.loads((sphinx_run / "results.json").read_text())["test"]
    assert test["wer_beam"] <= 0.2  # three tone words in strings of 1-3 by a held-out speaker
    assert test["tidigits_utterances"] == 31
    assert test["tidigits_digits"] == 107
    assert 0.0 <= test["tidigits_low95"] <= test["tidigits_string_accuracy"] <= test["tidigits_high95"]
    run = load_run(sphinx_run, all_recipes())
    assert run.meta["front_end"]["params"]["upperf"] == "4000"
    assert run.meta["features"]["n_mels"] == 39


def test_predict_reads_a_wav_through_sphinx_fe(sphinx_run: Path, capsys: pytest.CaptureFixture[str]):
    wav = sorted((sphinx_run.parent / "data").glob("*/*.wav"))[0]
    assert main(["predict", str(sphinx_run), str(wav)]) == 0
    heard = capsys.readouterr().out.strip().split("\t")
    assert heard[-1] == str(wav)
    assert heard[0] == wav.stem.split("_")[0]  # a training file: its digits are heard
