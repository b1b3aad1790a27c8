"""Chatbot metrics: perplexity, recall@k of the true response among candidates, distinct-n.

    perplexity = exp(-(1/N) sum_i log p(w_i | ...))          over all N response tokens (each reply's end token
    included)
    recall@k of C = share of queries whose true response ranks in the top k of its C candidates
    distinct-n = |unique n-grams| / |n-grams| over all replies   (Li et al., 2016)

Ties in recall@k are broken at random, in expectation: a true response with g candidates scored
above it and e scored equal ranks anywhere from g + 1 to g + e + 1 with equal chance, so it counts
min(1, max(0, (k - g) / (e + 1))). Chance is k / C.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def perplexity(log_prob_sum: float, tokens: int) -> float:
    """exp of the mean negative log-probability per token."""
    if tokens < 1:
        raise ValueError(f"perplexity: needs at least one token, got {tokens}.")
    return math.exp(-log_prob_sum / tokens)


def recall_at_k(true_score: float, others: Sequence[float], k: int) -> float:
    """The chance that the true response is in the top ``k`` when ranked with ``others`` (higher is better),
    ties broken at random."""
    above = sum(s > true_score for s in others)
    equal = sum(s == true_score for s in others)
    return min(1.0, max(0.0, (k - above) / (equal + 1)))


def mean_recall_at_k(rankings: Sequence[tuple[float, Sequence[float]]], k: int) -> float:
    """recall@k over queries, each given as (the true response's score, the other candidates' scores)."""
    if not rankings:
        raise ValueError("mean_recall_at_k: no queries to rank.")
    return sum(recall_at_k(t, o, k) for t, o in rankings) / len(rankings)


def distinct_n(replies: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams over all n-grams of the tokenised ``replies`` (0 when they hold none)."""
    grams = [tuple(r[i : i + n]) for r in replies for i in range(len(r) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def mean_length(replies: Sequence[Sequence[str]]) -> float:
    """Mean number of tokens of a reply."""
    return sum(len(r) for r in replies) / len(replies) if replies else 0.0
