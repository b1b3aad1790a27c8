"""Scores of the action recogniser: exact per-frame action sets, per-clip accuracy, confusion counts."""

from __future__ import annotations

import numpy as np


def frame_set_accuracy(predicted: np.ndarray, true: np.ndarray, mask: np.ndarray) -> float:
    """Share of real frames whose predicted action set equals the true one exactly.

    predicted, true: (N, T, A) bool multi-hot; mask: (N, T) bool, True on real frames.
    """
    same = (predicted == true).all(axis=2)  # (N, T)
    return float(same[mask].mean()) if mask.any() else float("nan")


def confusion(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return counts


def runs(labels: list[str]) -> list[tuple[int, int, str]]:
    """Consecutive equal labels as (first, last, label), e.g. [a, a, b] -> [(0, 1, a), (2, 2, b)]."""
    out: list[tuple[int, int, str]] = []
    for t, label in enumerate(labels):
        if out and out[-1][2] == label:
            out[-1] = (out[-1][0], t, label)
        else:
            out.append((t, t, label))
    return out
