"""Linear-chain conditional random field over per-token emission scores (Lafferty et al., 2001).

For emissions e (B, T, K) from an encoder and a tag path y_1..y_n (n a sequence's length):

    score(y) = s_{y_1} + sum_{t=1..n} e_t[y_t] + sum_{t=2..n} A[y_{t-1}, y_t] + z_{y_n}      (1)
    log Z = log sum_{all paths y} exp score(y)                                             (2)
    alpha_1 = s + e_1;  alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + A[i, j]) + e_t[j]         (3)  forward algorithm
    log Z = logsumexp_j(alpha_n[j] + z_j)                                                  (4)
    -log p(y | x) = log Z - score(y)                                                       (5)
    delta_t[j] = max_i(delta_{t-1}[i] + A[i, j]) + e_t[j], with back-pointers              (6)  Viterbi

s and z are start and end scores, A[i, j] the score of tag j following tag i. Past a
sequence's length, alpha and delta are carried unchanged, so padding never counts.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CRF(nn.Module):
    """Transition, start and end scores for K tags; log-likelihood and Viterbi decoding.

    Shapes: emissions (B, T, K); tags (B, T) ids; mask (B, T) bool, True on real tokens,
    each row a prefix of Trues (at least one).
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        if isinstance(num_tags, bool) or not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"CRF: num_tags must be a positive integer, got {num_tags!r}.")
        self.num_tags = num_tags
        # small random scores rather than zeros, so that tests see non-trivial transitions from the start
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))  # A[i, j]: i -> j
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # s
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # z

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """score(y) of the given paths, (B,)  # (1)"""
        B, T, _ = emissions.shape
        m = mask.to(emissions.dtype)  # (B, T)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T): e_t[y_t]
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1): A[y_{t-1}, y_t]
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)  # (B,): y_n
        return self.start[tags[:, 0]] + (emit * m).sum(1) + (trans * m[:, 1:]).sum(1) + self.end[last]

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Z by the forward algorithm, (B,)  # (2)-(4)"""
        alpha = self.start + emissions[:, 0]  # (B, K)  # (3), t = 1
        for t in range(1, emissions.size(1)):
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1) + emissions[:, t]  # (B, K)  # (3)
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)  # padding carries alpha unchanged
        return torch.logsumexp(alpha + self.end, dim=1)  # (B,)  # (4)

    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Negative log-likelihood of each path, (B,)  # (5)"""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    def viterbi(self, emissions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The best path and its score: tags (B, T) (-1 past each length), scores (B,)  # (6)"""
        B, T, K = emissions.shape
        delta = self.start + emissions[:, 0]  # (B, K)
        pointers = []
        for t in range(1, T):
            best, arg = (delta.unsqueeze(2) + self.transitions).max(dim=1)  # (B, K): best previous tag for each j
            alive = mask[:, t].unsqueeze(1)  # (B, 1)
            delta = torch.where(alive, best + emissions[:, t], delta)
            # on padding, point each tag at itself, so backtracking walks through unchanged
            pointers.append(torch.where(alive, arg, torch.arange(K, device=arg.device).expand(B, K)))
        scores, tag = (delta + self.end).max(dim=1)  # (B,), (B,)
        path = [tag]
        for arg in reversed(pointers):
            tag = arg.gather(1, tag.unsqueeze(1)).squeeze(1)  # (B,)
            path.append(tag)
        tags = torch.stack(path[::-1], dim=1)  # (B, T)
        return tags.masked_fill(~mask, -1), scores
