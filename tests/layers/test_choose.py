"""The fast-path chooser (rnnkit/layers/fast/choose.py): its table of candidates, and its timed choice
with the timings injected, so each row of the truth table is checked whatever the machine."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path as FilePath

import pytest
import torch

import rnnkit
from rnnkit.layers.fast import Path, choose
from rnnkit.layers.fast.dispatch import time_path


@pytest.fixture
def tuner(tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch) -> Iterator[choose.Tuner]:
    """A fresh tuner whose file lives in an empty cache, with timing switched on."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    fresh = choose.Tuner()
    monkeypatch.setattr(choose, "TUNER", fresh)
    with choose.autotune(True):
        yield fresh


def _inputs(
    T: int = 5, B: int = 3, I: int = 4, H: int = 6, layers: int = 1, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(T, B, I, dtype=dtype), torch.zeros(layers, B, H, dtype=dtype)


def _timings(**seconds: float) -> tuple[Callable[[Path], float], list[Path]]:
    """A fake ``measure``: fixed seconds per path, and a record of what was timed."""
    calls: list[Path] = []

    def measure(path: Path) -> float:
        calls.append(path)
        return seconds[path.value]

    return measure, calls


# ---- the table ------------------------------------------------------------------------------


def test_reference_when_no_kernel_can_do_the_call() -> None:
    x, h0 = _inputs()
    assert choose.candidates(rnnkit.LSTM(4, 6, layer_norm=True), x, h0, None) == [Path.REFERENCE]
    assert choose.candidates(rnnkit.LSTM(4, 6, fast=False), x, h0, None) == [Path.REFERENCE]
    dropping = rnnkit.GRU(4, 6, recurrent_dropout=0.5)
    assert choose.candidates(dropping, x, h0, None) == [Path.REFERENCE]
    assert choose.candidates(dropping.eval(), x, h0, None) == [Path.FUSED, Path.TORCH]  # no recurrent dropout in eval
    assert choose.candidates(rnnkit.GRU(4, 6), x[:, :0], h0[:, :0], None) == [Path.REFERENCE]  # B = 0
    assert choose.candidates(rnnkit.RNN(4, 6), x.long(), h0, None) == [Path.REFERENCE]


@pytest.mark.parametrize("cell", [rnnkit.GRU, rnnkit.RNN])
def test_gru_and_elman_in_training_have_two_candidates_fused_first(cell: type) -> None:
    x, h0 = _inputs()
    assert choose.candidates(cell(4, 6), x, h0, None) == [Path.FUSED, Path.TORCH]
    assert choose.candidates(cell(4, 6, dtype=torch.float64), x.double(), h0.double(), None) == [Path.FUSED, Path.TORCH]
    with torch.no_grad():
        assert choose.candidates(cell(4, 6), x, h0, None) == [Path.TORCH]
    frozen = cell(4, 6).requires_grad_(False)
    assert choose.candidates(frozen, x, h0, None) == [Path.TORCH]  # nothing needs a gradient
    assert choose.candidates(frozen, x.requires_grad_(), h0, None) == [Path.FUSED, Path.TORCH]


def test_lstm_candidates_follow_the_segments_rule() -> None:
    lstm = rnnkit.LSTM(4, 6)
    x, h0 = _inputs(T=6, B=6)
    assert choose.candidates(lstm, x, h0, None) == [Path.TORCH]
    assert choose.candidates(lstm, x, h0, torch.tensor([6, 6, 3, 3, 1, 1])) == [Path.SEGMENTS, Path.TORCH]
    assert choose.candidates(lstm, x, h0, torch.tensor([1, 2, 3, 4, 5, 6])) == [Path.TORCH, Path.SEGMENTS]


# ---- the timed choice -------------------------------------------------------------------------


def test_without_autotuning_the_rule_stands_and_nothing_is_timed() -> None:
    measure, calls = _timings(fused=9.0, torch=1.0)
    x, h0 = _inputs()
    with choose.autotune(False):
        plan = choose.choose_path(rnnkit.GRU(4, 6), x, h0, None, measure)
    assert plan.path is Path.FUSED
    assert calls == []


@pytest.mark.parametrize(("fused", "torch_", "winner"),
                         [(2.0, 1.0, Path.TORCH), (1.0, 2.0, Path.FUSED), (1.0, 1.0, Path.FUSED)])
def test_the_faster_path_wins_and_a_tie_keeps_the_rule(tuner: choose.Tuner, fused: float, torch_: float,
                                                       winner: Path) -> None:
    measure, calls = _timings(fused=fused, torch=torch_)
    x, h0 = _inputs()
    assert choose.choose_path(rnnkit.RNN(4, 6), x, h0, None, measure).path is winner
    assert calls.count(Path.FUSED) == calls.count(Path.TORCH) == 1 + choose.ROUNDS  # a warm-up, then the rounds
    assert calls[:2] == [Path.FUSED, Path.TORCH]  # interleaved, not one path's runs back to back


def test_median_not_mean_decides() -> None:
    """One stalled run (the machine is shared) must not decide: medians of fused 1,1,50 and torch 2,2,2."""
    seconds = {Path.FUSED: iter([0.0, 1.0, 1.0, 50.0]), Path.TORCH: iter([0.0, 2.0, 2.0, 2.0])}
    best, medians = choose.fastest([Path.FUSED, Path.TORCH], lambda p: next(seconds[p]))
    assert best is Path.FUSED
    assert medians == {"fused": 1.0, "torch": 2.0}


def test_a_choice_is_made_once_per_kind_of_call(tuner: choose.Tuner) -> None:
    gru = rnnkit.GRU(4, 6)
    measure, calls = _timings(fused=1.0, torch=2.0)
    choose.choose_path(gru, *_inputs(T=20), None, measure)
    timed = len(calls)
    choose.choose_path(gru, *_inputs(T=30), None, measure)  # T rounds up to 32 both times: the same kind
    assert len(calls) == timed
    choose.choose_path(gru, *_inputs(T=40), None, measure)  # 64: a new kind
    choose.choose_path(gru, *_inputs(T=30, B=4), None, measure)  # another batch size: a new kind
    assert len(calls) == 3 * timed


def test_choices_survive_the_process_in_a_file_keyed_by_the_cpu(tuner: choose.Tuner) -> None:
    gru, (x, h0) = rnnkit.GRU(4, 6), _inputs()
    measure, _ = _timings(fused=3.0, torch=1.0)
    assert choose.choose_path(gru, x, h0, None, measure).path is Path.TORCH
    saved = json.loads(tuner.file().read_text())
    (entry,) = saved.values()
    assert entry["path"] == "torch"
    assert entry["seconds"] == {"fused": 3.0, "torch": 1.0}

    later = choose.Tuner()  # the next process
    never, calls = _timings(fused=0.0, torch=9.0)
    assert later.choose(choose.describe(gru, x, h0, None), [Path.FUSED, Path.TORCH], never) is Path.TORCH
    assert calls == []
    later.forget()
    assert not tuner.file().exists()


def test_a_damaged_choices_file_is_measured_again(tuner: choose.Tuner) -> None:
    tuner.file().parent.mkdir(parents=True, exist_ok=True)
    tuner.file().write_text("{not json")
    measure, calls = _timings(fused=1.0, torch=2.0)
    assert choose.choose_path(rnnkit.GRU(4, 6), *_inputs(), None, measure).path is Path.FUSED
    assert calls
    assert json.loads(tuner.file().read_text())  # and replaced by a good one


# ---- real timing ---------------------------------------------------------------------------------


def test_timing_a_path_leaves_gradients_and_random_state_alone() -> None:
    torch.manual_seed(0)
    gru = rnnkit.GRU(4, 6, num_layers=2, dropout=0.5)  # inter-layer dropout draws random numbers
    x, h0 = _inputs(layers=2)
    before = torch.get_rng_state()
    for path in (Path.FUSED, Path.TORCH):
        assert time_path(gru, x.requires_grad_(), h0, None, path) > 0
    assert torch.equal(torch.get_rng_state(), before)
    assert all(p.grad is None for p in gru.parameters())
    assert x.grad is None


@pytest.mark.parametrize("cell", [rnnkit.GRU, rnnkit.RNN, rnnkit.LSTM])
def test_a_timed_layer_computes_what_torch_nn_does(tuner: choose.Tuner, cell: type) -> None:
    torch.manual_seed(0)
    ours = cell(4, 6, num_layers=2, bidirectional=True, dtype=torch.float64)
    peer = getattr(torch.nn, cell.__name__)(4, 6, num_layers=2, bidirectional=True, dtype=torch.float64)
    peer.load_state_dict(ours.state_dict())
    x = torch.randn(7, 3, 4, dtype=torch.float64)
    lengths = torch.tensor([7, 2, 5])
    results = []
    for layer in (ours, peer):
        xr = x.clone().requires_grad_()
        if layer is ours:
            y, _ = layer(xr, lengths=lengths)
        else:
            packed, _ = layer(torch.nn.utils.rnn.pack_padded_sequence(xr, lengths, enforce_sorted=False))
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(packed, total_length=7)
        y.pow(2).sum().backward()
        results.append((y, xr.grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    assert len(tuner.choices) == 1  # the training call had two candidates (an LSTM's: segments, torch) and was timed


# ---- rnnkit doctor ---------------------------------------------------------------------------------


def test_doctor_shows_the_machine_and_the_choices(tuner: choose.Tuner, capsys: pytest.CaptureFixture[str]) -> None:
    from rnnkit.cli import main
    from rnnkit.utils.machine import cpu

    measure, _ = _timings(fused=0.002, torch=0.001)
    choose.choose_path(rnnkit.GRU(4, 6), *_inputs(T=5, B=3), None, measure)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert cpu().model in out
    assert "1 made on this CPU" in out
    assert ("gru      float32  B=3    I=4    H=6     L=1 D=1 T<=8     train: torch     (fused 2.00 ms, torch 1.00 ms)"
            in out)

    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bf16"]["cpu"] == cpu().has_bf16
    assert [c["path"] for c in report["autotune"]["choices"].values()] == ["torch"]

    assert main(["doctor", "--forget"]) == 0
    assert not tuner.file().exists()


def test_doctor_says_when_the_c_kernels_are_switched_off(capsys: pytest.CaptureFixture[str]) -> None:
    from rnnkit.cli import main
    from rnnkit.layers.fast import native

    with native.use_native(False):  # as RNNKIT_NATIVE=0 sets it at import
        assert main(["doctor"]) == 0
        off = capsys.readouterr().out
        assert main(["doctor", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["native_kernels"]["on"] is False
    assert "C kernels     off (RNNKIT_NATIVE=0); " in off
    assert main(["doctor"]) == 0
    assert "off (RNNKIT_NATIVE=0)" not in capsys.readouterr().out
