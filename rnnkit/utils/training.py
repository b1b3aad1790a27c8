"""The parts both training loops share: the char-LM's (``rnnkit.lm.train``) and the recipes' (``fit``).

- ``MetricsLog``: metrics.jsonl, one JSON row per line, reopened by a resumed run with exactly the rows its
  checkpoint counts.
- ``ProgressBar``: one tqdm bar, over steps, seconds or the batches of an epoch.
- ``DivergenceGuard``: stops a run whose loss or gradient norm became NaN, infinite or exploded, with one
  message: what became what, where, which checkpoint is kept, what to try.
- ``clip_gradients``: the gradient-norm clipping of every loop, ``clip = 0`` meaning off (``check_clip`` refuses a
  negative one up front).
- ``cosine_factor`` and ``warmup_cosine``: the learning-rate schedules' math,

      cosine_factor(done, total, final) = final + (1 - final) * (1 + cos(pi * done / total)) / 2     (1)
      warmup_cosine(step)               = peak * (step + 1) / warmup           while step < warmup   (2)
                                          peak * cosine_factor(progress, 1, final)  afterwards

  (1) falls from 1 at ``done = 0`` to ``final`` at ``done = total``; the recipes take it per epoch
  (done = epoch - 1, total = epochs, final = 0), the char-LM per step after a linear warm-up (2).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

EXPLODED = 100.0  # a loss above this many times the first one (or 1, if that is larger) has blown up, not wobbled


def clip_gradients(parameters: Iterable[torch.Tensor], clip: float) -> float:
    """Scale the gradients so that their global norm is at most ``clip`` (0: off); return the norm before.

    ``torch.nn.utils.clip_grad_norm_`` itself takes 0 as "scale every gradient to zero" and a negative value as
    "reverse them": a run that looks normal and learns nothing, or climbs.
    """
    check_clip(clip, "clip_gradients")
    return float(torch.nn.utils.clip_grad_norm_(parameters, clip if clip > 0 else math.inf))


def check_clip(clip: float, who: str) -> None:
    """Refuse a negative clip (``who``: the command or config that was given it), before any training."""
    if clip < 0:
        raise ValueError(f"{who}: --clip must be >= 0 (0 turns clipping off), got {clip}.")


# ---- the schedule ------------------------------------------------------------------------------------


def cosine_factor(done: float, total: float = 1.0, final: float = 0.0) -> float:
    """Equation (1): the share of the peak rate after ``done`` of ``total`` (clamped to [0, total])."""
    done = min(max(done, 0.0), total)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * done / total))  # (1)


def warmup_cosine(peak: float, step: int, warmup_steps: int, progress: float, final: float) -> float:
    """Equation (2): a linear warm-up over ``warmup_steps``, then a cosine from ``peak`` to ``peak * final``
    as ``progress`` goes 0 -> 1."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps  # (2), warm-up
    return peak * cosine_factor(progress, 1.0, final)  # (2), decay


# ---- the metrics log ---------------------------------------------------------------------------------


def _note(message: str) -> None:
    tqdm.write(message, file=sys.stderr)  # past any progress bar, and out of stdout's results


class MetricsLog:
    """metrics.jsonl: one JSON object per line (training rows and evaluation rows), appended as a run goes.

    ``MetricsLog(out_dir)`` starts a new log (an old file there is emptied); ``MetricsLog.reopen`` continues
    a resumed run's. The file is always rewritten through a temporary file, so that a kill mid-rewrite
    cannot empty it. ``rows`` holds every row of the run, the reopened ones included. With
    ``out_dir=None`` or ``write=False`` (the other ranks under torchrun) nothing is written.
    """

    def __init__(self, out_dir: Path | None, rows: list[dict[str, Any]] | None = None, write: bool = True) -> None:
        self.rows = list(rows or [])
        self.path = out_dir / "metrics.jsonl" if out_dir is not None and write else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.rows))
            _fsync(tmp)  # the rows on disk before the rename, or a power cut could leave an empty file under the name
            os.replace(tmp, self.path)

    @classmethod
    def reopen(cls, out_dir: Path | None, *, rows: int | None = None, through_step: int | None = None,
               write: bool = True) -> MetricsLog:
        """A resumed run's log, keeping exactly the rows its checkpoint counts: the first ``rows`` lines, or the rows up
        to step ``through_step``. The rest, written by a killed run after its last checkpoint, are dropped: the resumed
        run writes them again. A line that does not parse (cut short by a power cut) is dropped with a note."""
        if (rows is None) == (through_step is None):
            raise TypeError("MetricsLog.reopen: give exactly one of rows and through_step, "
                            f"got rows={rows}, through_step={through_step}.")
        path = out_dir / "metrics.jsonl" if out_dir is not None else None
        if path is None or not path.exists():
            lines: list[str] = []
        else:
            lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
        if rows is not None:
            kept = _parse(lines[:rows], path)
            if len(kept) < rows:
                _note(f"{path} has {len(kept)} rows but the checkpoint counts {rows}; the rows in between are lost")
        else:
            kept = [r for r in _parse(lines, path) if r.get("step", math.inf) <= through_step]
        return cls(out_dir, kept, write)

    @property
    def last_loss(self) -> float | None:
        """The training loss of the latest row that has one (None before the first)."""
        losses = [r["loss"] for r in self.rows if "loss" in r]
        return losses[-1] if losses else None

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` (to ``rows``, and as a line of the file)."""
        self.rows.append(row)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    def sync(self) -> None:
        """Flush the log to disk; called before a checkpoint is written, so the rows it counts survive a power cut."""
        if self.path is not None and self.path.exists():
            _fsync(self.path)


def _parse(lines: list[str], path: Path | None) -> list[dict[str, Any]]:
    """The rows of ``lines``; one that is not a JSON object is dropped with a note, never fatally."""
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            _note(f"{path}: line {number} is not a JSON row ({line[:60]!r}), probably cut short by a crash; dropped")
            continue
        rows.append(row)
    return rows


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


# ---- the progress bar --------------------------------------------------------------------------------


class ProgressBar:
    """A tqdm bar over steps, seconds or the batches of an epoch, with the latest numbers as its postfix.

    Args:
        total: where the bar ends (max steps, the time budget in seconds, the batches of the epoch; None: unknown).
        start: where it starts (a resumed run's step, elapsed seconds or batches done).
    """

    def __init__(self, total: int | None, start: int = 0, unit: str = "step", desc: str | None = None,
                 enabled: bool = True, leave: bool = True) -> None:
        self.bar = tqdm(total=total, initial=start, unit=unit, desc=desc, disable=not enabled, dynamic_ncols=True,
                        leave=leave)
        self.total = total
        self.position = start

    def move_to(self, position: int) -> None:
        """Advance to ``position``, no further than the total (the last step of a time budget passes it)."""
        position = min(position, self.total) if self.total is not None else position
        self.bar.update(position - self.position)
        self.position = position

    def show(self, **postfix: str) -> None:
        """Show ``postfix`` (e.g. ``loss="1.234"``) beside the bar from its next refresh on."""
        self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        """End the bar (it stays on screen if ``leave``)."""
        self.bar.close()


# ---- the divergence guard ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DivergenceGuard:
    """Stops training, before the bad update is applied, when a loss or gradient norm is NaN, infinite or exploded.

    The ValueError says what became what, where (``at``: "step 11", "epoch 2, step 9"), which checkpoint
    is kept, and what to try. ``prefix`` starts the message ("fit: "); ``log`` gives the last logged loss.
    """

    log: MetricsLog
    checkpoint: Path | None  # the last.pt a resumed run would continue from (None: the run writes none)
    prefix: str = ""

    def check(self, what: str, value: float, at: str, first: float | None = None) -> None:
        """Raise ValueError if ``value`` is not finite or, given the run's ``first`` loss, above EXPLODED times it
        (or 1, if that is larger)."""
        exploded = first is not None and value > EXPLODED * max(first, 1.0)
        if math.isfinite(value) and not exploded:
            return
        if exploded:
            became = f"{value:.4g} at {at}, over {EXPLODED:g} times the first loss of {first:.4g}"
        else:
            became = f"{value} at {at}"
        if self.checkpoint is None:
            kept = "no checkpoint was written"
        elif self.checkpoint.exists():
            kept = f"the last good checkpoint is kept in {self.checkpoint}"
        else:
            kept = "no checkpoint was written yet"
        raise ValueError(f"{self.prefix}the {what} became {became} (the last logged loss was {self.log.last_loss}); "
                         f"training stopped before the bad update was applied and {kept}. "
                         "Try a lower --lr, a smaller --clip, or --resume with those.")
