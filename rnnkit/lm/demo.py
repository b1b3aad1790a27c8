"""``rnnkit demo`` (what ``make demo`` runs): a few minutes of training on the embedded corpus,
samples at two temperatures, and a small report folder: loss curves, samples, settings."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
from pathlib import Path

import torch

from rnnkit.lm.sample import sample
from rnnkit.lm.train import TrainConfig, TrainResult, train
from rnnkit.utils.plotting import new_figure

TEMPERATURES = (0.5, 1.0)  # conservative and adventurous
SAMPLE_LENGTH = 600  # characters per sample: a few paragraphs


def run_demo(out: str | Path | None = None, time_budget: float = 240.0, seed: int = 0) -> Path:
    """Train, sample and write the report; returns the report folder."""
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1) and torch.get_num_threads() > 1:
        # on an oversubscribed machine a second thread mostly waits for its partner at every time step
        print(f"rnnkit demo: the machine is busy (load {os.getloadavg()[0]:.1f}); training on one thread.")
        torch.set_num_threads(1)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(out) if out is not None else Path("runs") / f"demo-{stamp}"
    config = TrainConfig(time_budget=time_budget, seed=seed)  # its checks first: nothing is announced for 0 s
    print(f"rnnkit demo: training a character-level LSTM on Python's own documentation for {time_budget:.0f} s; "
          f"the report goes to {folder}/")
    result = train(config, {}, text=None, out=folder)
    generator = torch.Generator().manual_seed(seed)
    samples = {t: sample(result.model, "\n", SAMPLE_LENGTH, temperature=t, generator=generator) for t in TEMPERATURES}
    for t, text in samples.items():
        print(f"\n---- sample at temperature {t} ----\n{text}")
    write_report(folder, result, config, samples)
    print(f"\nreport: {folder / 'report.md'} (loss curves: {folder / 'loss.png'}; model: {folder / 'best.pt'})")
    return folder


def write_report(folder: Path, result: TrainResult, config: TrainConfig, samples: dict[float, str]) -> None:
    """report.md, samples.txt and loss.png in ``folder``."""
    plot_losses(result, folder / "loss.png")
    text = "\n\n".join(f"---- temperature {t} ----\n{s}" for t, s in samples.items())
    (folder / "samples.txt").write_text(text + "\n")
    model_config = result.model.config
    lines = [
        "# rnnkit demo: a character-level LSTM",
        "",
        f"Trained on {result.model.vocab and len(result.model.vocab)} distinct characters of Python's bundled "
        "reference "
        f"documentation for {result.history[-1]['elapsed']:.0f} s ({result.step} steps, stopped by {result.stopped}).",
        "",
        f"- validation loss: {result.last_val_loss:.4f} nats/char = {result.last_val_loss / math.log(2):.4f} bits/char "
        f"(best {result.best_val_loss:.4f})",
        "- loss curves: ![loss](loss.png)",
        f"- model: `{model_config}`",
        f"- training: `{dataclasses.replace(config)}`",
        "",
        "Continue the run: `rnnkit train charlm --resume " + str(folder) + " --time-budget 600`; "
        "sample from it: `rnnkit sample " + str(folder) + " --prime 'The ' --temperature 0.8`.",
        "",
    ]
    for t, s in samples.items():
        lines += [f"## Sample at temperature {t}", "", "```text", s, "```", ""]
    (folder / "report.md").write_text("\n".join(lines))


def plot_losses(result: TrainResult, path: Path) -> None:
    """Training loss (every logged step) and validation loss (every evaluation) against steps."""
    train_rows = [r for r in result.history if "loss" in r]
    val_rows = [r for r in result.history if "val_loss" in r]
    fig = new_figure((7, 4))
    ax = fig.subplots()
    ax.plot([r["step"] for r in train_rows], [r["loss"] for r in train_rows], label="training", alpha=0.7)
    ax.plot([r["step"] for r in val_rows], [r["val_loss"] for r in val_rows], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/char)")
    ax.set_ylim(top=min(4.0, max(r["loss"] for r in train_rows)) if train_rows else None)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
