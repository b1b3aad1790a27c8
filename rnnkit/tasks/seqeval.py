"""Entity-level precision, recall and F1 for BIO tags, with exact span matching.

This follows the CoNLL ``conlleval`` script and seqeval's default mode: an entity is a
maximal run ``B-X I-X ... I-X``; an ``I-X`` that follows ``O`` or a tag of another type
also starts an entity (so ``O I-PER I-PER`` is one PER entity). A predicted entity counts
only if its type, start and end all equal those of a gold entity. Scores are micro-averaged
over all entities of all types:

    precision = |gold ∩ pred| / |pred|      recall = |gold ∩ pred| / |gold|
    F1 = 2 P R / (P + R)                     (0 when P + R = 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Span = tuple[str, int, int]  # (type, first token, last token), both inclusive


def _split(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); a bare 'B'/'I' has the empty type."""
    if tag == "O" or not tag:
        return "O", ""
    prefix, _, kind = tag.partition("-")
    if prefix not in ("B", "I"):
        raise ValueError(f"seqeval: tag {tag!r} is not BIO; expected 'O', 'B-TYPE' or 'I-TYPE'.")
    return prefix, kind


def get_entities(tags: Sequence[str]) -> list[Span]:
    """The entity spans of one tag sequence: ``["B-PER", "I-PER", "O", "B-LOC"]`` -> ``[("PER", 0, 1), ("LOC", 3, 3)]``."""
    spans: list[Span] = []
    start, kind = -1, ""
    for t, tag in enumerate(tags):
        prefix, k = _split(tag)
        # an open entity ends at O, at B-anything, or at I- of a different type
        if start >= 0 and (prefix != "I" or k != kind):
            spans.append((kind, start, t - 1))
            start = -1
        # a new entity starts at B, or at an I that does not continue the open one
        if prefix == "B" or (prefix == "I" and start < 0):
            start, kind = t, k
    if start >= 0:
        spans.append((kind, start, len(tags) - 1))
    return spans


@dataclass
class EntityScores:
    """Micro-averaged scores, plus per-type (precision, recall, f1, support) in ``per_type``."""

    precision: float
    recall: float
    f1: float
    gold: int
    predicted: int
    correct: int
    per_type: dict[str, tuple[float, float, float, int]] = field(default_factory=dict)


def _prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> EntityScores:
    """Score predicted tag sequences against gold ones (same number of sentences, same lengths)."""
    if len(gold) != len(pred):
        raise ValueError(f"entity_scores: got {len(gold)} gold sentences but {len(pred)} predicted; pass one prediction per sentence.")
    gold_spans: set[tuple[int, Span]] = set()
    pred_spans: set[tuple[int, Span]] = set()
    for n, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"entity_scores: sentence {n} has {len(g)} gold tags but {len(p)} predicted; they must align.")
        gold_spans.update((n, s) for s in get_entities(g))
        pred_spans.update((n, s) for s in get_entities(p))
    hits = gold_spans & pred_spans
    per_type = {}
    for kind in sorted({s[0] for _, s in gold_spans | pred_spans}):
        c = sum(1 for _, s in hits if s[0] == kind)
        np_ = sum(1 for _, s in pred_spans if s[0] == kind)
        ng = sum(1 for _, s in gold_spans if s[0] == kind)
        per_type[kind] = (*_prf(c, np_, ng), ng)
    precision, recall, f1 = _prf(len(hits), len(pred_spans), len(gold_spans))
    return EntityScores(precision, recall, f1, len(gold_spans), len(pred_spans), len(hits), per_type)
