"""fit's checkpoint averaging (TrainConfig.average_last): the mean of the last k epochs' weights, k chosen on
validation, against torch's own SWA average; an exact resume keeps the epochs it averages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from rnnkit.recipes.training import FitResult, TrainConfig, average_weights, fit
from rnnkit.utils.checkpoint import load_checkpoint

W0 = 0.25  # the weight before training; each epoch adds exactly 1 to it (below)


class Killed(Exception):
    pass


def walk(target: float, epochs: int = 5, average_last: int = 5, out: Path | None = None,
         kill_at: int | None = None, resume: bool = False,
         max_steps: int | None = None) -> tuple[nn.Linear, FitResult, list[float]]:
    """A one-weight model that SGD moves from W0 by +1 an epoch (one batch, loss -w, lr 1), so the weight after
    epoch e is W0 + e and the mean of the last k of E epochs is W0 + E - (k - 1) / 2. Validation scores the
    distance to ``target``; returns the model, fit's result and the weights validation saw."""
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(W0)
    seen: list[float] = []
    steps = [0]

    def loss(m: nn.Module, batch: Tensor) -> Tensor:
        steps[0] += 1
        if steps[0] == kill_at:
            raise Killed  # as if the process died before this step
        return -m.get_parameter("weight").sum()

    def evaluate(m: nn.Module) -> dict[str, float]:
        w = m.get_parameter("weight").item()
        seen.append(w)
        return {"distance": abs(w - target)}

    config = TrainConfig(epochs=epochs, patience=0, progress=False, clip=0.0, average_last=average_last, resume=resume,
                         max_steps=max_steps)
    result = fit(model, [torch.zeros(1)], config, evaluate=evaluate, monitor="distance", mode="min", loss_fn=loss,
                 optimizer=torch.optim.SGD(model.parameters(), lr=1.0), out_dir=out,
                 checkpoint=(lambda m, info: {"model": m.state_dict(), **info}) if out is not None else None)
    return model, result, seen


def test_average_weights_is_torchs_swa_average():
    torch.manual_seed(0)
    nets = [nn.LSTM(3, 4, num_layers=2, bidirectional=True) for _ in range(4)]
    swa = AveragedModel(nets[0])  # torch's running equal-weight mean: an independent reference
    for net in nets:  # its first update copies, the later ones average in
        swa.update_parameters(net)
    ours = average_weights([n.state_dict() for n in nets])
    for name, value in swa.module.state_dict().items():
        torch.testing.assert_close(ours[name], value)
    with pytest.raises(ValueError, match="different entries"):
        average_weights([nets[0].state_dict(), nn.Linear(2, 2).state_dict()])


def test_validation_picks_the_mean_of_the_last_k_epochs(tmp_path: Path):
    # weights after epochs 1..5: W0 + 1 .. W0 + 5; the mean of the last 4 is W0 + 3.5, which no single epoch is
    model, result, seen = walk(target=W0 + 3.5, out=tmp_path)
    assert result.best_epoch in (3, 4)  # each 0.5 away
    assert result.averaged == 4
    assert model.weight.item() == pytest.approx(W0 + 3.5)
    assert result.best_metric == pytest.approx(0.0)
    # the means validated after training, k = 2..5, in order: W0 + 4.5, 4, 3.5, 3
    assert seen[5:] == pytest.approx([W0 + 4.5, W0 + 4.0, W0 + 3.5, W0 + 3.0])
    assert [r["averaged"] for r in result.averages] == [2, 3, 4, 5]
    best = load_checkpoint(tmp_path / "best.pt")  # what the run's users load: the mean, not epoch 3 or 4
    assert float(best["model"]["weight"]) == pytest.approx(W0 + 3.5)
    assert best["averaged"] == 4


def test_a_single_epoch_that_validates_best_is_kept():
    model, result, _ = walk(target=W0 + 5.0)  # the last epoch itself
    assert result.averaged == 0
    assert len(result.averages) == 4  # tried, and none better
    assert model.weight.item() == pytest.approx(W0 + 5.0)


def test_only_the_last_average_last_epochs_are_kept():
    # with 3 kept, the widest mean is epochs 3-5 (W0 + 4); W0 + 3 (the mean of all 5) is out of reach
    model, result, _ = walk(target=W0 + 3.0, average_last=3)
    assert [r["averaged"] for r in result.averages] == [2, 3]
    assert result.averaged == 0  # epoch 3 itself is W0 + 3
    assert model.weight.item() == pytest.approx(W0 + 3.0)


def test_a_killed_run_resumes_with_the_epochs_it_had_kept(tmp_path: Path):
    whole, whole_result, _ = walk(target=W0 + 3.5)
    with pytest.raises(Killed):
        walk(target=W0 + 3.5, out=tmp_path, kill_at=4)  # dies in epoch 4: last.pt holds epochs 1-3
    resumed, result, _ = walk(target=W0 + 3.5, out=tmp_path, resume=True)
    assert result.averaged == whole_result.averaged == 4  # epochs 2-5: two of them from before the kill
    assert resumed.weight.item() == pytest.approx(whole.weight.item())


def test_a_run_stopped_at_max_steps_goes_on_with_its_epochs_and_its_last_weights(tmp_path: Path):
    whole, whole_result, _ = walk(target=W0 + 3.5)
    capped, capped_result, _ = walk(target=W0 + 3.5, out=tmp_path, max_steps=3)
    assert capped_result.stopped_because == "reached max_steps=3"
    assert capped.weight.item() == pytest.approx(W0 + 3.0)  # it ended with epoch 3's weights
    resumed, result, _ = walk(target=W0 + 3.5, out=tmp_path, resume=True)  # no limit: epochs 4 and 5 follow
    assert result.averaged == whole_result.averaged == 4
    assert resumed.weight.item() == pytest.approx(whole.weight.item())
    assert [r["epoch"] for r in result.history] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_average_last_of_one_is_refused():
    with pytest.raises(ValueError, match="average_last must be 0"):
        walk(target=0.0, average_last=1)
