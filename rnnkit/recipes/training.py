"""The training loop every recipe shares: epochs of (forward, backward, clip, step) with a progress bar,
validation after each epoch, early stopping on a validation metric, a learning rate per epoch (``schedule``:
constant or cosine), and checkpoints written atomically that a killed run resumes from exactly.

A recipe supplies the pieces that differ::

    result = fit(
        model,
        train_batches=lambda epoch: make_batches(epoch),    # each batch is fed to loss_fn
        config=TrainConfig(epochs=10, lr=2e-3),
        evaluate=lambda m: {"accuracy": accuracy(m, dev)},  # validation metrics, higher is better
        monitor="accuracy",
        checkpoint=lambda m, info: {"task": "spam", "model": m.state_dict(), ...},
        out_dir="runs/spam",                                # best.pt, last.pt, metrics.jsonl
    )

By default a batch is a dict of keyword arguments for the model, and the loss is the second element of
``model(**batch)`` (the ``forward(x, targets=None) -> (output, loss)`` contract); a tuple batch is passed
positionally. Pass ``loss_fn`` for anything else.

Exact resume. ``last.pt`` is rewritten after every epoch (and every ``save_every`` steps) with, beside the
recipe's entries, a ``"fit"`` entry: weights, optimizer state, where the run stands and the random generators
(torch, Python, NumPy and the recipe's ``generators``), now and at the start of the epoch. With ``resume=True``
the epoch's batches are drawn again from the epoch-start generators and the ones already trained on are
skipped, so a resumed run repeats the uninterrupted one to the bit, as long as ``train_batches(epoch)``
depends only on the epoch and those generators. A run bounded by ``max_minutes`` does not repeat. A run that
stopped at ``max_steps`` or ``max_minutes`` keeps its state at that step in last.pt as well: resumed with a higher
limit (or none), it goes on from that step as if the limit had never been there.

Checkpoint averaging (``average_last``, off by default). After training, the mean of the last k epochs' weights

    w_avg(k) = (1/k) * sum_{e = E-k+1}^{E} w_e        (k = 2 .. N; E the last epoch run)        (1)

is validated for each k; the model ends with whichever of these or the best single epoch validates best (a tie
keeps the single epoch, then the fewer epochs). It is SWA's average (Izmailov et al. 2018) along the tail of a
decaying schedule, as speech toolkits average their last checkpoints.

The metrics log, progress bar, divergence guard and cosine are the char-LM's too (``rnnkit.utils.training``).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rnnkit.utils.checkpoint import atomic_save, load_checkpoint
from rnnkit.utils.config import option
from rnnkit.utils.training import DivergenceGuard, MetricsLog, ProgressBar, check_clip, clip_gradients, cosine_factor

FIT_FORMAT = "rnnkit.fit/1"
# settings a resumed run may change: none of them changes which batch or dropout mask a step sees
RESUME_MAY_CHANGE = ("resume", "progress", "threads", "epochs", "max_steps", "max_minutes", "save_every", "out",
                     "out_dir")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by the recipes (each recipe chooses its own defaults)."""

    epochs: int = option(10, "passes over the training set (at most)")  # early stopping usually ends sooner
    lr: float = option(2e-3, "Adam learning rate")  # a safe Adam rate for 1-2 layer RNNs
    weight_decay: float = option(0.0, "AdamW weight decay")  # dropout regularises enough here
    clip: float = option(5.0, "clip the gradient norm to this (0 = off)")  # guards against the rare exploding step
    patience: int = option(3, "stop after this many epochs without a better validation metric")  # 0 = never stop early
    max_steps: int | None = option(None, "stop after this many optimizer steps in total")  # for smoke tests
    max_minutes: float | None = option(None, "stop after this much wall time (checked after each step)")
    threads: int | None = option(None,
                                 "CPU threads for torch (default or 0: torch's choice; 1 is fastest on a busy machine)")
    seed: int = option(0, "random seed for initialisation, shuffling and dropout")
    progress: bool = option(True, "show a progress bar")  # off in tests and logs
    # a loss curve without a huge file
    log_every: int = option(10, "write the training loss to metrics.jsonl every N steps (0 = per epoch only)")
    save_every: int = option(0, "also write last.pt every N steps, to resume mid-epoch (0 = after each epoch only)")
    resume: bool = option(False, "continue the run in the output directory from its last.pt, exactly where it "
                                 "stopped (starts afresh if there is none yet); a run stopped by --max-steps or "
                                 "--max-minutes goes on if they are raised")
    # cosine: the last epochs, at a small rate, let a slow-settling part converge
    schedule: str = option("constant", "learning rate per epoch: constant, or cosine (from lr at epoch 1 down "
                           "towards 0 after the last)", choices=list(SCHEDULES))
    # off: it needs validation, and N copies of the weights in memory
    average_last: int = option(0, "after training, also validate the mean weights of the last 2..N epochs and keep "
                                  "whichever of them or the best epoch validates best (0 = off)")


@dataclass
class FitResult:
    """What ``fit`` did. ``history`` has one dict per epoch (train loss, validation metrics)."""

    best_metric: float | None
    best_epoch: int
    epochs_run: int
    steps: int
    seconds: float
    stopped_because: str
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    averaged: int = 0  # the model is the mean of the last `averaged` epochs' weights (0: the best epoch's own)
    averages: list[dict[str, float]] = dataclasses.field(default_factory=list)  # each mean tried: k, its metrics


@dataclass
class _Position:
    """Where a run stands: with the weights, optimizer and generators, all a resumed run needs (plain values only)."""

    epoch: int = 1  # the epoch in progress, or about to start
    batches_done: int = 0  # batches of that epoch already trained on
    total: float = 0.0  # the sum of their losses: the epoch's train_loss is total / batches_done
    step: int = 0
    seconds: float = 0.0
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    first_loss: float | None = None
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    log_rows: int = 0  # lines of metrics.jsonl written so far: a resumed run drops any after them
    stopped: str = ""  # why the run ended; empty while it runs
    averaged: int = 0  # see FitResult
    averages: list[dict[str, float]] = dataclasses.field(default_factory=list)


def schedule_factor(schedule: str, epoch: int, epochs: int) -> float:
    """The share of the base learning rate used in ``epoch`` (counted from 1): constant 1; cosine
    (1 + cos(pi * (epoch - 1) / epochs)) / 2, from 1 at the first epoch down towards 0."""
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return cosine_factor(epoch - 1, max(epochs, 1))
    raise ValueError(f"TrainConfig: schedule must be one of {SCHEDULES}, got {schedule!r}.")


def _set_epoch_lr(opt: torch.optim.Optimizer, config: TrainConfig, epoch: int) -> None:
    """Set each parameter group's rate for ``epoch`` from its base rate (``initial_lr``, as in torch's schedulers)."""
    if config.schedule == "constant":
        return  # leave the optimizer's rates alone (a caller's own optimizer may set them)
    factor = schedule_factor(config.schedule, epoch, config.epochs)
    for group in opt.param_groups:
        group.setdefault("initial_lr", group["lr"])  # saved with the optimizer state, so a resumed run keeps its base
        group["lr"] = group["initial_lr"] * factor


def default_loss(model: nn.Module, batch: Any) -> Tensor:
    """``model(**batch)[1]`` for a dict batch, ``model(*batch)[1]`` for a tuple."""
    out = model(**batch) if isinstance(batch, dict) else model(*batch)
    if not isinstance(out, tuple) or len(out) != 2 or out[1] is None:
        raise TypeError(
            "fit: the model must return (output, loss) with a loss when given targets; "
            f"got {type(out).__name__}. Pass targets in the batch or give fit a loss_fn."
        )
    return out[1]


def fit(model: nn.Module, train_batches: Callable[[int], Iterable[Any]] | Iterable[Any],
        config: TrainConfig = TrainConfig(), evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
        monitor: str = "loss", mode: str = "max", loss_fn: Callable[[nn.Module, Any], Tensor] = default_loss,
        checkpoint: Callable[[nn.Module, dict[str, Any]], dict[str, Any]] | None = None,
        out_dir: str | Path | None = None, optimizer: torch.optim.Optimizer | None = None, restore_best: bool = True,
        generators: Sequence[torch.Generator] = ()) -> FitResult:
    """Train ``model`` and return a ``FitResult``; the model ends with its best weights.

    Args:
        train_batches: the batches of one epoch (iterated again each epoch), or a function of the epoch number
            returning them (so shuffling can depend on the epoch).
        evaluate: validation metrics after each epoch. Without it the training loss is monitored.
        monitor: the metric that picks the best epoch and drives early stopping.
        mode: whether higher ("max") or lower ("min") is better for ``monitor``.
        checkpoint: builds the dict to save from the model and ``info`` (epoch, step, metrics): best.pt when the
            monitored metric improves, last.pt (with the state to resume from) after every epoch and at the end.
        out_dir: where best.pt, last.pt and metrics.jsonl (one JSON row per logged step and epoch) go.
        generators: the recipe's own generators that ``train_batches`` draws from, restored on resume like the
            global ones (else resume is not exact).
    Raises:
        ValueError: on a NaN or exploding loss or gradient norm, naming the epoch and step; on ``config.resume``
            with a last.pt whose settings differ, naming both values.
    """
    _check_settings(config, mode, checkpoint is not None, out_dir)
    if evaluate is None:
        monitor, mode = "train_loss", "min"
    out = Path(out_dir) if out_dir is not None else None
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    with torch_threads(config.threads):
        saved = _read_resume_state(out, config, monitor, mode,
                                   len(generators)) if config.resume and out is not None else None
        run = _Run(model, opt, config, out, _Hooks(evaluate, monitor, mode, loss_fn, checkpoint, restore_best),
                   generators, saved)
        if saved is not None and not run.resume():
            return run.result()
        while run.pos.epoch <= config.epochs:
            epoch = run.pos.epoch
            run.train_epoch(epoch, train_batches)
            if run.end_epoch(epoch):
                break
        return run.finish()


def _check_settings(config: TrainConfig, mode: str, has_checkpoint: bool, out_dir: str | Path | None) -> None:
    """Refuse settings fit cannot run with, before any training, naming the setting and what it takes."""
    if mode not in ("max", "min"):
        raise ValueError(f"fit: mode must be 'max' or 'min', got {mode!r}.")
    if has_checkpoint and out_dir is None:
        raise ValueError("fit: a checkpoint function needs out_dir, the directory to write best.pt and last.pt in.")
    if config.resume and out_dir is None:
        raise ValueError("fit: resume=True needs out_dir, the directory whose last.pt to continue from.")
    check_config(config)


def check_config(config: TrainConfig) -> None:
    """Refuse training settings no run can use, naming the setting and what it takes (``run_recipe`` calls this
    before reading any data, ``fit`` before training)."""
    if config.epochs < 1:
        raise ValueError(f"TrainConfig: --epochs must be at least 1, got {config.epochs}.")
    check_clip(config.clip, "TrainConfig")  # torch's clip_grad_norm_ would reverse the gradients; 0 is off
    if not config.lr > 0 or config.weight_decay < 0:
        raise ValueError(f"TrainConfig: --lr must be positive and --weight-decay >= 0, got {config.lr} and "
                         f"{config.weight_decay}.")
    if config.patience < 0:
        raise ValueError(f"TrainConfig: --patience must be >= 0 (0 never stops early), got {config.patience}.")
    if (config.max_steps is not None and config.max_steps < 1) or (config.max_minutes is not None and
                                                                   not config.max_minutes > 0):
        raise ValueError(f"TrainConfig: --max-steps must be at least 1 and --max-minutes positive (or left out), got "
                         f"{config.max_steps} and {config.max_minutes}.")
    if config.threads is not None and config.threads < 0:
        raise ValueError(f"TrainConfig: --threads must be >= 0 (0 keeps torch's default), got {config.threads}.")
    schedule_factor(config.schedule, 1, config.epochs)  # an unknown schedule fails here
    if config.log_every < 0 or config.save_every < 0:
        raise ValueError(f"fit: log_every and save_every must be 0 (off) or positive, got {config.log_every}, "
                         f"{config.save_every}.")
    if config.average_last < 0 or config.average_last == 1:
        raise ValueError(f"fit: average_last must be 0 (off) or at least 2 epochs, got {config.average_last}.")


@dataclass(frozen=True)
class _Hooks:
    """What the caller of ``fit`` supplies besides the model and settings (see ``fit``'s arguments)."""

    evaluate: Callable[[nn.Module], dict[str, float]] | None
    monitor: str
    mode: str
    loss_fn: Callable[[nn.Module, Any], Tensor]
    checkpoint: Callable[[nn.Module, dict[str, Any]], dict[str, Any]] | None
    restore_best: bool


class _Run:
    """One call of ``fit``, in parts that each do one thing: resume, train an epoch (its steps and stop rules),
    end an epoch (validation, best epoch, early stopping), finish (best or averaged weights)."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, config: TrainConfig, out: Path | None,
                 hooks: _Hooks, generators: Sequence[torch.Generator], saved: dict[str, Any] | None) -> None:
        self.model, self.opt, self.config, self.out, self.hooks = model, opt, config, out, hooks
        saved = _lift_limit(saved, config, out) if saved is not None else None
        self.generators, self.saved = generators, saved
        self.at_limit: dict[str, Any] | None = None  # the state at the step a limit stopped the run (see _snapshot)
        self.sign = 1.0 if hooks.mode == "max" else -1.0
        self.pos, self.best_state = _Position(), None
        # (epoch, weights at its end) of the last average_last epochs, for equation (1)
        self.recent: deque[tuple[int, dict[str, Tensor]]] = deque(maxlen=max(config.average_last, 1))
        if saved is not None:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            self.pos, self.best_state = _Position(**saved["position"]), saved["best_state"]
            self.recent.extend((int(e), w) for e, w in saved.get("recent", []))
        self.log = MetricsLog.reopen(out, rows=self.pos.log_rows)
        self.guard = DivergenceGuard(self.log, out / "last.pt" if out is not None else None, prefix="fit: ")
        self.start = time.perf_counter() - self.pos.seconds  # the clock continues where a resumed run left off
        self.resumed_epoch = self.pos.epoch if saved is not None else 0

    def result(self) -> FitResult:
        pos = self.pos
        return FitResult(pos.best, pos.best_epoch, len(pos.history), pos.step, time.perf_counter() - self.start,
                         pos.stopped, pos.history, pos.averaged, pos.averages)

    def resume(self) -> bool:
        """Carry on from the saved run: False if it had finished (its result stands), else True with the generators
        as they were at the start of the epoch it was in."""
        assert self.saved is not None
        if self.pos.stopped:  # a recipe training several models moves on
            _set_rng_state(self.saved["rng"], self.generators)
            tqdm.write(f"fit: the run in {self.out} had finished ({self.pos.stopped}); nothing left to train")
            return False
        if self.config.max_steps is not None and self.pos.step >= self.config.max_steps:
            raise ValueError(f"fit: the run in {self.out} is already at step {self.pos.step}; resume it with a larger "
                             f"max_steps than {self.config.max_steps}.")
        tqdm.write(f"fit: resuming the run in {self.out} at epoch {self.pos.epoch}, step {self.pos.step}")
        _set_rng_state(self.saved["rng_epoch_start"], self.generators)
        return True

    def save_last(self, epoch_rng: dict[str, Any], info: dict[str, Any]) -> None:
        """last.pt: the recipe's entries, and under "fit" everything needed to carry on exactly from here."""
        if self.out is None:
            return
        checkpoint = self.hooks.checkpoint
        self.pos.seconds, self.pos.log_rows = time.perf_counter() - self.start, len(self.log.rows)
        state = checkpoint(self.model, info) if checkpoint is not None else {}
        state["fit"] = {"format": FIT_FORMAT, "config": dataclasses.asdict(self.config), "monitor": self.hooks.monitor,
                        "mode": self.hooks.mode, **self._moment(epoch_rng, self.pos), "at_limit": self.at_limit}
        self.log.sync()  # the rows this checkpoint counts are on disk before it
        atomic_save(state, self.out / "last.pt")

    def train_epoch(self, epoch: int, train_batches: Callable[[int], Iterable[Any]] | Iterable[Any]) -> None:
        """Train on the epoch's batches (those a resumed run has not trained on yet), until they or a limit end."""
        pos, config, saved = self.pos, self.config, self.saved
        resuming = saved is not None and epoch == self.resumed_epoch
        self.model.train()
        epoch_rng = saved["rng_epoch_start"] if saved is not None and resuming else _rng_state(self.generators)
        _set_epoch_lr(self.opt, config, epoch)
        batches = train_batches(epoch) if callable(train_batches) else train_batches
        iterator = iter(batches)
        if saved is not None and resuming and pos.batches_done > 0:
            _skip(iterator, pos.batches_done, epoch, self.out)  # drawn again (same generators), already trained on
            _set_rng_state(saved["rng"], self.generators)  # and the generators as they were after the last of them
        bar = ProgressBar(len(batches) if isinstance(batches, Sized) else None, pos.batches_done, "batch",
                          desc=f"epoch {epoch}/{config.epochs}", enabled=config.progress, leave=False)
        for batch in iterator:
            value, grad_norm = self.step(batch, epoch)
            bar.move_to(pos.batches_done)
            bar.show(loss=f"{pos.total / pos.batches_done:.4f}", grad=f"{grad_norm:.2f}")
            if config.log_every and pos.step % config.log_every == 0:
                self.log.write({"epoch": epoch, "step": pos.step, "loss": value, "grad_norm": grad_norm})
            pos.stopped = self.limit_reached()
            if pos.stopped:
                self.at_limit = self._snapshot(epoch_rng)
                break
            if config.save_every and pos.step % config.save_every == 0:
                self.save_last(epoch_rng, {"epoch": len(pos.history), "step": pos.step,
                                           "metrics": pos.history[-1] if pos.history else {}})
        bar.close()
        if config.average_last:
            self.recent.append((epoch, copy.deepcopy(self.model.state_dict())))

    def step(self, batch: Any, epoch: int) -> tuple[float, float]:
        """Forward, backward, clip, step; the loss and the gradient norm, each checked by the divergence guard."""
        pos = self.pos
        loss = self.hooks.loss_fn(self.model, batch)
        value = float(loss.detach())
        self.guard.check("loss", value, f"epoch {epoch}, step {pos.step + 1}", first=pos.first_loss)
        pos.first_loss = value if pos.first_loss is None else pos.first_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        grad_norm = clip_gradients(params, self.config.clip)
        self.guard.check("gradient norm", grad_norm, f"epoch {epoch}, step {pos.step + 1}")
        self.opt.step()
        pos.step, pos.batches_done, pos.total = pos.step + 1, pos.batches_done + 1, pos.total + value
        return value, grad_norm

    def _moment(self, epoch_rng: dict[str, Any], pos: _Position) -> dict[str, Any]:
        """What a resumed run needs of this moment: ``pos``, the weights, the optimizer, the best epoch's weights,
        the generators (now and at the epoch's start) and the epochs kept for averaging."""
        return {"position": dataclasses.asdict(pos), "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(), "best_state": self.best_state, "rng_epoch_start": epoch_rng,
                "rng": _rng_state(self.generators),
                "recent": [[e, w] for e, w in self.recent] if self.config.average_last else []}

    def _snapshot(self, epoch_rng: dict[str, Any]) -> dict[str, Any]:
        """A copy of this moment, for a resume that lifts the limit stopping the run here."""
        pos = dataclasses.replace(self.pos, stopped="", seconds=time.perf_counter() - self.start,
                                  log_rows=len(self.log.rows))
        return copy.deepcopy(self._moment(epoch_rng, pos))

    def limit_reached(self) -> str:
        """Why the run stops after this step (max_steps, max_minutes), or "" if it goes on."""
        config = self.config
        if config.max_steps is not None and self.pos.step >= config.max_steps:
            return f"reached max_steps={config.max_steps}"
        if config.max_minutes is not None and time.perf_counter() - self.start > 60 * config.max_minutes:
            return f"reached max_minutes={config.max_minutes}"
        return ""

    def end_epoch(self, epoch: int) -> bool:
        """Validate, keep the best epoch (best.pt), count epochs without progress; write last.pt unless the run
        ends here. True: it ends."""
        pos, hooks = self.pos, self.hooks
        record = {"epoch": float(epoch), "train_loss": pos.total / max(pos.batches_done, 1),
                  "seconds": time.perf_counter() - self.start}
        if hooks.evaluate is not None:
            metrics = _validate(self.model, hooks.evaluate)
            record.update({k: float(v) for k, v in metrics.items()})
            if hooks.monitor not in record:
                raise ValueError(f"fit: monitor={hooks.monitor!r} is not among the validation metrics "
                                 f"{sorted(metrics)}.")
        pos.history.append(record)
        self.log.write({"step": pos.step, **record})
        shown = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k not in ("epoch", "seconds"))
        tqdm.write(f"epoch {epoch}: {shown} ({record['seconds']:.0f}s, {pos.step} steps)")
        value = record[hooks.monitor]
        info = {"epoch": epoch, "step": pos.step, "metrics": record}
        if pos.best is None or self.sign * value > self.sign * pos.best:
            pos.best, pos.best_epoch, pos.bad_epochs = value, epoch, 0
            if hooks.restore_best:
                self.best_state = copy.deepcopy(self.model.state_dict())
            if hooks.checkpoint is not None and self.out is not None:
                # best.pt before last.pt: a kill between the two then repeats this epoch and writes best.pt again
                atomic_save(hooks.checkpoint(self.model, info), self.out / "best.pt")
        else:
            pos.bad_epochs += 1
        pos.epoch, pos.batches_done, pos.total = epoch + 1, 0, 0.0
        if not pos.stopped and self.config.patience > 0 and pos.bad_epochs >= self.config.patience:
            pos.stopped = f"no better {hooks.monitor} for {self.config.patience} epochs"
        if pos.stopped or pos.epoch > self.config.epochs:
            return True
        self.save_last(_rng_state(self.generators), info)  # the next epoch starts from here
        return False

    def finish(self) -> FitResult:
        """The model with the best epoch's weights, or a mean of the last epochs' if one validates better (1)."""
        pos, hooks = self.pos, self.hooks
        pos.stopped = pos.stopped or "finished all epochs"
        if hooks.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        info = {"epoch": pos.best_epoch, "step": pos.step,
                "metrics": pos.history[pos.best_epoch - 1] if pos.history else {}}
        if hooks.evaluate is not None and len(self.recent) > 1:
            chosen = _choose_average(self.model, list(self.recent), hooks.evaluate, hooks.monitor, self.sign, pos,
                                     self.log)
            if chosen is not None:
                info = {"epoch": len(pos.history), "step": pos.step, "metrics": chosen, "averaged": pos.averaged}
                if hooks.checkpoint is not None and self.out is not None:
                    atomic_save(hooks.checkpoint(self.model, info), self.out / "best.pt")  # the weights it ends with
        self.save_last(_rng_state(self.generators), info)
        return self.result()


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block (None or 0: left as they are), then put back.
    On a shared CPU one thread avoids spinning on busy cores."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _validate(model: nn.Module, evaluate: Callable[[nn.Module], dict[str, float]]) -> dict[str, float]:
    """The validation metrics of ``model`` in eval mode, without gradients (the next epoch sets train mode again)."""
    model.eval()
    with torch.no_grad():
        return evaluate(model)


def average_weights(states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """Equation (1): the element-wise mean of several state dicts of one model. Entries that are not floating
    point (step counters, integer buffers) are the last state's."""
    if not states:
        raise ValueError("average_weights: no state dicts to average; pass at least one.")
    keys = list(states[-1])
    for s in states[:-1]:
        if list(s) != keys:
            raise ValueError(f"average_weights: the state dicts hold different entries ({sorted(set(s) ^ set(keys))}"
                             "); average the weights of one model only.")
    return {k: torch.stack([s[k] for s in states]).mean(0) if states[-1][k].is_floating_point() else states[-1][k]
            for k in keys}


def _choose_average(model: nn.Module, recent: list[tuple[int, dict[str, Tensor]]],
                    evaluate: Callable[[nn.Module], dict[str, float]], monitor: str, sign: float, pos: _Position,
                    log: MetricsLog) -> dict[str, float] | None:
    """Validate the mean of the last k epochs for k = 2..len(recent); load the best if it beats ``pos.best``
    and return its record (None: the model keeps its weights)."""
    before = copy.deepcopy(model.state_dict())
    best, chosen, weights = pos.best, None, None
    for k in range(2, len(recent) + 1):
        averaged = average_weights([w for _, w in recent[-k:]])
        model.load_state_dict(averaged)
        metrics = _validate(model, evaluate)
        record = {"averaged": float(k), "first_epoch": float(recent[-k][0]), "last_epoch": float(recent[-1][0]),
                  **{name: float(v) for name, v in metrics.items()}}
        pos.averages.append(record)
        log.write({"step": pos.step, **record})
        tqdm.write(f"mean of epochs {recent[-k][0]}-{recent[-1][0]}: "
                   + ", ".join(f"{n} {v:.4f}" for n, v in metrics.items()))
        if best is None or sign * record[monitor] > sign * best:
            best, chosen, weights = record[monitor], record, averaged
    if chosen is None or weights is None:
        tqdm.write(f"fit: no mean of the last epochs validates better than epoch {pos.best_epoch}; keeping it")
        model.load_state_dict(before)
        return None
    model.load_state_dict(weights)
    pos.best, pos.averaged = best, int(chosen["averaged"])
    tqdm.write(f"fit: the mean of the last {pos.averaged} epochs validates best ({monitor} {best:.4f}); keeping it")
    return chosen


def _read_resume_state(out: Path, config: TrainConfig, monitor: str, mode: str,
                       generators: int) -> dict[str, Any] | None:
    """The "fit" entry of ``out/last.pt``, checked against this run's settings; None if there is no last.pt yet."""
    path = out / "last.pt"
    if not path.exists():
        tqdm.write(f"fit: nothing to resume in {out} (no last.pt yet); starting from the beginning")
        return None
    state = load_checkpoint(path).get("fit")
    if not isinstance(state, dict) or state.get("format") != FIT_FORMAT:
        raise ValueError(f"fit: {path} holds no training state to resume from (expected a 'fit' entry of format "
                         f"{FIT_FORMAT!r}); it was written by an older rnnkit or another program. Start a new run in "
                         "another output directory.")
    ours = {**dataclasses.asdict(config), "monitor": monitor, "mode": mode, "generators": generators}
    theirs = {**state["config"], "monitor": state["monitor"], "mode": state["mode"],
              "generators": len(state["rng"]["local"])}
    diffs = [k for k in ours if k not in RESUME_MAY_CHANGE and k in theirs and ours[k] != theirs[k]]
    if ours["schedule"] != "constant" and ours["epochs"] != theirs["epochs"]:
        diffs.append("epochs")  # a scheduled rate depends on the number of epochs: each epoch's rate would change
    newer = [k for k in ours if k not in RESUME_MAY_CHANGE and k not in theirs]
    if newer:  # settings added to rnnkit after the run was written: what they were then cannot be checked
        tqdm.write(f"fit: {path} was written before these settings existed, so they are not checked against the run: "
                   + ", ".join(f"{k}={ours[k]!r}" for k in newer)
                   + ". If the run behaved otherwise (an older default), resuming changes what it trains on.")
    if diffs:
        listed = "; ".join(f"{k}: asked for {ours[k]!r}, the checkpoint has {theirs[k]!r}" for k in diffs)
        raise ValueError(f"fit: resume: settings differ from {path} ({listed}). Drop those flags to continue the run "
                         "as it was, or start a new run in another output directory.")
    return state


def _lift_limit(saved: dict[str, Any], config: TrainConfig, out: Path | None) -> dict[str, Any]:
    """``saved`` as read, or, for a run that stopped at max_steps or max_minutes which this run's limits no longer
    reach, its state at that step (the partial epoch's validation and the final best or averaged weights dropped)."""
    at = saved.get("at_limit")
    if at is None:
        return saved
    pos = at["position"]
    if (config.max_steps is not None and pos["step"] >= config.max_steps) or (
            config.max_minutes is not None and pos["seconds"] >= 60 * config.max_minutes):
        return saved  # the limit still holds: the run stays finished
    tqdm.write(f"fit: the run in {out} had stopped ({saved['position']['stopped']}); the new limits let it go on from "
               f"step {pos['step']}")
    return {**saved, **at}


def _skip(iterator: Any, count: int, epoch: int, out: Path | None) -> None:
    """Draw and drop the first ``count`` batches of the epoch (a resumed run trained on them already)."""
    done = sum(1 for _ in itertools.islice(iterator, count))
    if done < count:
        raise ValueError(f"fit: resume: epoch {epoch} now has {done} batches, but the run in {out} had trained on "
                         f"{count} of them; the training data or batching changed since. Start a new run in another "
                         "output directory.")


def _rng_state(generators: Sequence[torch.Generator]) -> dict[str, Any]:
    """The global generators (torch, CUDA, Python, NumPy) and the recipe's own, as weights_only loading reads them."""
    version, mt, gauss = random.getstate()
    name, keys, where, has_gauss, cached = np.random.get_state(legacy=True)
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": [version, list(mt), gauss],
            "numpy": [str(name), [int(k) for k in keys], int(where), int(has_gauss), float(cached)],
            "local": [g.get_state() for g in generators]}


def _set_rng_state(state: dict[str, Any], generators: Sequence[torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, where, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), where, has_gauss, cached))
    for generator, saved in zip(generators, state["local"], strict=True):
        generator.set_state(saved)

