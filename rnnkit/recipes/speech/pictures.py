"""Pictures of the spoken-digit models at work: CTC posteriors over frames, and a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from rnnkit.utils.plotting import figure


def posteriors(mel: Tensor, log_probs: Tensor, words: Sequence[str], step_seconds: float, path: Path,
               title: str) -> Path:
    """The first stacked frame's log-mel bands (top) and each label's CTC posterior per step (bottom; dotted: blank)."""
    probs = log_probs.exp().numpy()  # (T, V+1)
    T = probs.shape[0]
    t = np.arange(T) * step_seconds
    with figure(path, size=(9.0, 4.5), dpi=100, nrows=2, sharex=True) as (_, (top, bottom)):
        top.imshow(mel.T.numpy(), aspect="auto", origin="lower", extent=(0, T * step_seconds, 0, mel.shape[1]),
                   cmap="magma")
        top.set(ylabel="mel band", title=title)
        bottom.plot(t, probs[:, 0], ":", color="grey", lw=1, label="blank")
        for label in range(1, probs.shape[1]):
            if probs[:, label].max() > 0.2:
                line = bottom.plot(t, probs[:, label], lw=1.5, label=words[label - 1])[0]
                peak = int(probs[:, label].argmax())
                bottom.annotate(words[label - 1], (t[peak], probs[peak, label]), color=line.get_color(), fontsize=8,
                                ha="center", va="bottom")
        bottom.set(xlabel="time (s)", ylabel="posterior", ylim=(0, 1.1))
        bottom.legend(fontsize=7, ncol=6, loc="center right")
    return path


def confusion(labels: Sequence[int], predicted: Sequence[int], names: Sequence[str], path: Path, title: str) -> Path:
    """Counts of (said, heard) pairs as a matrix with the counts written in."""
    n = len(names)
    counts = np.zeros((n, n), dtype=int)
    for y, p in zip(labels, predicted, strict=True):
        counts[y, p] += 1
    with figure(path, size=(5.5, 5.0), dpi=100) as (_, ax):
        ax.imshow(counts, cmap="Blues")
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if counts[i, j] > counts.max() / 2 else "black")
        ax.set(xticks=range(n), yticks=range(n), xlabel="heard", ylabel="said", title=title)
        ax.set_xticklabels(names, rotation=60, fontsize=7)
        ax.set_yticklabels(names, fontsize=7)
    return path
