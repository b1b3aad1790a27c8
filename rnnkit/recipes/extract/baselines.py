"""The two yardsticks of an extractive summariser: lead-k below it, the greedy oracle above it.

lead-k: the first k sentences of the document (for a paper: of its abstract). Papers put their
point up front, so lead-3 is the classic baseline that a learnt extractor has to beat.

Oracle: the sentences that best match the human summary, found greedily as Nallapati et al.
(2017) label their training data: start from nothing, add the sentence that raises

    score(S) = ROUGE-1 F1(S, summary) + ROUGE-2 F1(S, summary)

the most, and stop when no sentence raises it. (Greedy, so not always the best subset; it
is what "oracle" means in the extractive papers, and no extractor that picks sentences
from this document can score far above it.)
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.recipes.rouge import ngram_f1, ngrams


def lead(num_sentences: int, k: int) -> list[int]:
    """The first ``k`` sentence indices of a document of ``num_sentences`` (all of them if it is shorter)."""
    if k < 1:
        raise ValueError(f"lead: k must be at least 1, got {k}.")
    return list(range(min(k, num_sentences)))


def oracle_score(chosen: Sequence[int], sentences: Sequence[Sequence[str]], reference: Sequence[str]) -> float:
    """ROUGE-1 F1 + ROUGE-2 F1 (each 0..1) of the chosen sentences, joined in document order, against ``reference``."""
    toks = [t for i in sorted(chosen) for t in sentences[i]]
    return sum(ngram_f1(ngrams(toks, n), ngrams(reference, n)) for n in (1, 2))


def greedy_oracle(sentences: Sequence[Sequence[str]], reference: Sequence[str],
                  max_sentences: int | None = None) -> list[int]:
    """Sentence indices (sorted) picked greedily to maximise ``oracle_score``; the inputs are ROUGE tokens
    (``rnnkit.recipes.rouge.tokens``) of each sentence and of the human summary."""
    chosen: list[int] = []
    best = 0.0
    limit = len(sentences) if max_sentences is None else max_sentences
    while len(chosen) < limit:
        gains = {j: oracle_score([*chosen, j], sentences, reference) for j in range(len(sentences)) if j not in chosen}
        if not gains:
            break
        j, score = max(gains.items(), key=lambda kv: (kv[1], -kv[0]))  # ties: the earlier sentence
        if score <= best:
            break
        chosen.append(j)
        best = score
    return sorted(chosen)
