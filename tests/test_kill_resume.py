"""Training that survives being killed: the recipes' loop (``fit``) and the char-LM trainer resume
exactly, whether they were stopped by an exception at a chosen point or by SIGKILL at random moments.

What "exactly" means here: the resumed run's metrics log (every logged loss, gradient norm and
validation metric) and its final checkpoints equal an uninterrupted run's to the last bit; only
wall-clock fields ("seconds", "elapsed") may differ.

The SIGKILL tests train in a subprocess (``python -m rnnkit.cli ...``), kill it with SIGKILL
(``kill -9``: no handler, no cleanup) after seeded random delays, check that a loadable checkpoint
exists after every kill once the first one was written, and resume until the run finishes. A kill
that leaves a ``.last.pt.*.tmp`` or ``.best.pt.*.tmp`` file behind landed inside ``atomic_save``,
between creating its temporary file and renaming it; the tests write checkpoints every step so
that many kills land there, without any hook in the library.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from rnnkit.lm import TrainConfig as LMConfig
from rnnkit.lm import train as lm_train
from rnnkit.tasks.training import FitResult, TrainConfig, fit
from rnnkit.utils.checkpoint import load_checkpoint

lm_module = importlib.import_module("rnnkit.lm.train")  # the module; ``rnnkit.lm.train`` is the function
CLOCK_FIELDS = ("seconds", "elapsed")  # wall time: the only thing a resumed run may log differently


def log_rows(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl without its wall-clock fields."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in CLOCK_FIELDS} for r in rows]


def without_clock(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k not in CLOCK_FIELDS} for r in history]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ---- fit: a crash at a chosen step, then resume=True ---------------------------------------------


class Tagger(nn.Module):
    """A small GRU classifier with dropout, so the dropout generator must be restored too."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 8, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(8, 2)

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        _, h = self.rnn(inputs)
        logits = self.head(self.drop(h[-1]))  # (B, 2)
        return logits, (nn.functional.cross_entropy(logits, targets) if targets is not None else None)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, 3, generator=g)
    return x, (x[:, :, 0].sum(1) > 0).long()


def _epoch_batches(epoch: int) -> list[dict[str, torch.Tensor]]:
    # shuffled with the global generator, as a DataLoader does: resuming must restore it at the epoch's start
    x, y = _data()
    order = torch.randperm(len(x))
    return [{"inputs": x[order[i : i + 8]], "targets": y[order[i : i + 8]]} for i in range(0, len(x), 8)]  # 8 batches


def _accuracy(m: nn.Module) -> dict[str, float]:
    x, y = _data()
    return {"acc": float((m(x)[0].argmax(1) == y).float().mean())}


def _run_fit(out: Path, crash_at: int | None = None, **overrides: Any) -> tuple[FitResult, nn.Module]:
    torch.manual_seed(0)
    model = Tagger()
    settings = {"epochs": 4, "lr": 0.02, "patience": 0, "progress": False, "threads": 1, "log_every": 1, "save_every": 3}
    config = TrainConfig(**{**settings, **overrides})
    steps = [0]

    def loss_fn(m: nn.Module, batch: Any) -> torch.Tensor:
        steps[0] += 1
        if steps[0] == crash_at:
            raise RuntimeError("simulated crash")
        return m(**batch)[1]

    checkpoint = lambda m, info: {"task": "test", "model": m.state_dict(), **info}  # noqa: E731
    result = fit(model, _epoch_batches, config, evaluate=_accuracy, monitor="acc", loss_fn=loss_fn, checkpoint=checkpoint, out_dir=out)
    return result, model


@pytest.mark.parametrize("crash_at", [2, 5, 9, 17, 30])  # before any last.pt; mid-epoch; right after an epoch; mid-epoch later; in the last epoch
def test_fit_resumes_exactly_after_a_crash(tmp_path: Path, crash_at: int):
    whole, whole_model = _run_fit(tmp_path / "whole")
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run_fit(run, crash_at=crash_at)
    if crash_at > 3:  # the first last.pt is written at step 3
        assert load_checkpoint(run / "last.pt")["fit"]["position"]["step"] < crash_at
    resumed, resumed_model = _run_fit(run, resume=True)
    assert without_clock(resumed.history) == without_clock(whole.history)
    assert (resumed.steps, resumed.best_epoch, resumed.best_metric) == (whole.steps, whole.best_epoch, whole.best_metric)
    assert log_rows(run / "metrics.jsonl") == log_rows(tmp_path / "whole" / "metrics.jsonl")  # no row lost, none twice
    assert_same_weights(resumed_model.state_dict(), whole_model.state_dict())
    for name in ("best.pt", "last.pt"):
        assert_same_weights(load_checkpoint(run / name)["model"], load_checkpoint(tmp_path / "whole" / name)["model"])


def test_fit_resume_of_a_finished_run_gives_back_its_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    whole, whole_model = _run_fit(tmp_path)
    rows = (tmp_path / "metrics.jsonl").read_text()
    again, again_model = _run_fit(tmp_path, resume=True)
    assert "had finished (finished all epochs); nothing left to train" in capsys.readouterr().out
    assert without_clock(again.history) == without_clock(whole.history) and again.steps == whole.steps
    assert_same_weights(again_model.state_dict(), whole_model.state_dict())
    assert (tmp_path / "metrics.jsonl").read_text() == rows


def test_fit_resume_without_a_checkpoint_starts_afresh_and_other_settings_are_refused(tmp_path: Path, capsys):
    whole, _ = _run_fit(tmp_path / "whole")
    fresh, _ = _run_fit(tmp_path / "fresh", resume=True)
    assert "nothing to resume" in capsys.readouterr().out
    assert without_clock(fresh.history) == without_clock(whole.history)
    run = tmp_path / "run"
    with pytest.raises(RuntimeError):
        _run_fit(run, crash_at=10)
    with pytest.raises(ValueError, match=r"lr: asked for 0\.5, the checkpoint has 0\.02.*another output directory"):
        _run_fit(run, resume=True, lr=0.5)
    torch.save({"task": "test", "model": {}}, run / "last.pt")  # written by something else, or an older rnnkit
    with pytest.raises(ValueError, match=r"holds no training state to resume from"):
        _run_fit(run, resume=True)


def test_fit_checkpoint_holds_only_plain_data(tmp_path: Path):
    _run_fit(tmp_path, epochs=1)
    torch.load(tmp_path / "last.pt", weights_only=True)  # RNG states as tensors and lists: nothing but safe types

    def plain(x: Any) -> bool:
        if isinstance(x, dict):
            return all(isinstance(k, str | int) and plain(v) for k, v in x.items())
        if isinstance(x, list | tuple):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, bool | int | float | str | torch.Tensor)

    assert plain(torch.load(tmp_path / "last.pt", weights_only=True))


# ---- the char-LM: where a resumed run starts, and what a crash between writes leaves --------------


PANGRAM = "the quick brown fox jumps over the lazy dog.\n"


def _lm_config(**overrides: Any) -> LMConfig:
    settings = {"batch_size": 4, "bptt": 16, "lr": 1e-2, "warmup_steps": 5, "eval_every": 5, "log_every": 1,
                "val_fraction": 0.1, "max_steps": 20}
    return LMConfig(**{**settings, **overrides})


LM_MODEL = {"hidden_size": 32, "embedding_size": 8, "num_layers": 2, "dropout": 0.2}


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "pangrams.txt"
    path.write_text(PANGRAM * 40)
    return path


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_charlm_resume_of_a_directory_continues_from_last_pt_not_best_pt(text_file: Path, tmp_path: Path, one_thread):
    run = tmp_path / "run"
    lm_train(_lm_config(max_steps=10), LM_MODEL, text=str(text_file), out=run, progress=False)
    best = load_checkpoint(run / "best.pt")
    # make best.pt older than last.pt, as after an evaluation that did not improve
    early = lm_train(_lm_config(max_steps=5), LM_MODEL, text=str(text_file), out=tmp_path / "early", progress=False)
    assert early.step == 5 and best["step"] == 10
    (tmp_path / "early" / "best.pt").replace(run / "best.pt")
    seen: list[int] = []
    lm_train(_lm_config(max_steps=12), {}, out=run, resume=run, progress=False, callback=lambda row: seen.append(row["step"]))
    assert seen[0] == 11  # from last.pt (step 10); best.pt (step 5) would have repeated steps 6-10


def _lm_whole(text_file: Path, out: Path) -> Any:
    return lm_train(_lm_config(), LM_MODEL, text=str(text_file), out=out, progress=False)


def test_charlm_crash_between_checkpoint_writes_keeps_best_pt_right(text_file: Path, tmp_path: Path, monkeypatch, one_thread):
    whole = _lm_whole(text_file, tmp_path / "whole")
    run = tmp_path / "run"
    real_save = lm_module.atomic_save
    written: list[str] = []

    def dies_after_the_first_of_the_last_pair(state: Any, path: Path) -> Path:
        # the final evaluation improves (step 20) and writes two files; the process dies after the first
        if state["step"] == 20 and written[-1:] != [f"{state['step']}"]:
            written.append(f"{state['step']}")
            real_save(state, path)
            raise RuntimeError("simulated crash between the two writes")
        return real_save(state, path)

    monkeypatch.setattr(lm_module, "atomic_save", dies_after_the_first_of_the_last_pair)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _lm_whole(text_file, run)
    monkeypatch.undo()
    if load_checkpoint(run / "last.pt")["step"] < 20:  # the run is not over: resume it
        lm_train(_lm_config(), {}, out=run, resume=run, progress=False)
    assert whole.step == 20 and load_checkpoint(tmp_path / "whole" / "best.pt")["step"] == 20  # the last evaluation improved
    for name in ("best.pt", "last.pt"):
        theirs, ours = load_checkpoint(tmp_path / "whole" / name), load_checkpoint(run / name)
        assert ours["step"] == theirs["step"], name
        assert_same_weights(ours["model"], theirs["model"])
    assert log_rows(run / "metrics.jsonl") == log_rows(tmp_path / "whole" / "metrics.jsonl")


def test_charlm_crash_while_rewriting_the_log_loses_no_rows(text_file: Path, tmp_path: Path, monkeypatch, one_thread):
    whole = _lm_whole(text_file, tmp_path / "whole")
    run = tmp_path / "run"
    def crash_at_13(row: dict[str, Any]) -> None:
        if row["step"] == 13:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        lm_train(_lm_config(), LM_MODEL, text=str(text_file), out=run, progress=False, callback=crash_at_13)
    assert load_checkpoint(run / "last.pt")["step"] == 10  # and metrics.jsonl has rows up to step 13
    real_write_text = Path.write_text

    def truncates_then_dies(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        if self.name.endswith("metrics.jsonl") or self.name.endswith("metrics.jsonl.tmp"):
            self.open("w").close()  # opening for writing truncates; then the process is killed
            raise RuntimeError("simulated kill while rewriting the metrics log")
        return real_write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", truncates_then_dies)
    with pytest.raises(RuntimeError, match="simulated kill"):
        lm_train(_lm_config(), {}, out=run, resume=run, progress=False)
    monkeypatch.undo()
    lm_train(_lm_config(), {}, out=run, resume=run, progress=False)
    assert log_rows(run / "metrics.jsonl") == log_rows(tmp_path / "whole" / "metrics.jsonl")
    assert whole.step == 20
