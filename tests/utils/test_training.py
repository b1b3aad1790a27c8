"""The parts both training loops share (rnnkit.utils.training): the schedule's values against the closed form,
the metrics log that a resumed run reopens (exactly N rows, a last line cut short), the divergence guard's message,
and the progress bar's position."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from rnnkit.lab.gradient_flow import GradientFlowConfig, gradient_flow
from rnnkit.lab.long_term import LongTermConfig, run_long_term
from rnnkit.lm.train import TrainConfig
from rnnkit.utils.training import (
    EXPLODED,
    DivergenceGuard,
    MetricsLog,
    ProgressBar,
    clip_gradients,
    cosine_factor,
    warmup_cosine,
)

# ---- clipping -------------------------------------------------------------------------------------


def _grads() -> list[torch.Tensor]:
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    a.grad, b.grad = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 4.0])  # global norm 5
    return [a, b]


def test_clip_zero_is_off_and_a_positive_clip_scales_to_it() -> None:
    # torch's clip_grad_norm_(params, 0) zeroes every gradient: a char-LM with --clip 0 stayed at chance
    params = _grads()
    assert clip_gradients(params, 0) == pytest.approx(5.0)
    assert params[0].grad is not None
    assert params[1].grad is not None
    assert params[0].grad.tolist() == [3.0, 0.0, 0.0]
    assert params[1].grad.tolist() == [0.0, 4.0]
    assert clip_gradients(params, 1.0) == pytest.approx(5.0)
    assert params[0].grad.tolist() == pytest.approx([0.6, 0.0, 0.0], rel=1e-5)
    assert params[1].grad.tolist() == pytest.approx([0.0, 0.8], rel=1e-5)


def test_a_negative_clip_is_refused_everywhere_before_training(tmp_path: Path) -> None:
    # torch takes it as "reverse the gradients": the char-LM's loss climbed from 3.3 to 6.8 with --clip -1
    with pytest.raises(ValueError, match=r"--clip must be >= 0"):
        clip_gradients(_grads(), -1.0)
    with pytest.raises(ValueError, match="clip must be at least 0"):
        TrainConfig(clip=-1.0)
    with pytest.raises(ValueError, match=r"long-term: --clip must be >= 0"):
        run_long_term(LongTermConfig(clip=-1.0, out=str(tmp_path / "lt")))
    with pytest.raises(ValueError, match=r"gradient-flow: --clip must be >= 0"):
        gradient_flow(GradientFlowConfig(clip=-1.0, out=str(tmp_path / "gf")))
    assert not (tmp_path / "lt").exists()


@pytest.mark.parametrize(("name", "value"), [("warmup_steps", -1), ("eval_chars", -1), ("patience", 0),
                                             ("stream_above_mb", -1.0)])
def test_the_char_lm_refuses_other_settings_out_of_range(name: str, value: float) -> None:
    settings: dict[str, Any] = {name: value}
    with pytest.raises(ValueError, match=name):
        TrainConfig(**settings)


# ---- the schedule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("done", "total", "final", "expected"), [
    (0, 4, 0.0, 1.0),             # cos(0) = 1: the start is the peak
    (1, 3, 0.0, 0.75),            # (1 + cos(pi/3)) / 2 = (1 + 1/2) / 2
    (2, 3, 0.0, 0.25),            # (1 + cos(2pi/3)) / 2 = (1 - 1/2) / 2
    (2, 4, 0.0, 0.5),             # cos(pi/2) = 0
    (4, 4, 0.0, 0.0),             # cos(pi) = -1: the end
    (1, 3, 0.1, 0.1 + 0.9 * 0.75),
    (1.0, 1.0, 0.02, 0.02),       # the char-LM's form: progress 1 is the final fraction
    (-0.5, 1.0, 0.02, 1.0),       # progress clamped to [0, 1]
    (1.5, 1.0, 0.02, 0.02),
])
def test_cosine_factor_at_known_points(done: float, total: float, final: float, expected: float):
    assert cosine_factor(done, total, final) == pytest.approx(expected, abs=1e-15)


def test_cosine_factor_equals_the_closed_form_everywhere():
    for total in (1, 3, 7, 10):
        for k in range(11):
            done, final = total * k / 10, 0.05
            closed = final + (1 - final) * (1 + math.cos(math.pi * k / 10)) / 2
            assert cosine_factor(done, total, final) == pytest.approx(closed, rel=1e-13)


def test_warmup_cosine_rises_linearly_then_falls_to_the_final_fraction():
    peak, warmup, final = 0.01, 4, 0.1
    rising = [warmup_cosine(peak, s, warmup, 0.0, final) for s in range(warmup)]
    assert rising == pytest.approx([0.0025, 0.005, 0.0075, 0.01])
    assert warmup_cosine(peak, warmup, warmup, 0.0, final) == pytest.approx(peak)  # the warm-up ends at the peak
    assert warmup_cosine(peak, 50, warmup, 0.5, final) == pytest.approx(peak * (final + (1 - final) / 2))  # cos(pi/2)=0
    assert warmup_cosine(peak, 99, warmup, 1.0, final) == pytest.approx(peak * final)
    assert warmup_cosine(peak, 2, warmup, 1.0, final) == pytest.approx(0.0075)  # the warm-up goes by the step alone


# ---- the metrics log ------------------------------------------------------------------------------


def rows_on_disk(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def ten_rows(out: Path) -> list[dict]:
    log = MetricsLog(out)
    for step in range(1, 11):
        log.write({"step": step, "loss": 1.0 / step})
    return log.rows


def test_reopen_keeps_exactly_the_rows_the_checkpoint_counts(tmp_path: Path):
    written = ten_rows(tmp_path)
    assert rows_on_disk(tmp_path) == written
    assert len(written) == 10
    log = MetricsLog.reopen(tmp_path, rows=6)
    assert log.rows == written[:6]
    assert rows_on_disk(tmp_path) == written[:6]
    log.write({"step": 7, "loss": 0.5})
    assert rows_on_disk(tmp_path) == [*written[:6], {"step": 7, "loss": 0.5}]
    assert log.last_loss == 0.5


def test_reopen_through_a_step_keeps_the_rows_up_to_it(tmp_path: Path):
    log = MetricsLog(tmp_path)
    for step in range(1, 7):
        log.write({"step": step, "loss": float(step)})
        if step % 3 == 0:
            log.write({"step": step, "val_loss": 0.1 * step})  # an evaluation row has the step of its training row
    kept = MetricsLog.reopen(tmp_path, through_step=3).rows
    assert [(r["step"], "val_loss" in r) for r in kept] == [(1, False), (2, False), (3, False), (3, True)]
    assert rows_on_disk(tmp_path) == kept


def test_a_last_line_cut_short_is_dropped_with_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    written = ten_rows(tmp_path)
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 11, "lo')  # the power went while this row was written
    log = MetricsLog.reopen(tmp_path, rows=11)  # the checkpoint counted that row
    assert log.rows == written
    assert rows_on_disk(tmp_path) == written
    err = capsys.readouterr().err
    assert "line 11 is not a JSON row" in err
    assert "has 10 rows but the checkpoint counts 11" in err
    # the same file read up to a step, and bytes that are not even UTF-8 (a block of a file system's garbage)
    (tmp_path / "metrics.jsonl").write_bytes((tmp_path / "metrics.jsonl").read_bytes() + b"\x00\xff\xfe\x00\n[1, 2]\n")
    assert MetricsLog.reopen(tmp_path, through_step=100).rows == written
    assert capsys.readouterr().err.count("is not a JSON row") == 2


def test_a_new_log_empties_the_old_file_and_a_silent_one_writes_nothing(tmp_path: Path):
    ten_rows(tmp_path)
    MetricsLog(tmp_path)
    assert (tmp_path / "metrics.jsonl").read_text() == ""
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 3.0}\n')
    silent = MetricsLog.reopen(tmp_path, rows=1, write=False)  # another rank under torchrun: it reads, rank 0 writes
    silent.write({"step": 2, "loss": 2.0})
    assert silent.rows == [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0}]
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1, "loss": 3.0}\n'
    silent.sync()  # nothing to flush: no error


def test_a_kill_while_rewriting_leaves_the_old_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    written = ten_rows(tmp_path)

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies between writing the temporary file and renaming it

    monkeypatch.setattr("rnnkit.utils.training.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        MetricsLog.reopen(tmp_path, rows=3)
    assert rows_on_disk(tmp_path) == written


def test_reopen_wants_one_rule():
    with pytest.raises(TypeError, match="exactly one of rows and through_step"):
        MetricsLog.reopen(None)
    with pytest.raises(TypeError, match="exactly one of rows and through_step"):
        MetricsLog.reopen(None, rows=1, through_step=1)


# ---- the divergence guard --------------------------------------------------------------------------


def test_the_guard_says_what_became_what_where_what_is_kept_and_what_to_try(tmp_path: Path):
    log = MetricsLog(None)
    log.write({"step": 10, "loss": 2.5})
    (tmp_path / "last.pt").write_bytes(b"a checkpoint")
    guard = DivergenceGuard(log, tmp_path / "last.pt", prefix="fit: ")
    with pytest.raises(ValueError, match="became nan") as caught:
        guard.check("loss", float("nan"), "epoch 2, step 11")
    assert str(caught.value) == (
        "fit: the loss became nan at epoch 2, step 11 (the last logged loss was 2.5); training stopped before the bad "
        f"update was applied and the last good checkpoint is kept in {tmp_path / 'last.pt'}. "
        "Try a lower --lr, a smaller --clip, or --resume with those.")
    with pytest.raises(ValueError, match=r"^the gradient norm became inf at step 3 .* no checkpoint was written yet\."):
        DivergenceGuard(log, tmp_path / "none" / "last.pt").check("gradient norm", math.inf, "step 3")
    with pytest.raises(ValueError, match=r"and no checkpoint was written\. Try"):
        DivergenceGuard(log, None).check("loss", -math.inf, "step 3")


def test_the_guard_stops_an_exploding_loss_measured_from_the_first():
    guard = DivergenceGuard(MetricsLog(None), None)
    guard.check("loss", 2.0 * EXPLODED - 1, "step 5", first=2.0)  # under 100 x the first loss: goes on
    guard.check("loss", 0.9 * EXPLODED, "step 5", first=0.01)  # a first loss under 1 counts as 1
    guard.check("loss", 1e9, "step 5")  # without a first loss only NaN and infinity stop
    with pytest.raises(ValueError, match=r"the loss became 201 at step 5, over 100 times the first loss of 2 \("):
        guard.check("loss", 201.0, "step 5", first=2.0)


# ---- the progress bar ------------------------------------------------------------------------------


def test_the_bar_moves_to_positions_and_stops_at_its_total(capsys: pytest.CaptureFixture[str]):
    bar = ProgressBar(10, start=3, unit="s")
    bar.move_to(5)
    assert bar.bar.n == 5
    bar.show(loss="1.234")
    bar.move_to(12)  # a time budget's last step ends past it
    assert bar.bar.n == 10
    bar.close()
    assert "10/10" in capsys.readouterr().err
    assert "loss=1.234" in bar.bar.postfix
