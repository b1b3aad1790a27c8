"""Scores for connected digit recognition: edit distance, digit (word) error rate, string accuracy.

    WER        = (S + D + I) / N        substitutions, deletions, insertions against N reference digits
    WER_voices = (1/K) sum_k WER_k      the mean over K voices of each voice's own WER (a macro average)

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


def voice_error_rates(refs: Sequence[Sequence[object]], hyps: Sequence[Sequence[object]],
                      voices: Sequence[str]) -> dict[str, float]:
    """Each voice's own error rate, over the utterances that voice said."""
    if not len(refs) == len(hyps) == len(voices):
        raise ValueError(f"voice_error_rates: {len(refs)} references, {len(hyps)} hypotheses and {len(voices)} "
                         "voices; give one hypothesis and one voice per reference.")
    by_voice: dict[str, list[int]] = {}
    for n, v in enumerate(voices):
        by_voice.setdefault(v, []).append(n)
    return {v: error_rate([refs[n] for n in ns], [hyps[n] for n in ns]) for v, ns in by_voice.items()}


def voice_error_rate(refs: Sequence[Sequence[object]], hyps: Sequence[Sequence[object]],
                     voices: Sequence[str]) -> float:
    """The mean over voices of each voice's error rate: every voice weighs the same, however many strings it says.

    An estimate of the error on a new voice. The corpus rate weighs voices by their digits, so a voice that
    says a third of the strings (a flite voice here) makes a third of it.
    """
    rates = voice_error_rates(refs, hyps, voices)
    return sum(rates.values()) / len(rates)
