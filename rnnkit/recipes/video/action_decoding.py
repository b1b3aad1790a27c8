"""Reading per-frame action sets off the recogniser's scores: the best sequence of sets, with a price on each change.

A frame shows one action per digit, so at most two: its label is one of the K = A + A(A-1)/2
sets of one or two actions (45 for A = 9). Each set k (a multi-hot row S_k) scores, from the
frame's independent per-action logits l_t,

    e_t[k] = sum_a S_k[a] log sigmoid(l_t[a]) + (1 - S_k[a]) log sigmoid(-l_t[a])      (1)  log p(set k | frame t)

and a clip's sets y_1..y_T are chosen to maximise

    sum_t e_t[y_t] - lambda * #{t : y_t != y_{t-1}}                                     (2)

by Viterbi (``rnnkit.models.crf.CRF.viterbi`` with transitions 0 on the diagonal, -lambda off it).
Actions last at least 4 frames (clips.make_actor's min_segment), so a set that flickers for a
frame or two is more likely a misreading than a change; lambda = 0 is the likeliest set of each
frame on its own (never an empty set, never three actions).

Chosen on the validation clips of the defaults' run (commit message and docs/results.md):
per-frame accuracy 95.4% reading each action over 0.5, 95.7% with lambda = 0, 96.2% with 2.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.models.crf import CRF


def action_sets(actions: int) -> Tensor:
    """(K, A) bool: every set of one action, then every pair, in a fixed order."""
    sets = [(a,) for a in range(actions)] + list(itertools.combinations(range(actions), 2))
    out = torch.zeros(len(sets), actions, dtype=torch.bool)
    for k, members in enumerate(sets):
        out[k, list(members)] = True
    return out


def set_scores(logits: Tensor, sets: Tensor) -> Tensor:
    """(B, T, A) per-action logits -> (B, T, K) log probabilities of each set, (1)."""
    s = sets.to(logits.dtype)  # (K, A)
    return F.logsigmoid(logits) @ s.T + F.logsigmoid(-logits) @ (1 - s).T  # (B, T, K)


def decode_sets(logits: Tensor, mask: Tensor, switch_penalty: float) -> Tensor:
    """The best action sets of each clip under (2): (B, T, A) bool, all False past each length.

    Shapes: logits (B, T, A); mask (B, T) bool, True on real frames, each row a prefix of Trues.
    """
    if switch_penalty < 0:
        raise ValueError(f"decode_sets: switch_penalty must be >= 0 (0: each frame on its own), got {switch_penalty}.")
    sets = action_sets(logits.shape[2]).to(logits.device)  # (K, A)
    K = sets.shape[0]
    chain = CRF(K).to(logits.device)
    with torch.no_grad():
        chain.transitions.copy_(-switch_penalty * (1 - torch.eye(K, device=logits.device)))  # a change costs lambda
        chain.start.zero_()
        chain.end.zero_()
        path, _ = chain.viterbi(set_scores(logits.float(), sets), mask)  # (B, T), -1 past each length
    return sets[path.clamp(min=0)] & mask.unsqueeze(2)  # (B, T, A)
