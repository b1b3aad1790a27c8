"""Scores for connected digit recognition: edit distance, digit (word) error rate, string accuracy.

    WER = (S + D + I) / N         substitutions, deletions, insertions against N reference digits

(The Wilson interval of an accuracy on few clips is ``rnnkit.recipes.classify.wilson_interval``.)
"""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(ref: Sequence[object], hyp: Sequence[object]) -> int:
    """The fewest substitutions, deletions and insertions that turn ``ref`` into ``hyp`` (Levenshtein)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        row = [i]
        for j, h in enumerate(hyp, 1):
            row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r != h)))  # deletion, insertion, substitution
        prev = row
    return prev[-1]


def error_rate(refs: Sequence[Sequence[object]], hyps: Sequence[Sequence[object]]) -> float:
    """Total edit distance over total reference length (the word error rate over a corpus)."""
    if len(refs) != len(hyps):
        raise ValueError(f"error_rate: {len(refs)} references but {len(hyps)} hypotheses; give one hypothesis per "
                         "reference.")
    words = sum(len(r) for r in refs)
    if words == 0:
        raise ValueError("error_rate: the references hold no words; the rate is undefined.")
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)) / words


def string_accuracy(refs: Sequence[Sequence[object]], hyps: Sequence[Sequence[object]]) -> float:
    """Share of utterances recognised exactly."""
    if len(refs) != len(hyps) or not refs:
        raise ValueError(f"string_accuracy: need as many hypotheses as references (>0), got {len(refs)} and "
                         f"{len(hyps)}.")
    return sum(list(r) == list(h) for r, h in zip(refs, hyps, strict=True)) / len(refs)
