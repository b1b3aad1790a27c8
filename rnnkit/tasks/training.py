"""The training loop every recipe shares: epochs of (forward, backward, clip, step) with a
progress bar, validation after each epoch, early stopping on a validation metric, and
checkpoints written atomically.

A recipe supplies the pieces that differ::

    result = fit(
        model,
        train_batches=lambda epoch: make_batches(epoch),    # each batch is fed to loss_fn
        config=TrainConfig(epochs=10, lr=2e-3),
        evaluate=lambda m: {"accuracy": accuracy(m, dev)},  # validation metrics, higher is better
        monitor="accuracy",
        checkpoint=lambda m, info: {"task": "spam", "model": m.state_dict(), ...},
        out_dir="runs/spam",                                # best.pt (best epoch) and last.pt
    )

By default a batch is a dict of keyword arguments for the model, and the loss is the
second element of ``model(**batch)`` (the ``forward(x, targets=None) -> (output, loss)``
contract); a tuple batch is passed positionally. Pass ``loss_fn`` for anything else.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rnnkit.utils.checkpoint import atomic_save


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by the recipes (each recipe chooses its own defaults)."""

    epochs: int = field(default=10, metadata={"help": "passes over the training set (at most)"})  # early stopping usually ends sooner
    lr: float = field(default=2e-3, metadata={"help": "Adam learning rate"})  # a safe Adam rate for 1-2 layer RNNs
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})  # dropout regularises enough here
    clip: float = field(default=5.0, metadata={"help": "clip the gradient norm to this (0 = off)"})  # guards against the rare exploding step
    patience: int = field(default=3, metadata={"help": "stop after this many epochs without a better validation metric"})  # 0 = never stop early
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimizer steps in total"})  # for smoke tests
    max_minutes: float | None = field(default=None, metadata={"help": "stop after this much wall time (checked after each step)"})  # keeps a run within budget
    threads: int | None = field(default=None, metadata={"help": "CPU threads for torch (default: torch's choice; 1 is fastest on a busy machine)"})  # see docs/results.md
    seed: int = field(default=0, metadata={"help": "random seed for initialisation, shuffling and dropout"})  # runs are reproducible
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})  # off in tests and logs


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


def default_loss(model: nn.Module, batch: Any) -> Tensor:
    """``model(**batch)[1]`` for a dict batch, ``model(*batch)[1]`` for a tuple."""
    out = model(**batch) if isinstance(batch, dict) else model(*batch)
    if not isinstance(out, tuple) or len(out) != 2 or out[1] is None:
        raise TypeError(
            "fit: the model must return (output, loss) with a loss when given targets; "
            f"got {type(out).__name__}. Pass targets in the batch or give fit a loss_fn."
        )
    return out[1]


def fit(
    model: nn.Module,
    train_batches: Callable[[int], Iterable[Any]] | Iterable[Any],
    config: TrainConfig = TrainConfig(),
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    monitor: str = "loss",
    mode: str = "max",
    loss_fn: Callable[[nn.Module, Any], Tensor] = default_loss,
    checkpoint: Callable[[nn.Module, dict[str, Any]], dict[str, Any]] | None = None,
    out_dir: str | Path | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    restore_best: bool = True,
) -> FitResult:
    """Train ``model`` and return a ``FitResult``; the model ends with its best weights.

    Args:
        train_batches: the batches of one epoch, re-iterated each epoch, or a function of the
            epoch number returning them (so shuffling can depend on the epoch).
        evaluate: validation metrics after each epoch. Without it the training loss is monitored.
        monitor, mode: the metric that picks the best epoch and drives early stopping, and
            whether higher ("max") or lower ("min") is better.
        checkpoint: builds the dict to save from the model and ``info`` (epoch, step, metrics);
            saved as ``out_dir/best.pt`` when the monitored metric improves and as
            ``out_dir/last.pt`` at the end.
    Raises:
        ValueError: on a NaN or exploding loss, naming the epoch and step.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"fit: mode must be 'max' or 'min', got {mode!r}.")
    if evaluate is None:
        monitor, mode = "train_loss", "min"
    if checkpoint is not None and out_dir is None:
        raise ValueError("fit: a checkpoint function needs out_dir, the directory to write best.pt and last.pt in.")
    out = Path(out_dir) if out_dir is not None else None
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)  # on a shared CPU one thread avoids spinning on busy cores
    try:
        return _fit(model, train_batches, config, evaluate, monitor, mode, loss_fn, checkpoint, out, opt, restore_best)
    finally:
        torch.set_num_threads(threads)


def _fit(
    model: nn.Module,
    train_batches: Callable[[int], Iterable[Any]] | Iterable[Any],
    config: TrainConfig,
    evaluate: Callable[[nn.Module], dict[str, float]] | None,
    monitor: str,
    mode: str,
    loss_fn: Callable[[nn.Module, Any], Tensor],
    checkpoint: Callable[[nn.Module, dict[str, Any]], dict[str, Any]] | None,
    out: Path | None,
    opt: torch.optim.Optimizer,
    restore_best: bool,
) -> FitResult:
    """The loop itself (``fit`` has checked the arguments)."""
    sign = 1.0 if mode == "max" else -1.0
    best: float | None = None
    best_epoch, best_state, bad_epochs, step = 0, None, 0, 0
    history: list[dict[str, float]] = []
    stopped = "finished all epochs"
    start = time.perf_counter()
    first_loss: float | None = None

    for epoch in range(1, config.epochs + 1):
        model.train()
        batches = train_batches(epoch) if callable(train_batches) else train_batches
        total, count = 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", disable=not config.progress, leave=False)
        for batch in bar:
            # forward, backward, clip, step
            loss = loss_fn(model, batch)
            value = float(loss.detach())
            if not math.isfinite(value) or (first_loss is not None and value > 100 * max(first_loss, 1.0)):
                raise ValueError(
                    f"fit: loss is {value:.4g} at epoch {epoch}, step {step + 1} (first loss {first_loss}); "
                    "training diverged. Lower --lr or --clip."
                )
            first_loss = value if first_loss is None else first_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for p in model.parameters() if p.grad is not None]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.clip if config.clip > 0 else float("inf")))
            opt.step()
            step += 1
            total, count = total + value, count + 1
            bar.set_postfix(loss=f"{total / count:.4f}", grad=f"{grad_norm:.2f}")
            if config.max_steps is not None and step >= config.max_steps:
                stopped = f"reached max_steps={config.max_steps}"
                break
            if config.max_minutes is not None and time.perf_counter() - start > 60 * config.max_minutes:
                stopped = f"reached max_minutes={config.max_minutes}"
                break
        bar.close()

        # validation, best epoch, early stopping
        record = {"epoch": float(epoch), "train_loss": total / max(count, 1), "seconds": time.perf_counter() - start}
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                metrics = evaluate(model)
            record.update({k: float(v) for k, v in metrics.items()})
            if monitor not in record:
                raise ValueError(f"fit: monitor={monitor!r} is not among the validation metrics {sorted(metrics)}.")
        history.append(record)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k not in ("epoch", "seconds"))
        tqdm.write(f"epoch {epoch}: {shown} ({record['seconds']:.0f}s, {step} steps)")
        value = record[monitor]
        if best is None or sign * value > sign * best:
            best, best_epoch, bad_epochs = value, epoch, 0
            if restore_best:
                best_state = copy.deepcopy(model.state_dict())
            if checkpoint is not None and out is not None:
                atomic_save(checkpoint(model, {"epoch": epoch, "step": step, "metrics": record}), out / "best.pt")
        else:
            bad_epochs += 1
        if stopped != "finished all epochs":
            break
        if config.patience > 0 and bad_epochs >= config.patience:
            stopped = f"no better {monitor} for {config.patience} epochs"
            break

    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    if checkpoint is not None and out is not None:
        info = {"epoch": best_epoch, "step": step, "metrics": history[best_epoch - 1] if history else {}}
        atomic_save(checkpoint(model, info), out / "last.pt")
    return FitResult(best, best_epoch, len(history), step, time.perf_counter() - start, stopped, history)
