"""Attention over the encoder's outputs: additive (Bahdanau) and multiplicative (Luong) scores.

For a decoder state q_t (the query) and encoder outputs k_1..k_S (the keys, also the values):

    additive:  score(q, k) = v . tanh(W_q q + W_k k)        (1)  Bahdanau et al., 2015
    dot:       score(q, k) = q . k                          (2)  Luong et al., 2015
    general:   score(q, k) = q . (W k)                      (3)  Luong et al., 2015
    alpha_t = softmax_s(score(q_t, k_s)), padding masked     (4)
    context_t = sum_s alpha_ts k_s                          (5)

Padded source positions get a score of -inf, so their weight is exactly zero. With ``coverage``
(additive scores only), each key's score also sees how much attention it has had so far,
cov_s = sum_{t' < t} alpha_t's (See et al., 2017), so the decoder can learn not to attend twice:

    score(q, k_s, cov_s) = v . tanh(W_q q + W_k k_s + w_c cov_s)         (6)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

KINDS = ("additive", "dot", "general")


class Attention(nn.Module):
    """Scores, weights and context for all decoder steps at once.

    Shapes:
        query (B, T_out, Q); keys (B, T_in, K); mask (B, T_in) bool, True on real positions;
        coverage (B, T_out, T_in), each query's coverage vector (6), only with ``coverage=True``;
        projected: ``project(keys)``, to pass when attending one step at a time over the same keys.
    Returns:
        context (B, T_out, K), weights (B, T_out, T_in) whose rows sum to 1.
    """

    def __init__(self, kind: str, query_size: int, key_size: int, attention_size: int | None = None,
                 coverage: bool = False) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"Attention: kind must be one of {KINDS}, got {kind!r}.")
        if coverage and kind != "additive":
            raise ValueError(f"Attention: coverage enters the additive score (6); use kind='additive', not {kind!r}.")
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"Attention: dot scores need query_size == key_size, got {query_size} and {key_size}; "
                "use kind='general', which learns the map between them."
            )
        self.kind = kind
        A = attention_size or query_size
        if kind == "additive":
            self.w_query = nn.Linear(query_size, A, bias=False)
            self.w_key = nn.Linear(key_size, A)
            self.v = nn.Linear(A, 1, bias=False)
            self.w_coverage = nn.Linear(1, A, bias=False) if coverage else None
        elif kind == "general":
            self.w_key = nn.Linear(key_size, query_size, bias=False)

    def project(self, keys: Tensor) -> Tensor:
        """The keys as the scores use them: W_k k (additive), W k (general), k (dot)."""
        return keys if self.kind == "dot" else self.w_key(keys)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor, coverage: Tensor | None = None,
                projected: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if (coverage is not None) != (self.kind == "additive" and self.w_coverage is not None):
            raise ValueError("Attention: pass coverage exactly when the module was built with coverage=True.")
        k_proj = self.project(keys) if projected is None else projected  # (B, T_in, A) or (B, T_in, Q)
        if self.kind == "additive":
            q = self.w_query(query).unsqueeze(2)  # (B, T_out, 1, A)
            k = k_proj.unsqueeze(1)  # (B, 1, T_in, A)
            if coverage is not None and self.w_coverage is not None:
                k = k + self.w_coverage(coverage.unsqueeze(3))  # (B, T_out, T_in, A)  # (6)
            scores = self.v(torch.tanh(q + k)).squeeze(3)  # (B, T_out, T_in)  # (1)
        else:
            scores = torch.bmm(query, k_proj.transpose(1, 2))  # (B, T_out, T_in)  # (2), (3)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=2)  # (B, T_out, T_in)  # (4)
        return torch.bmm(weights, keys), weights  # (B, T_out, K)  # (5)
