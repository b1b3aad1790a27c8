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
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.cli import main
from rnnkit.lm import TrainConfig as LMConfig
from rnnkit.lm import load_model
from rnnkit.lm import train as lm_train
from rnnkit.recipes.training import FitResult, TrainConfig, fit
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

    def forward(self, inputs: torch.Tensor,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        _, h = self.rnn(inputs)
        logits = self.head(self.drop(h[-1]))  # (B, 2)
        return logits, (nn.functional.cross_entropy(logits, targets) if targets is not None else None)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, 3, generator=g)
    return x, (x[:, :, 0].sum(1) > 0).long()


def _epoch_batches(generator: torch.Generator | None) -> list[dict[str, torch.Tensor]]:
    # shuffled with the global generator, as a DataLoader does, or with one of the recipe's own that runs on across
    # epochs: either way resuming must restore it as it was at the epoch's start
    x, y = _data()
    order = torch.randperm(len(x), generator=generator)
    return [{"inputs": x[order[i : i + 8]], "targets": y[order[i : i + 8]]} for i in range(0, len(x), 8)]  # 8 batches


def _accuracy(m: nn.Module) -> dict[str, float]:
    x, y = _data()
    return {"acc": float((m(x)[0].argmax(1) == y).float().mean())}


def _run_fit(out: Path, crash_at: int | None = None, shuffle: str = "global",
             **overrides: Any) -> tuple[FitResult, nn.Module]:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(7) if shuffle == "own" else None
    model = Tagger()
    settings = {"epochs": 4, "lr": 0.02, "patience": 0, "progress": False, "threads": 1, "log_every": 1,
                "save_every": 3}
    config = TrainConfig(**{**settings, **overrides})
    steps = [0]

    def loss_fn(m: nn.Module, batch: Any) -> torch.Tensor:
        steps[0] += 1
        if steps[0] == crash_at:
            raise RuntimeError("simulated crash")
        return m(**batch)[1]

    checkpoint = lambda m, info: {"task": "test", "model": m.state_dict(), **info}  # noqa: E731
    result = fit(model, lambda epoch: _epoch_batches(generator), config, evaluate=_accuracy, monitor="acc",
                 loss_fn=loss_fn, checkpoint=checkpoint, out_dir=out,
                 generators=[generator] if generator is not None else [])
    return result, model


# 8 steps per epoch, last.pt every 3 steps and after each epoch. Crashing at step 2: before any last.pt;
# 5: mid-epoch 1; 9: right after epoch 1 (last.pt at 8); 20: mid-epoch 3; 30: in the last epoch
@pytest.mark.parametrize(("crash_at", "shuffle"), [(2, "global"), (5, "global"), (9, "global"), (20, "global"),
                                                   (30, "global"), (9, "own"), (20, "own")])
def test_fit_resumes_exactly_after_a_crash(tmp_path: Path, crash_at: int, shuffle: str):
    whole, whole_model = _run_fit(tmp_path / "whole", shuffle=shuffle)
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run_fit(run, crash_at=crash_at, shuffle=shuffle)
    if crash_at > 3:  # the first last.pt is written at step 3
        assert load_checkpoint(run / "last.pt")["fit"]["position"]["step"] < crash_at
    resumed, resumed_model = _run_fit(run, shuffle=shuffle, resume=True)
    assert without_clock(resumed.history) == without_clock(whole.history)
    assert (resumed.steps, resumed.best_epoch,
            resumed.best_metric) == (whole.steps, whole.best_epoch, whole.best_metric)
    assert log_rows(run / "metrics.jsonl") == log_rows(tmp_path / "whole" / "metrics.jsonl")  # no row lost, none twice
    assert_same_weights(resumed_model.state_dict(), whole_model.state_dict())
    for name in ("best.pt", "last.pt"):
        assert_same_weights(load_checkpoint(run / name)["model"], load_checkpoint(tmp_path / "whole" / name)["model"])


def test_fit_resume_of_a_finished_run_gives_back_its_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    whole, whole_model = _run_fit(tmp_path)
    rows = (tmp_path / "metrics.jsonl").read_text()
    again, again_model = _run_fit(tmp_path, resume=True)
    assert "had finished (finished all epochs); nothing left to train" in capsys.readouterr().out
    assert without_clock(again.history) == without_clock(whole.history)
    assert again.steps == whole.steps
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


def test_charlm_resume_of_a_directory_continues_from_last_pt_not_best_pt(text_file: Path, tmp_path: Path, one_thread):
    run = tmp_path / "run"
    lm_train(_lm_config(max_steps=10), LM_MODEL, text=str(text_file), out=run, progress=False)
    best = load_checkpoint(run / "best.pt")
    # make best.pt older than last.pt, as after an evaluation that did not improve
    early = lm_train(_lm_config(max_steps=5), LM_MODEL, text=str(text_file), out=tmp_path / "early", progress=False)
    assert early.step == 5
    assert best["step"] == 10
    (tmp_path / "early" / "best.pt").replace(run / "best.pt")
    seen: list[int] = []
    lm_train(_lm_config(max_steps=12), {}, out=run, resume=run, progress=False,
             callback=lambda row: seen.append(row["step"]))
    assert seen[0] == 11  # from last.pt (step 10); best.pt (step 5) would have repeated steps 6-10


def _lm_whole(text_file: Path, out: Path) -> Any:
    return lm_train(_lm_config(), LM_MODEL, text=str(text_file), out=out, progress=False)


def test_charlm_crash_between_checkpoint_writes_keeps_best_pt_right(text_file: Path, tmp_path: Path, monkeypatch,
                                                                    one_thread):
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
    assert whole.step == 20
    assert load_checkpoint(tmp_path / "whole" / "best.pt")["step"] == 20
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


# ---- SIGKILL at random moments, in a subprocess ----------------------------------------------------

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # one thread: the same arithmetic in every process


@dataclass
class Kill:
    """One SIGKILL: when, where it landed, and the step of the last.pt it left."""

    seconds: float  # after the launch
    landed: str
    step: int | None


def _rows(run: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in run.glob("**/metrics.jsonl"))


def _log_files(run: Path) -> set[tuple[str, int, int]]:
    """Each metrics.jsonl with its inode and modification time: they change once a life reopens its log."""
    return {(str(p), p.stat().st_ino, p.stat().st_mtime_ns) for p in run.glob("**/metrics.jsonl")}


def _temporaries(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.glob("**/.*.tmp")}


def _where(new_temporaries: set[str], log_reopened: bool) -> str:
    names = {Path(t).name.split(".")[1] for t in new_temporaries}  # ".last.pt.abc123.tmp" -> "last"
    if names & {"last", "best"}:
        return "inside atomic_save of " + "+".join(sorted(f"{n}.pt" for n in names & {"last", "best"}))
    if "metrics" in names:
        return "rewriting metrics.jsonl"
    if log_reopened:
        return "training or evaluating, between checkpoint writes"
    return "starting up (imports, data, reading last.pt), before reopening the log"


def train_with_kills(command: Callable[[bool], list[str]], run: Path, kills: int, seed: int,
                     check: Callable[[Path], int | None], finished: Callable[[Path], bool] = lambda run: False,
                     max_rows_per_life: int = 30, shares: tuple[float, float] = (0.2, 0.4),
                     last_life: Callable[[list[str]], None] | None = None) -> list[Kill]:
    """Run ``command(has_checkpoint)`` until it exits 0, killing it ``kills`` times with SIGKILL first.

    ``last_life`` runs the final, unkilled command in this process instead (saving a launch).

    A life is killed (with probabilities ``shares`` for the first two):
      - at a random time 0.5-4 s after its launch, when it may still be starting up (or once it has
        logged max_rows_per_life rows beyond the furthest row so far, if that comes first);
      - at a checkpoint write: once it has logged 1..max_rows_per_life rows beyond the furthest
        row so far, as soon as a new ``.*.tmp`` file appears (atomic_save is writing);
      - otherwise once it has logged those rows, plus a random 0-50 ms (any phase of a step).
    After each kill ``check(run)`` must load the checkpoints and return last.pt's step; once a
    last.pt was written, one must exist after every later kill.
    """
    rng = random.Random(seed)
    done: list[Kill] = []
    saved_once = False
    while not finished(run):
        before_rows, before_tmp, before_logs = _rows(run), _temporaries(run), _log_files(run)
        if len(done) == kills and last_life is not None:
            last_life(command((run / "last.pt").exists()))
            return done
        output = run.parent / f"{run.name}-life{len(done)}.log"
        with output.open("w") as out:
            proc = subprocess.Popen(command((run / "last.pt").exists()), stdout=out, stderr=subprocess.STDOUT, env=ENV)
        start = time.perf_counter()
        if len(done) == kills:
            assert proc.wait(timeout=600) == 0, output.read_text()[-3000:]
            return done
        mode = rng.random()
        if mode < shares[0]:
            deadline = start + rng.uniform(0.5, 4.0)
            furthest = before_rows + max_rows_per_life  # on a fast machine a few seconds are most of a run
            while proc.poll() is None and time.perf_counter() < deadline and _rows(run) < furthest:
                time.sleep(0.002)
        else:
            target = before_rows + rng.randint(1, max_rows_per_life)
            while proc.poll() is None and _rows(run) < target:
                time.sleep(0.002)
            if mode < shares[0] + shares[1]:
                while proc.poll() is None and not _temporaries(run) - before_tmp:
                    time.sleep(0.0005)
            else:
                time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is not None:  # it finished before the kill
            assert proc.returncode == 0, output.read_text()[-3000:]
            return done
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        seconds = time.perf_counter() - start
        landed = _where(_temporaries(run) - before_tmp, _log_files(run) != before_logs)
        step = check(run)
        saved_once = saved_once or step is not None
        assert step is not None or not saved_once, f"after kill {len(done) + 1} ({landed}) there is no last.pt any more"
        done.append(Kill(round(seconds, 2), landed, step))
    return done


def _digits_csv(path: Path, n: int = 600) -> Path:
    """8x8 images whose class is which pair of rows is brighter on the left: learnable, not at once."""
    g = np.random.default_rng(0)
    lines = []
    for i in range(n):
        label = i % 4
        image = g.integers(0, 8, size=(8, 8))
        image[2 * label : 2 * label + 2, :4] += 3
        lines.append(",".join(str(v) for v in image.ravel().tolist()) + f",{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _digits_command(data: Path, run: Path, epochs: int, model: str) -> Callable[[bool], list[str]]:
    base = [sys.executable, "-m", "rnnkit.cli", "recipe", "digits", "--data", str(data), "--out", str(run), "--model",
            model, "--hidden-size", "64", "--batch-size", "16", "--epochs", str(epochs), "--patience", "0",
            "--dev-fraction", "0.2", "--max-minutes", "1000", "--threads", "1", "--no-progress", "--log-every", "1",
            "--save-every", "1"]
    return lambda resume: base + ["--resume"]  # --resume starts afresh while there is no last.pt


def _check_recipe(run: Path) -> int | None:
    """Every checkpoint of the run loads safely; the sum of the last.pt steps (None: none written yet)."""
    for best in run.glob("**/best.pt"):
        assert load_checkpoint(best)["kind"] == "digits"
    steps = [load_checkpoint(last)["fit"]["position"]["step"] for last in run.glob("**/last.pt")]
    return sum(steps) if steps else None


def _assert_recipe_runs_equal(run: Path, whole: Path) -> None:
    for sub in (Path("."), Path("flat")):
        if not (whole / sub / "last.pt").exists():
            continue
        # every step and epoch
        assert log_rows(run / sub / "metrics.jsonl") == log_rows(whole / sub / "metrics.jsonl"), sub
        for name in ("best.pt", "last.pt"):
            ours, theirs = load_checkpoint(run / sub / name), load_checkpoint(whole / sub / name)
            assert (ours["epoch"], ours["step"]) == (theirs["epoch"], theirs["step"]), (sub, name)
            assert_same_weights(ours["model"], theirs["model"])
    ours, theirs = (json.loads((d / "results.json").read_text()) for d in (run, whole))
    for summary in (ours, theirs):  # the settings differ only in --out and --resume, the timings in wall time
        summary["config"] = {k: v for k, v in summary["config"].items() if k not in ("out", "resume")}
        summary["history"] = [{k: v for k, v in row.items() if k != "seconds"} for row in summary["history"]]
        summary["pictures"] = [Path(p).name for p in summary["pictures"]]
    assert {k: v for k,
            v in ours.items() if "seconds" not in k} == {k: v for k, v in theirs.items() if "seconds" not in k}


def _report(kills: list[Kill]) -> None:
    for n, k in enumerate(kills, 1):
        print(f"kill {n}: {k.seconds:5.2f} s after launch, {k.landed}; last.pt then at step {k.step}")


def in_process(command: list[str]) -> None:
    """Run ``python -m rnnkit.cli ARGS`` as ``main(ARGS)`` here: the same arithmetic (one thread, same code), no
    launch."""
    assert command[1:3] == ["-m", "rnnkit.cli"]
    assert main(command[3:]) == 0


def test_recipe_survives_sigkill(tmp_path: Path):
    """The cheap version: one kill of `rnnkit recipe digits` while it writes a checkpoint, then --resume
    (in this process, as the uninterrupted run it is compared with)."""
    data = _digits_csv(tmp_path / "digits.csv", n=300)
    in_process([c for c in _digits_command(data, tmp_path / "whole", epochs=2, model="rows")(False) if c != "--resume"])
    kills = train_with_kills(_digits_command(data, tmp_path / "run", epochs=2, model="rows"), tmp_path / "run", kills=1,
                             seed=1, check=_check_recipe, max_rows_per_life=20, shares=(0.0, 1.0), last_life=in_process)
    _report(kills)
    assert len(kills) == 1
    _assert_recipe_runs_equal(tmp_path / "run", tmp_path / "whole")


@pytest.mark.slow
def test_recipe_survives_many_sigkills(tmp_path: Path):
    """Ten kills of a digits run (the rows model, then the flat baseline), each resumed with --resume."""
    data = _digits_csv(tmp_path / "digits.csv")
    whole = subprocess.run([c for c in _digits_command(data, tmp_path / "whole", epochs=5, model="rows")(False) if c
                            != "--resume"], env=ENV, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stdout[-2000:]
    # the run logs 125 rows (120 steps, 5 epochs; the flat baseline logs none): lives of at most 15 new rows
    # leave room for ten kills
    kills = train_with_kills(_digits_command(data, tmp_path / "run", epochs=5, model="rows"), tmp_path / "run",
                             kills=10, seed=2, check=_check_recipe, max_rows_per_life=15)
    _report(kills)
    assert len(kills) == 10
    assert any(k.landed.startswith("inside atomic_save") for k in kills)
    _assert_recipe_runs_equal(tmp_path / "run", tmp_path / "whole")


LM_STEPS = 120


def _words_text(path: Path) -> Path:
    """Seeded random sentences from a small vocabulary: a char-LM keeps improving on it for hundreds of steps."""
    g = random.Random(0)
    words = ["the", "a", "quick", "lazy", "brown", "red", "fox", "dog", "cat", "jumps", "runs", "over", "under", "near",
             "river", "hill", "and", "then"]
    path.write_text("".join(" ".join(g.choice(words) for _ in range(g.randint(4, 9))) + ".\n" for _ in range(3000)))
    return path


def _lm_command(text: Path, run: Path) -> Callable[[bool], list[str]]:
    fresh = [sys.executable, "-m", "rnnkit.cli", "train", "charlm", "--text", str(text), "--out", str(run),
             "--no-progress", "--max-steps", str(LM_STEPS), "--eval-every", "4", "--log-every", "1", "--eval-chars",
             "2000", "--warmup-steps", "10", "--batch-size", "8", "--bptt", "32", "--hidden-size", "96",
             "--embedding-size", "16", "--num-layers", "2", "--dropout", "0.1"]
    # its settings come from last.pt
    resume = [sys.executable, "-m", "rnnkit.cli", "train", "charlm", "--resume", str(run), "--no-progress"]
    return lambda has_checkpoint: resume if has_checkpoint else fresh


def _check_lm(run: Path) -> int | None:
    for name in ("best.pt", "last.pt"):
        if (run / name).exists():
            load_model(run / name)  # rnnkit's loader: weights_only, the format tag, the vocabulary
    return load_checkpoint(run / "last.pt")["step"] if (run / "last.pt").exists() else None


def _lm_finished(run: Path) -> bool:
    # killed after its final checkpoint, the run is over: `--resume` would say it already reached --max-steps
    return (run / "last.pt").exists() and load_checkpoint(run / "last.pt")["step"] >= LM_STEPS


@pytest.mark.slow
def test_charlm_survives_many_sigkills(tmp_path: Path):
    """Ten kills of `rnnkit train charlm` (checkpoints every 4 steps), each resumed with --resume DIR."""
    text = _words_text(tmp_path / "words.txt")
    whole = subprocess.run(_lm_command(text, tmp_path / "whole")(False), env=ENV, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stdout[-2000:]
    run = tmp_path / "run"
    kills = train_with_kills(_lm_command(text, run), run, kills=10, seed=3, check=_check_lm, finished=_lm_finished,
                             max_rows_per_life=15)
    _report(kills)
    assert len(kills) == 10
    assert any(k.landed.startswith("inside atomic_save") for k in kills)
    # every loss, grad norm, val loss
    assert log_rows(run / "metrics.jsonl") == log_rows(tmp_path / "whole" / "metrics.jsonl")
    for name in ("best.pt", "last.pt"):
        ours, theirs = load_checkpoint(run / name), load_checkpoint(tmp_path / "whole" / name)
        assert ours["step"] == theirs["step"], name
        assert ours["metrics"] == theirs["metrics"], name
        assert_same_weights(ours["model"], theirs["model"])
        assert_same_weights(ours["optimizer"]["state"][0], theirs["optimizer"]["state"][0])
