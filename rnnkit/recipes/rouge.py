"""ROUGE (Lin, 2004) for the summarisation recipes: Google's ``rouge-score`` package, and the n-gram
F1 it computes, on token lists, for searches that score thousands of candidate summaries.

For one prediction against one reference, over n-grams (ROUGE-N) or the longest common
subsequence (ROUGE-L) of their tokens (lower-cased, alphanumeric, Porter-stemmed)::

    P = overlap / |prediction|      R = overlap / |reference|      F1 = 2 P R / (P + R)   (0 if P + R = 0)

``rouge`` reports the mean F1 over pairs, times 100, as papers do. ``ngram_f1`` is the ROUGE-N
F1 of two token lists already split by ``tokens`` (a test checks it equals rouge-score's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

KINDS = ("rouge1", "rouge2", "rougeL")
INSTALL = "pip install rouge-score (it is in rnnkit's `recipes` extra: pip install -e '.[recipes]')"


class _Tokenizer:
    """rouge-score's default tokenizer with stemming, each word's Porter stem computed once: the stemmer
    is most of the cost of a score (30 ms a pair on a busy machine), and a search scores the same words often."""

    def __init__(self) -> None:
        from nltk.stem import porter  # rouge-score's own stemmer (it depends on nltk)
        from rouge_score import tokenize

        self._tokenize = tokenize.tokenize
        self.stem = cache(porter.PorterStemmer().stem)  # read by tokenize.tokenize, as a stemmer's method

    def tokenize(self, text: str) -> list[str]:
        return list(self._tokenize(text, self))


@cache
def _tokenizer() -> _Tokenizer:
    try:
        return _Tokenizer()
    except ImportError:
        raise ImportError(f"ROUGE needs the package rouge-score, which is not installed: {INSTALL}.") from None


@cache
def _scorer() -> Any:
    _tokenizer()  # fails first, with the message, if rouge-score is missing
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(KINDS), tokenizer=_tokenizer())  # = use_stemmer=True, faster


def rouge(references: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F1 (x100) of ``predictions`` against ``references``, pair by pair."""
    if len(references) != len(predictions):
        raise ValueError(f"rouge: {len(references)} references but {len(predictions)} predictions; give one prediction "
                         "per reference.")
    if not references:
        raise ValueError("rouge: no pairs to score.")
    totals = dict.fromkeys(KINDS, 0.0)
    for reference, prediction in zip(references, predictions, strict=True):
        scores = _scorer().score(reference, prediction)  # target first, as rouge-score orders them
        for kind in KINDS:
            totals[kind] += scores[kind].fmeasure
    return {kind: 100 * total / len(references) for kind, total in totals.items()}


def tokens(text: str) -> list[str]:
    """The tokens ROUGE compares: rouge-score's own tokenizer (lower case, alphanumeric runs, Porter stems)."""
    return _tokenizer().tokenize(text)


def ngrams(toks: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """How often each n-gram occurs in ``toks``."""
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def ngram_f1(prediction: Counter[tuple[str, ...]], reference: Counter[tuple[str, ...]]) -> float:
    """ROUGE-N F1 (0..1) of two n-gram counts: overlap = sum over n-grams of min(count in each)."""
    overlap = sum(min(count, prediction[gram]) for gram, count in reference.items())
    p = overlap / max(sum(prediction.values()), 1)
    r = overlap / max(sum(reference.values()), 1)
    return 2 * p * r / (p + r) if p + r > 0 else 0.0
