"""The chatbot's baselines: a word-bigram model of responses and TF-IDF retrieval.

Bigram with add-k smoothing (Jurafsky & Martin, ch. 3), over the model's vocabulary and tokens
(unknown words as <unk>, each response closed by the end token):

    p(w | v) = (c(v, w) + k) / (c(v) + k |O|)        O: the tokens a response can hold (words, <unk>, end)

with v = <bos> before the first word; k is chosen on the validation responses.

TF-IDF retrieval (scikit-learn's TfidfVectorizer, fit on the training contexts and responses,
rows L2-normalised, so a dot product is a cosine):
    - ranking: a candidate response scores cos(tfidf(context), tfidf(candidate));
    - replying: the training response whose context is nearest to the query's context by cosine.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class BigramLM:
    """Add-k bigram model of token sequences; ``outcomes`` is the size of O in p(w | v)."""

    def __init__(self, sequences: Sequence[Sequence[str]], bos: str, eos: str, outcomes: int, k: float = 1.0) -> None:
        if not k > 0:
            raise ValueError(f"BigramLM: k must be > 0 (add-k smoothing), got {k!r}.")
        self.bos, self.eos, self.outcomes, self.k = bos, eos, outcomes, k
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.history: Counter[str] = Counter()
        for seq in sequences:
            path = [bos, *seq, eos]
            self.pairs.update(zip(path[:-1], path[1:], strict=True))
            self.history.update(path[:-1])

    def log_prob(self, sequence: Sequence[str]) -> tuple[float, int]:
        """log p(sequence, then the end token) and the number of tokens predicted (len + 1)."""
        path = [self.bos, *sequence, self.eos]
        total = 0.0
        for v, w in zip(path[:-1], path[1:], strict=True):
            total += math.log((self.pairs[v, w] + self.k) / (self.history[v] + self.k * self.outcomes))
        return total, len(path) - 1

    def corpus_log_prob(self, sequences: Sequence[Sequence[str]]) -> tuple[float, int]:
        """Summed log-probability and token count over ``sequences``."""
        scores = [self.log_prob(s) for s in sequences]
        return sum(s for s, _ in scores), sum(n for _, n in scores)

    def with_k(self, k: float) -> BigramLM:
        """The same counts with another k."""
        if not k > 0:
            raise ValueError(f"BigramLM: k must be > 0 (add-k smoothing), got {k!r}.")
        other = object.__new__(BigramLM)
        other.__dict__.update(self.__dict__, k=k)
        return other


class TfidfRetrieval:
    """TF-IDF vectors of texts; ranks candidate responses and retrieves replies from training pairs."""

    def __init__(self, contexts: Sequence[str], responses: Sequence[str],
                 tokenizer: Callable[[str], list[str]]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(tokenizer=tokenizer, lowercase=False, token_pattern=None)
        self.vectorizer.fit([*contexts, *responses])
        self.contexts = self.vectorizer.transform(contexts)  # (N, F) sparse, rows of unit length
        self.responses = list(responses)

    def similarity(self, queries: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        """cos(query_i, candidate_i) for aligned lists: (N,)."""
        q, c = self.vectorizer.transform(queries), self.vectorizer.transform(candidates)
        return np.asarray(q.multiply(c).sum(axis=1)).ravel()

    def reply(self, queries: Sequence[str], chunk: int = 200) -> list[str]:
        """For each query context, the training response of the most similar training context."""
        out: list[str] = []
        for i in range(0, len(queries), chunk):
            sims: Any = self.vectorizer.transform(queries[i : i + chunk]) @ self.contexts.T  # (n, N) sparse
            best = np.asarray(sims.argmax(axis=1)).ravel()
            out.extend(self.responses[j] for j in best)
        return out
