"""fit's learning-rate schedule (TrainConfig.schedule): the rate of each epoch, and exact resume under it."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from rnnkit.recipes.training import TrainConfig, fit, schedule_factor
from rnnkit.utils.checkpoint import atomic_save, load_checkpoint

X = torch.randn(12, 3, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.3


def batches(epoch: int) -> list[tuple[Tensor, Tensor]]:
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(epoch)).tolist()
    return [(X[order[i : i + 4]], Y[order[i : i + 4]]) for i in range(0, len(order), 4)]


class Killed(Exception):
    pass


def run(config: TrainConfig, out: Path | None = None, seen: list[tuple[int, float]] | None = None,
        kill_at: int | None = None) -> nn.Linear:
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr)

    steps = [0]

    def loss(m: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        steps[0] += 1
        if steps[0] == kill_at:
            raise Killed  # as if the process died before this step
        if seen is not None:
            seen.append((len(seen), opt.param_groups[0]["lr"]))
        x, y = batch
        return ((m(x).squeeze(1) - y) ** 2).mean()

    fit(model, batches, config, loss_fn=loss, optimizer=opt, out_dir=out, restore_best=False,
        checkpoint=(lambda m, info: {"model": m.state_dict()}) if out is not None else None)
    return model


def test_cosine_sets_each_epochs_rate_from_the_formula_and_constant_leaves_it():
    config = TrainConfig(epochs=4, lr=0.01, patience=0, progress=False, schedule="cosine")
    seen: list[tuple[int, float]] = []
    run(config, seen=seen)
    per_epoch = [lr for step, lr in seen if step % 3 == 0]  # 3 batches an epoch
    # lr * (1 + cos(pi * (e - 1) / E)) / 2 for e = 1..4, E = 4: 0.01, 0.00854, 0.005, 0.00146
    expected = [0.01 * (1 + math.cos(math.pi * (e - 1) / 4)) / 2 for e in range(1, 5)]
    assert per_epoch == pytest.approx(expected, rel=1e-12)
    assert len({lr for _, lr in seen}) == 4  # the rate changes between epochs only

    seen.clear()
    run(dataclasses.replace(config, schedule="constant"), seen=seen)
    assert {lr for _, lr in seen} == {0.01}


def test_a_killed_cosine_run_resumes_to_the_same_weights(tmp_path: Path):
    config = TrainConfig(epochs=4, lr=0.05, patience=0, progress=False, schedule="cosine", log_every=0, save_every=1)
    whole = run(config, tmp_path / "whole")
    with pytest.raises(Killed):
        run(config, tmp_path / "run", kill_at=8)  # dies in epoch 3 (steps 7-9), at its reduced rate
    resumed = run(dataclasses.replace(config, resume=True), tmp_path / "run")
    torch.testing.assert_close(resumed.state_dict(), whole.state_dict(), rtol=0, atol=0)


def test_resume_refuses_other_epochs_under_a_schedule(tmp_path: Path):
    config = TrainConfig(epochs=2, lr=0.05, patience=0, progress=False, schedule="cosine", log_every=0, save_every=1)
    with pytest.raises(Killed):
        run(config, tmp_path, kill_at=3)
    with pytest.raises(ValueError, match=r"epochs: asked for 4, the checkpoint has 2"):
        run(dataclasses.replace(config, epochs=4, resume=True), tmp_path)


def test_unknown_schedule_is_refused_before_training():
    with pytest.raises(ValueError, match=r"schedule must be one of \('constant', 'cosine'\), got 'linear'"):
        run(TrainConfig(epochs=1, progress=False, schedule="linear"))
    assert schedule_factor("cosine", 1, 10) == 1.0


def test_a_run_stopped_at_max_steps_goes_on_when_resumed_with_a_higher_limit(tmp_path: Path):
    config = TrainConfig(epochs=4, lr=0.05, patience=0, progress=False, schedule="cosine", log_every=1)
    whole = run(config, tmp_path / "whole")
    capped = run(dataclasses.replace(config, max_steps=5), tmp_path / "run")  # stops in epoch 2 (steps 4-6)
    again = run(dataclasses.replace(config, max_steps=5, resume=True), tmp_path / "run")  # the limit still holds
    torch.testing.assert_close(again.state_dict(), capped.state_dict(), rtol=0, atol=0)
    resumed = run(dataclasses.replace(config, resume=True), tmp_path / "run")  # no limit: on from step 5
    torch.testing.assert_close(resumed.state_dict(), whole.state_dict(), rtol=0, atol=0)
    steps = [row["step"] for row in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
             if "loss" in row and "epoch" in row and "train_loss" not in row]
    assert steps == list(range(1, 13))  # each step logged once: the capped run's partial epoch row is gone


def test_resume_names_the_settings_an_older_checkpoint_predates(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = TrainConfig(epochs=2, lr=0.05, patience=0, progress=False, log_every=0, save_every=1)
    with pytest.raises(Killed):
        run(config, tmp_path, kill_at=3)
    last = tmp_path / "last.pt"
    saved = load_checkpoint(last)
    del saved["fit"]["config"]["average_last"], saved["fit"]["config"]["clip"]  # as if written before they existed
    atomic_save(saved, last)
    capsys.readouterr()
    run(dataclasses.replace(config, resume=True), tmp_path)
    out = capsys.readouterr().out
    assert "was written before these settings existed" in out
    assert "clip=5.0, average_last=0." in out  # in the order of the config's fields
    with pytest.raises(Killed):
        run(config, tmp_path / "whole", kill_at=3)
    capsys.readouterr()
    run(dataclasses.replace(config, resume=True), tmp_path / "whole")  # a last.pt with every setting: no such line
    out = capsys.readouterr().out
    assert "fit: resuming the run in" in out  # it did resume from that last.pt
    assert "written before" not in out
