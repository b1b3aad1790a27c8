"""Training a CharLM: stateful truncated BPTT, AdamW with warm-up and cosine decay, exact resume.

``train()`` reads top to bottom: config -> data -> model -> optimizer -> loop (forward,
backward, clip, step) -> eval -> checkpoint; its parts follow it, each on a screen: where the run
stands (``_Position``, ``_restore``), the schedule (``_set_learning_rate``), one step (``_step``),
the stop rules (``_stop_reason``), evaluation and checkpoint (``_evaluate``, ``_save``). The
metrics log, the progress bar, the divergence guard and the schedule's math are shared with the
recipes' loop (``rnnkit.utils.training``). What makes a resumed run identical to an
uninterrupted one: batch k is a pure function of k, the dropout generator is reseeded from
(seed, step, rank) before every step, and the checkpoint holds the optimizer state and the
recurrent state carried across chunks. (A run bounded by --time-budget decays its learning
rate with elapsed time, which no machine repeats exactly; a --max-steps run repeats to the bit.)
"""

from __future__ import annotations

import dataclasses
import math
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rnnkit.lm import distributed
from rnnkit.lm.char_lm import CharLM, CharLMConfig, State, detach_state
from rnnkit.lm.checkpoint import check_same, make_checkpoint, read_checkpoint
from rnnkit.lm.data import ERRORS, Corpus, RandomWindows, StreamBatches, corpus_from_text, load_corpus
from rnnkit.lm.embedded import embedded_text
from rnnkit.lm.vocab import CharVocab
from rnnkit.utils.checkpoint import atomic_save
from rnnkit.utils.config import option
from rnnkit.utils.machine import cpu_features
from rnnkit.utils.precision import PRECISIONS, autocast, resolve_precision
from rnnkit.utils.training import DivergenceGuard, MetricsLog, ProgressBar, clip_gradients, warmup_cosine

DEFAULT_TIME_BUDGET = 300.0  # seconds, when neither --max-steps nor --time-budget is given
# settings that decide which characters each step sees: a resumed run must keep them
RESUME_FIXED = ("batch_size", "bptt", "batching", "val_fraction", "errors", "seed")


@dataclass(frozen=True)
class TrainConfig:
    """How to train; ``asdict`` of it goes into every checkpoint. Defaults are tuned for loss per second on 2 CPU
    cores."""

    # more streams barely raise throughput on 2 cores
    batch_size: int = option(32, "streams per batch (the global batch under torchrun)")
    # the carried state sees further back than this
    bptt: int = option(64, "characters per chunk: how far gradients flow back")
    # carrying state gives context for free
    batching: str = option("stream",
                           "stream: consecutive chunks carry the state (char-rnn); random: independent windows",
                           choices=["stream", "random"])
    # high, because the cosine decay cleans up (best of 4e-3..1e-2)
    lr: float = option(1e-2, "peak learning rate of AdamW")
    # most of the final gain comes from the decay
    final_lr_fraction: float = option(0.02, "learning rate at the end, as a fraction of --lr")
    warmup_steps: int = option(50, "steps of linear learning-rate warm-up")  # Adam's early steps are noisy
    weight_decay: float = option(0.01, "AdamW weight decay on weight matrices")  # mild: short runs underfit
    beta2: float = option(0.99, "AdamW beta2")  # small batches: let the second moment adapt quickly
    # guards against the rare exploding step
    clip: float = option(1.0, "clip the global gradient norm to this (0 = off)")
    max_steps: int | None = option(None, "stop after this many steps")  # None: bounded by time instead
    # see DEFAULT_TIME_BUDGET
    time_budget: float | None = option(None, "stop after this many seconds of training "
                                             f"({DEFAULT_TIME_BUDGET:g} if --max-steps is not given either)")
    eval_every: int = option(250, "evaluate and checkpoint every N steps")  # about every 20-30 s here
    # keeps evaluation to seconds
    eval_chars: int | None = option(200_000, "evaluate on at most this many validation characters (0: all)")
    # None: never stop early
    patience: int | None = option(None, "early stopping: stop after N evaluations without improvement")
    val_fraction: float = option(0.1, "the last fraction of the text held out for validation")  # the usual 90/10 split
    # never guess silently
    errors: str = option("strict", "undecodable bytes: strict (error), replace (U+FFFD) or ignore",
                         choices=list(ERRORS))
    # bounded memory for huge corpora
    stream_above_mb: float = option(256.0,
                                    "texts larger than this many MB are memory-mapped instead of read into memory")
    seed: int = option(0, "random seed (initialisation, dropout, random windows)")  # runs repeat exactly
    log_every: int = option(10, "log the training loss every N steps")  # the metrics log and the progress bar
    # CPU is the target
    device: str = option("auto", "auto (CUDA if present), cpu or cuda", choices=["auto", "cpu", "cuda"])
    # fp32 until bf16 is measured to learn as well per second
    precision: str = option("fp32",
                            "matrix products: fp32; bf16 (mixed precision: float32 weights and optimizer, bf16 "
                            "products; only where the CPU or GPU has bf16 hardware); auto (bf16 exactly there)",
                            choices=list(PRECISIONS))

    def __post_init__(self) -> None:
        positive = ("batch_size", "bptt", "eval_every", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig: {name} must be at least 1, got {getattr(self, name)!r}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"TrainConfig: max_steps must be at least 1, got {self.max_steps!r}.")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"TrainConfig: time_budget must be positive (seconds), got {self.time_budget!r}.")
        at_least = {"clip": 0, "warmup_steps": 0, "eval_chars": 0, "patience": 1}  # eval_chars 0: all; clip 0: off
        for name, least in at_least.items():
            if getattr(self, name) is not None and getattr(self, name) < least:
                raise ValueError(f"TrainConfig: {name} must be at least {least}, got {getattr(self, name)!r}.")
        if self.stream_above_mb <= 0:
            raise ValueError(f"TrainConfig: stream_above_mb must be positive, got {self.stream_above_mb!r}.")
        if self.lr <= 0 or not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"TrainConfig: need lr > 0 and final_lr_fraction in [0, 1], got {self.lr!r}, "
                             f"{self.final_lr_fraction!r}.")


@dataclass
class TrainResult:
    """What ``train()`` returns: the trained model and vocabulary, the losses, and why it stopped."""
    step: int
    best_val_loss: float
    last_val_loss: float
    history: list[dict[str, Any]]  # the metrics log, one dict per row
    stopped: str  # why training ended: max_steps, time_budget, early_stopping, interrupted
    model: CharLM
    vocab: CharVocab
    out: Path | None


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up to ``lr``, then a cosine from ``lr`` down to ``lr * final_lr_fraction`` as progress goes 0 ->
    1."""
    return warmup_cosine(config.lr, step, config.warmup_steps, progress, config.final_lr_fraction)


@torch.no_grad()
def evaluate(model: nn.Module, ids: np.ndarray, batch_size: int = 32, bptt: int = 256, max_chars: int | None = None,
             d: distributed.Dist | None = None) -> float:
    """Mean cross-entropy in nats per character over ``ids``, read as carried-state streams.

    Under torchrun each rank scores its share of the streams and the sums are combined.
    """
    d = d or distributed.Dist()
    ids = ids[:max_chars] if max_chars else ids
    if len(ids) < 2:
        raise ValueError(f"evaluate: the text to score has {len(ids)} character(s); it needs at least 2.")
    # the same streams whatever the number of processes (so N ranks score exactly what one would); rank r takes rows r,
    # r+N, ...
    bptt = min(bptt, len(ids) - 1)
    streams = min(batch_size, (len(ids) - 1) // bptt)
    batches = StreamBatches(ids, streams, bptt, what="validation split")
    mine = slice(d.rank, streams, d.world_size)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0.0, None
    for k in range(batches.chunks_per_epoch):
        x, y = (t[mine] for t in batches.batch(k))
        if x.numel() == 0:
            break  # more processes than streams: this one has nothing to score
        _, loss = model(x.to(d.device), y.to(d.device), state)
        state = model.final_state
        total += float(loss) * y.numel()
        count += y.numel()
    model.train(was_training)
    total, count = distributed.sum_all(d, [total, count])
    return total / count


def load_training_text(text: str | None, vocab: CharVocab | None, config: TrainConfig,
                       cache_dir: Path | None) -> Corpus:
    """The corpus for a run: a file (memory-mapped when large), or the embedded default."""
    if text is None:
        body, source = embedded_text()
        return corpus_from_text(body, vocab, source)
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"no text file at {path}; pass --text FILE, or leave --text out to use the embedded "
                                "corpus.")
    stream = path.stat().st_size > config.stream_above_mb * 2**20
    cache = cache_dir or Path(tempfile.gettempdir()) / "rnnkit-ids"
    return load_corpus(path, vocab, config.errors, cache, stream=stream)


def train(
    config: TrainConfig,
    model_options: Mapping[str, Any] | None = None,
    text: str | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    callback: Callable[[dict[str, Any]], bool | None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    watch: Callable[[CharLM], None] | None = None,
) -> TrainResult:
    """Train a CharLM on ``text`` (a file path; None: the embedded corpus).

    Args:
        config: the training settings.
        model_options: CharLMConfig fields to set (vocab_size comes from the data).
        out: directory for best.pt, last.pt and metrics.jsonl (None: nothing is written).
        resume: a run directory (or .pt) to continue; its model config, vocabulary and data position are kept.
        callback: called with every metrics row; returning True stops the run cleanly (like Ctrl-C).
        clock: seconds for --time-budget and the schedule (a benchmark can pause it while a rival runs).
        watch: called once with the model before the first step (a benchmark scores it between steps).
    Returns:
        a TrainResult with the trained model, its vocabulary and the metrics history.
    """
    # ---- config ------------------------------------------------------------------------------
    if config.max_steps is None and config.time_budget is None:
        config = dataclasses.replace(config, time_budget=DEFAULT_TIME_BUDGET)
    d = distributed.setup(config.device)
    precision = resolve_precision(config.precision, d.device)  # a clear error for bf16 where it would be emulated
    out_dir = Path(out) if out is not None else None
    checkpoint = read_checkpoint(_resume_file(resume), "cpu") if resume is not None else None
    if checkpoint is not None:
        check_same("train --resume", dataclasses.asdict(config), checkpoint["train_config"], str(resume), RESUME_FIXED)
        check_same("train --resume", dict(model_options or {}), checkpoint["config"], str(resume))
        text = text if text is not None else checkpoint["data"]["text"]

    # ---- data --------------------------------------------------------------------------------
    vocab = CharVocab(checkpoint["meta"]["vocab"]) if checkpoint is not None else None
    corpus = load_training_text(text, vocab, config, out_dir)
    train_ids, val_ids, batches = _split(corpus, config, d)

    # ---- model, optimizer, and where the run stands (fresh, or restored from the checkpoint) --------
    model = _model(checkpoint, model_options, corpus.vocab, config.seed, d)
    net: nn.Module = DistributedDataParallel(model) if d.active else model
    optimizer = _optimizer(model, config, checkpoint)
    pos = _restore(checkpoint, config, d, resume)
    if watch is not None:
        watch(model)
    if checkpoint is not None:
        log = MetricsLog.reopen(out_dir, through_step=pos.step, write=d.is_main)  # the rows the checkpoint counts
    else:
        log = MetricsLog(out_dir, write=d.is_main)
    if d.is_main and progress:
        _announce(corpus, len(train_ids), len(val_ids), model, config, pos.step if checkpoint is not None else None,
                  precision)
    data_entry = {"text": str(Path(text).resolve()) if text is not None else None, "source": corpus.source,
                  "characters": len(corpus.ids)}

    # ---- loop: the learning rate, one step, why it might be the last, then eval and checkpoint ----
    stopped, interrupted = "", [False]
    previous_handler = _catch_interrupt(interrupted)
    bar = _progress_bar(config, pos, enabled=progress and d.is_main)
    guard = DivergenceGuard(log, out_dir / "last.pt" if out_dir is not None else None)
    net.train()
    t0 = clock() - pos.elapsed  # the clock continues where a resumed run left off
    try:
        while not stopped:
            lr = _set_learning_rate(optimizer, config, pos)
            loss, grad_norm, stop_votes = _step(net, model, optimizer, batches, config, pos, d, lambda: clock() - t0,
                                                interrupted, guard, precision)
            _show(bar, config, pos, loss)
            row = {"step": pos.step, "loss": loss, "lr": lr, "grad_norm": grad_norm, "elapsed": round(pos.elapsed, 3)}
            wants_stop = False
            if pos.step % config.log_every == 0:
                log.write(row)
                wants_stop = bool(callback(row)) if callback is not None else False
            stopped = _stop_reason(config, pos, stop_votes, wants_stop, d)
            if pos.step % config.eval_every == 0 or stopped:
                improved = _evaluate(model, val_ids, config, pos, log, d)
                if config.patience is not None and pos.bad_evals >= config.patience and not stopped:
                    stopped = "early_stopping"
                _save(out_dir, model, corpus.vocab, optimizer, config, pos, log, data_entry, improved, d)
                net.train()
    finally:
        bar.close()
        _restore_interrupt(previous_handler)

    # ---- result ------------------------------------------------------------------------------
    if d.is_main and progress:
        print(f"stopped ({stopped}) at step {pos.step} after {pos.elapsed:.0f} s: val_loss={pos.last_val:.4f} "
              f"bpc={pos.last_val / math.log(2):.4f} (best {pos.best_val:.4f})"
              + (f"; checkpoints in {out_dir}" if out_dir else ""))
    distributed.barrier(d)
    distributed.teardown(d)
    return TrainResult(pos.step, pos.best_val, pos.last_val, log.rows, stopped, model, corpus.vocab, out_dir)


def resume_config(resume: str | Path, explicit: Mapping[str, Any]) -> TrainConfig:
    """The TrainConfig of the run in ``resume``, with the settings given ``explicit``ly on top."""
    saved = read_checkpoint(_resume_file(resume))["train_config"]
    return TrainConfig(**{**saved, **explicit})


# ---- the parts of train(): the data, the model, the optimizer, where the run stands, the schedule, -------
# ---- one step, the stop rules, evaluation and checkpoint ------------------------------------------------


def _split(corpus: Corpus, config: TrainConfig, d: distributed.Dist
           ) -> tuple[np.ndarray, np.ndarray, StreamBatches | RandomWindows]:
    """The training and validation ids, and this rank's share of every step's chunks: consecutive ones per stream
    (stream) or independent windows (random). A validation split too short to score is refused."""
    train_ids, val_ids = corpus.split(config.val_fraction)
    if config.batching == "stream":
        batches: StreamBatches | RandomWindows = StreamBatches(train_ids, config.batch_size, config.bptt, d.rank,
                                                               d.world_size)
    else:
        batches = RandomWindows(train_ids, config.batch_size, config.bptt, config.seed, d.rank, d.world_size)
    if len(val_ids) < 2:
        raise ValueError(
            f"the validation split has {len(val_ids)} characters "
            f"(val_fraction={config.val_fraction} of {len(corpus.ids)}); "
            "use a larger --val-fraction or a longer text."
        )
    return train_ids, val_ids, batches


def _announce(corpus: Corpus, train_chars: int, val_chars: int, model: CharLM, config: TrainConfig,
              resumed_at: int | None, precision: str) -> None:
    print(f"data: {corpus.source}: {len(corpus.ids):,} characters, vocabulary {len(corpus.vocab)}, "
          f"train {train_chars:,} / validation {val_chars:,}")
    print(f"model: {model.config}  ({sum(p.numel() for p in model.parameters()):,} parameters)")
    print(f"train: {config}" + (f"  (resuming at step {resumed_at})" if resumed_at is not None else ""))
    if config.precision != "fp32":
        print(f"precision: {precision} products ({cpu_features()})")


def _model(checkpoint: dict[str, Any] | None, model_options: Mapping[str, Any] | None, vocab: CharVocab, seed: int,
           d: distributed.Dist) -> CharLM:
    """A new CharLM (initialised from ``seed``), or the checkpoint's with its weights."""
    torch.manual_seed(seed)
    if checkpoint is not None:
        model_config = CharLMConfig(**checkpoint["config"])
    else:
        model_config = CharLMConfig(vocab_size=len(vocab), **dict(model_options or {}))
    model = CharLM(model_config, vocab).to(d.device)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
    return model


def _optimizer(model: CharLM, config: TrainConfig, checkpoint: dict[str, Any] | None) -> torch.optim.AdamW:
    """AdamW decaying the weight matrices only (not biases, not the embedding table); a resumed run's state restored."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("embedding")]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith("embedding"))]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr, betas=(0.9, config.beta2),
    )
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    return optimizer


@dataclass
class _Position:
    """Where a run stands; last.pt holds it, with the weights and the optimizer state, for a resumed run to go on."""

    step: int = 0  # optimizer steps done
    elapsed: float = 0.0  # seconds of training, over every life of the run
    best_val: float = math.inf
    last_val: float = math.inf
    bad_evals: int = 0  # evaluations since the best one (early stopping)
    carry: State | None = None  # this rank's recurrent state at the end of the last chunk, fed to the next


def _restore(checkpoint: dict[str, Any] | None, config: TrainConfig, d: distributed.Dist,
             resume: str | Path | None) -> _Position:
    """Where the checkpoint's run stopped (the start, without one); a run already at its bounds is refused."""
    if checkpoint is None:
        return _Position()
    metrics = checkpoint["metrics"]
    pos = _Position(checkpoint["step"], checkpoint["elapsed"], metrics["best_val_loss"], metrics["val_loss"],
                    checkpoint["bad_evals"], _local_carry(checkpoint["carry"], d))
    if _bound_reached(config, pos):
        raise ValueError(
            f"train --resume: the run in {resume} already reached its bounds (step {pos.step}, {pos.elapsed:.0f} s; "
            f"max_steps={config.max_steps}, time_budget={config.time_budget}). "
            "Give a larger --max-steps or --time-budget."
        )
    return pos


def _set_learning_rate(optimizer: torch.optim.Optimizer, config: TrainConfig, pos: _Position) -> float:
    """The schedule: set (and return) the rate for this step, by steps or by time, whichever is further along."""
    by_time = pos.elapsed / config.time_budget if config.time_budget else 0.0
    decay_steps = max(config.max_steps - config.warmup_steps, 1) if config.max_steps else 0
    by_steps = (pos.step - config.warmup_steps) / decay_steps if config.max_steps else 0.0
    lr = learning_rate(config, pos.step, max(by_time, by_steps))
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def _step(net: nn.Module, model: CharLM, optimizer: torch.optim.Optimizer, batches: StreamBatches | RandomWindows,
          config: TrainConfig, pos: _Position, d: distributed.Dist, seconds: Callable[[], float],
          interrupted: list[bool], guard: DivergenceGuard, precision: str = "fp32") -> tuple[float, float, float]:
    """One step of truncated BPTT on the next chunk of every stream: forward, loss guard, backward, clip, gradient
    guard, update.

    Advances ``pos`` (step, elapsed, carried state). Returns the loss (the mean over ranks), the gradient norm, and how
    many ranks were interrupted.
    """
    if batches.starts_epoch(pos.step):
        pos.carry = None  # the streams start over: a state from their ends would be wrong context
    x, y = batches.batch(pos.step)
    torch.manual_seed(_step_seed(config.seed, pos.step, d.rank))  # dropout masks depend on the step alone

    # forward; every rank learns the mean loss (and whether anyone was interrupted) before going on
    with autocast(precision, d.device):  # bf16: the products in bf16, the weights and the loss in float32
        _, loss = net(x.to(d.device), y.to(d.device), pos.carry)
    pos.carry = detach_state(model.final_state, model.head.weight.dtype)
    loss_sum, time_sum, stop_votes = distributed.sum_all(d, [float(loss.detach()), seconds(), float(interrupted[0])])
    loss_value = loss_sum / d.world_size
    guard.check("loss", loss_value, f"step {pos.step + 1}")

    # backward, clip, step
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = clip_gradients(model.parameters(), config.clip)
    guard.check("gradient norm", grad_norm, f"step {pos.step + 1}")
    optimizer.step()
    pos.step += 1
    pos.elapsed = time_sum / d.world_size  # the same number on every rank, so they all stop together
    return loss_value, grad_norm, stop_votes


def _bound_reached(config: TrainConfig, pos: _Position) -> str:
    """"max_steps" or "time_budget" if the run has reached that bound, else ""."""
    if config.max_steps is not None and pos.step >= config.max_steps:
        return "max_steps"
    if config.time_budget is not None and pos.elapsed >= config.time_budget:
        return "time_budget"
    return ""


def _stop_reason(config: TrainConfig, pos: _Position, stop_votes: float, wants_stop: bool, d: distributed.Dist) -> str:
    """The stop rules: why the step just taken is the last ("" if it is not). Early stopping is the evaluation's."""
    if bound := _bound_reached(config, pos):
        return bound
    # Ctrl-C on any rank, or the callback; the same on every rank, so all of them reach the collective or none does
    if stop_votes > 0 or distributed.sum_all(d, [float(wants_stop)])[0] > 0:
        return "interrupted"
    return ""


def _evaluate(model: CharLM, val_ids: np.ndarray, config: TrainConfig, pos: _Position, log: MetricsLog,
              d: distributed.Dist) -> bool:
    """The validation loss into ``pos`` and the log; returns whether it is the best so far."""
    pos.last_val = evaluate(model, val_ids, config.batch_size, max(config.bptt, 256), config.eval_chars, d)
    improved = pos.last_val < pos.best_val
    pos.best_val, pos.bad_evals = (pos.last_val, 0) if improved else (pos.best_val, pos.bad_evals + 1)
    log.write({"step": pos.step, "val_loss": pos.last_val, "elapsed": round(pos.elapsed, 3)})
    return improved


def _save(out_dir: Path | None, model: CharLM, vocab: CharVocab, optimizer: torch.optim.Optimizer, config: TrainConfig,
          pos: _Position, log: MetricsLog, data: dict[str, Any], improved: bool, d: distributed.Dist) -> None:
    """best.pt when the validation loss improved, then last.pt always (atomic writes, rank 0)."""
    if out_dir is None:
        return
    full_carry = _global_carry(pos.carry, d)  # a collective: every rank takes part
    if d.is_main:
        state = make_checkpoint(
            model, vocab, train_config=dataclasses.asdict(config), step=pos.step, elapsed=pos.elapsed,
            metrics={"val_loss": pos.last_val, "best_val_loss": pos.best_val, "train_loss": log.last_loss},
            bad_evals=pos.bad_evals, data=data, optimizer=optimizer.state_dict(), carry=full_carry,
        )
        log.sync()  # the rows this checkpoint counts are on disk before it
        # best.pt first: killed between the two writes, the run resumes from the previous last.pt,
        # repeats these steps and writes best.pt again (the other order would lose this best model)
        if improved:
            atomic_save(state, out_dir / "best.pt")
        atomic_save(state, out_dir / "last.pt")


def _progress_bar(config: TrainConfig, pos: _Position, enabled: bool) -> ProgressBar:
    """Over steps (with --max-steps) or seconds (with a time budget only)."""
    if config.max_steps is not None:
        return ProgressBar(config.max_steps, pos.step, "step", enabled=enabled)
    return ProgressBar(int(config.time_budget or 0), int(pos.elapsed), "s", enabled=enabled)


def _show(bar: ProgressBar, config: TrainConfig, pos: _Position, loss: float) -> None:
    bar.move_to(pos.step if config.max_steps is not None else int(pos.elapsed))
    if pos.step % 10 == 0:
        val = {"val": f"{pos.last_val:.3f}"} if math.isfinite(pos.last_val) else {}
        bar.show(step=str(pos.step), loss=f"{loss:.3f}", **val)


# ---- helpers -------------------------------------------------------------------------------------


def _resume_file(resume: str | Path) -> Path:
    """A run directory resumes from its last.pt, the latest state; its best.pt is often older."""
    path = Path(resume)
    return path / "last.pt" if path.is_dir() and (path / "last.pt").exists() else path


def _step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


def _global_carry(carry: State | None, d: distributed.Dist) -> list[torch.Tensor] | None:
    """The carried state of all streams of the global batch (gathered from every rank), on CPU."""
    if carry is None:
        return None
    parts = list(carry) if isinstance(carry, tuple) else [carry]
    return [distributed.gather_batch(d, p, dim=1).cpu() for p in parts]  # (L, B, H) each


def _local_carry(saved: list[torch.Tensor] | None, d: distributed.Dist) -> State | None:
    """This rank's streams of a saved global carried state."""
    if saved is None:
        return None
    B = saved[0].size(1) // d.world_size
    parts = [s[:, d.rank * B : (d.rank + 1) * B].to(d.device) for s in saved]
    return (parts[0], parts[1]) if len(parts) == 2 else parts[0]


def _catch_interrupt(flag: list[bool]) -> Any:
    """The first Ctrl-C finishes the current step, checkpoints and stops; a second one aborts."""
    def handler(signum: int, frame: Any) -> None:
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True

    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


def _restore_interrupt(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
