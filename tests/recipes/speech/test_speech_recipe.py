"""Both spoken-digit recipes learn a tiny tone-pattern version of their task end to end through
`rnnkit recipe` (speakers held out as voices are), and `rnnkit listen` reads WAV files with a trained run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tones import corpus, tone, train_on_tones, utterance, write

from rnnkit.cli import main
from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.speech.data import split_voices
from rnnkit.recipes.speech.features import FeatureConfig
from rnnkit.recipes.speech.model import CTCEnsemble
from rnnkit.recipes.speech.recipe import (
    ConnectedDigitsConfig,
    ConnectedDigitsRecipe,
    SpeechData,
    SpeechRecipe,
    Transcribed,
)

TINY = ["--no-real", "--no-progress", "--threads", "1", "--n-mels", "20", "--hidden-size", "24", "--num-layers", "1",
        "--augment-copies", "0", "--test-voices", "1", "--dev-voices", "1", "--batch-size", "8", "--dropout", "0",
        "--lr", "0.01", "--patience", "0"]


@pytest.fixture(scope="module")
def isolated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spoken")
    corpus(root / "data", speakers=5, words=[2, 3, 4, 5], takes=12, max_digits=1)
    out = root / "run"
    assert main(["recipe", "digits-spoken", "--data-dir", str(root / "data"), "--out", str(out), "--epochs", "12",
                 *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def ctc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_on_tones(tmp_path_factory.mktemp("ctc"), "digits-ctc", TINY)


@pytest.fixture(scope="module")
def ctc_ensemble(ctc_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """--members 2 --resume with a copy of ctc_run as member 0: member 0 is reused, member 1 trains from init seed 1."""
    out = tmp_path_factory.mktemp("ensemble") / "run"
    shutil.copytree(ctc_run, out / "member0")
    assert main(["recipe", "digits-ctc", "--data-dir", str(ctc_run.parent / "data"), "--out", str(out), "--epochs",
                 "25", "--beam", "4", *TINY, "--members", "2", "--resume"]) == 0
    return out


def test_speakers_are_held_out_whole():
    voices = [f"espeak:v{i}" for i in range(10)] + [f"flite:{v}" for v in ("kal", "awb", "slt", "rms", "kal16")]
    parts = split_voices(voices, dev=2, test=3, seed=1)
    assert sum(v.startswith("flite:") for v in parts["test"]) == 1
    assert sum(v.startswith("flite:") for v in parts["dev"]) == 1
    assert len(parts["test"]) == 4
    assert len(parts["dev"]) == 3
    assert len(parts["train"]) == 8
    assert not (set(parts["train"]) & set(parts["test"]))
    assert not (set(parts["train"]) & set(parts["dev"]))
    assert parts == split_voices(voices, dev=2, test=3, seed=1)
    with pytest.raises(ValueError, match="cannot give 9 test"):
        split_voices(voices[:5], dev=1, test=9, seed=0)


def test_isolated_learns_held_out_speaker(isolated_run: Path):
    summary = json.loads((isolated_run / "results.json").read_text())
    assert summary["test"]["accuracy"] >= 0.9  # 4 words: chance is 0.25
    run = load_run(isolated_run, all_recipes())
    assert len(run.meta["voices"]["test"]) == 1
    assert run.meta["voices"]["test"][0] not in run.meta["voices"]["train"]
    assert (isolated_run / "confusion.png").stat().st_size > 0


def test_ctc_learns_strings_of_a_held_out_speaker(ctc_run: Path):
    test = json.loads((ctc_run / "results.json").read_text())["test"]
    assert test["wer"] <= 0.2
    assert test["wer_beam"] <= 0.2
    assert test["string_accuracy"] >= 0.6
    assert test["wer_voices"] == pytest.approx(test["wer"])  # one held-out speaker: its own rate is the mean
    assert (ctc_run / "posteriors.png").stat().st_size > 0


def test_ctc_best_epoch_is_the_one_with_the_lowest_mean_over_voices(ctc_run: Path):
    summary = json.loads((ctc_run / "results.json").read_text())
    by_epoch = [row["dev_wer_voices"] for row in summary["history"]]
    assert summary["best_epoch"] == 1 + by_epoch.index(min(by_epoch))  # the first epoch at the lowest


def test_ctc_ends_with_the_mean_of_the_last_epochs_that_validates_best(ctc_run: Path):
    summary = json.loads((ctc_run / "results.json").read_text())
    n = ConnectedDigitsConfig().average_last
    assert n >= 2  # the recipe averages by default
    tried = summary["averages"]  # after the 25 epochs: the means of the last 2..n, each validated
    assert [row["averaged"] for row in tried] == list(range(2, n + 1))
    assert [row["first_epoch"] for row in tried] == [26 - k for k in range(2, n + 1)]
    single = summary["history"][summary["best_epoch"] - 1]["dev_wer_voices"]
    means = [row["dev_wer_voices"] for row in tried]
    if summary["averaged_epochs"]:  # the first mean at the lowest, and lower than every single epoch
        assert summary["averaged_epochs"] == 2 + means.index(min(means))
        expected = min(means)
        assert expected < single
    else:
        expected = single
        assert single <= min(means)
    # best.pt, which listen and predict load, holds those weights: measured again, the same validation figure
    run = load_run(ctc_run, all_recipes())
    assert isinstance(run.recipe, ConnectedDigitsRecipe)
    assert isinstance(run.config, ConnectedDigitsConfig)
    d = run.recipe.prepare_data(run.config)
    with torch.no_grad():
        assert run.recipe.evaluate(run.model, run.config, d, "dev")["wer_voices"] == pytest.approx(expected)


def test_listen_prints_what_the_model_hears(ctc_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    run = load_run(ctc_run, all_recipes())
    speaker = run.meta["voices"]["test"][0]
    files = sorted((ctc_run.parent / "data" / speaker).glob("*.wav"))[:6]
    capsys.readouterr()
    assert main(["listen", str(ctc_run), *map(str, files), "--explain", str(tmp_path / "post.png")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert isinstance(run.recipe, SpeechRecipe)
    heard = run.recipe.hear(run.model, run.meta, run.recipe.read(run.meta, [str(f) for f in files]), 4)
    assert lines[:-1] == [f"{h['digits']}\t{' '.join(h['words'])}\t{f}" for h, f in zip(heard, files, strict=True)]
    assert lines[-1] == f"saved {tmp_path / 'post.png'}"
    assert (tmp_path / "post.png").stat().st_size > 0
    said = [f.stem.split("_")[0] for f in files]
    assert sum(h["digits"] == s for h, s in zip(heard, said, strict=True)) >= 4


def test_listen_refuses_bad_input_by_name(ctc_run: Path, isolated_run: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]):
    stereo = write(tmp_path / "two.wav", utterance([2], 1.0, 1.0, np.random.default_rng(0)), channels=2)
    capsys.readouterr()
    assert main(["listen", str(ctc_run), str(stereo)]) == 2
    assert "two.wav: 2 channels" in capsys.readouterr().err
    assert main(["listen", str(ctc_run), str(stereo), "--mix"]) == 0
    mono = write(tmp_path / "one.wav", tone(400.0, 0.3))
    assert main(["listen", str(isolated_run), str(mono), "--explain", str(tmp_path / "x.png")]) == 2
    assert "not digits-ctc" in capsys.readouterr().err


class _Oracle(torch.nn.Module):
    """A 'model' that hears what its one-hot frames spell: frame features are the labels' scores."""

    def forward(self, inputs: torch.Tensor, lengths: object = None) -> tuple[torch.Tensor, None]:
        return torch.log_softmax(20.0 * inputs, dim=-1), None  # (B, T, V+1)


def _frames(words: list[int]) -> torch.Tensor:
    labels = [x for w in words for x in (w + 1, 0)]  # each word (CTC label w+1) then a blank
    return torch.nn.functional.one_hot(torch.tensor(labels), 12).float()  # (T, V+1)


def test_a_speed_range_out_of_bounds_is_refused_by_its_flag_before_any_audio_is_made(tmp_path: Path):
    for speed in (1.0, -0.1):
        with pytest.raises(ValueError, match=f"digits-ctc: --speed must be in \\[0, 1\\).*got {speed}"):
            ConnectedDigitsRecipe().prepare_data(ConnectedDigitsConfig(speed=speed, data_dir=str(tmp_path / "none")))


def test_ctc_evaluate_weighs_each_dev_voice_the_same():
    refs = [[1, 2], [3, 4], [5, 6], [7, 8]]
    heard = [[1, 2], [3, 4], [5, 6], [7, 9]]  # voice a: 0 of 6 digits wrong; voice b: 1 of 2
    dev = Transcribed([_frames(h) for h in heard], refs, ["a1", "a2", "a3", "b1"], ["a", "a", "a", "b"])
    empty = Transcribed([], [], [], [])
    d = SpeechData(empty, dev, empty, None, {}, FeatureConfig())
    metrics = ConnectedDigitsRecipe().evaluate(_Oracle(), ConnectedDigitsConfig(), d, "dev")
    assert metrics["wer"] == pytest.approx(1 / 8)
    assert metrics["wer_voices"] == pytest.approx((0 / 6 + 1 / 2) / 2)
    assert metrics["string_accuracy"] == pytest.approx(3 / 4)
    assert ConnectedDigitsRecipe.monitor == "wer_voices"  # picks the best epoch (the test above: fit uses it)


def test_ensemble_reuses_a_finished_member_and_trains_the_other(ctc_run: Path, ctc_ensemble: Path):
    first, second, alone = (load_run(p, all_recipes()) for p in (ctc_ensemble / "member0", ctc_ensemble / "member1",
                                                                 ctc_run))
    assert all(torch.equal(v, alone.checkpoint["model"][k]) for k, v in first.checkpoint["model"].items())
    assert not torch.equal(first.checkpoint["model"]["head.weight"], second.checkpoint["model"]["head.weight"])
    assert isinstance(second.config, ConnectedDigitsConfig)
    assert second.config.init_seed == 1
    assert second.meta["voices"] == first.meta["voices"]  # the same data: the voices of --seed
    summary = json.loads((ctc_ensemble / "results.json").read_text())
    assert summary["members"] == 2
    assert summary["test"]["wer"] <= 0.2


def test_ensemble_checkpoint_decodes_the_members_mean_log_posteriors(ctc_ensemble: Path):
    run = load_run(ctc_ensemble, all_recipes())
    assert isinstance(run.model, CTCEnsemble)
    assert run.model.combine == "strings"  # the default: decoded by strings; forward (and the pictures) give the mean
    assert isinstance(run.recipe, ConnectedDigitsRecipe)
    assert isinstance(run.config, ConnectedDigitsConfig)
    members = [load_run(ctc_ensemble / f"member{k}", all_recipes()).model for k in range(2)]
    d = run.recipe.prepare_data(run.config)
    inputs = d.test.inputs[:5]
    mean = [(a + b) / 2 for a, b in zip(*(run.recipe.log_probs(m, inputs) for m in members), strict=True)]
    for got, m in zip(run.recipe.log_probs(run.model, inputs), mean, strict=True):
        torch.testing.assert_close(got, torch.log_softmax(m, dim=-1))
    # what best.pt holds is what was validated and tested
    summary = json.loads((ctc_ensemble / "results.json").read_text())
    with torch.no_grad():
        assert run.recipe.evaluate(run.model, run.config, d, "dev")["wer_voices"] == pytest.approx(
            summary["dev"]["wer_voices"])
    assert [m["wer_voices"] for m in summary["member_dev"]] == pytest.approx(
        [run.recipe.evaluate(m, run.config, d, "dev")["wer_voices"] for m in members])
    assert {"wer_beam", "wer_voices_beam", "string_accuracy_beam"} <= summary["dev"].keys()  # and with the beam


def test_listen_hears_with_the_ensemble(ctc_run: Path, ctc_ensemble: Path, capsys: pytest.CaptureFixture[str]):
    run = load_run(ctc_ensemble, all_recipes())
    files = sorted((ctc_run.parent / "data" / run.meta["voices"]["test"][0]).glob("*.wav"))[:6]
    capsys.readouterr()
    assert main(["listen", str(ctc_ensemble), *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert isinstance(run.recipe, SpeechRecipe)
    heard = run.recipe.hear(run.model, run.meta, run.recipe.read(run.meta, [str(f) for f in files]), 4)
    assert lines == [f"{h['digits']}\t{' '.join(h['words'])}\t{f}" for h, f in zip(heard, files, strict=True)]
    said = [f.stem.split("_")[0] for f in files]
    assert sum(h["digits"] == s for h, s in zip(heard, said, strict=True)) >= 4
