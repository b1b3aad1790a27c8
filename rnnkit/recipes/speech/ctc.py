"""Decoding CTC outputs (Graves et al., 2006): frame-level label probabilities to a label sequence.

The network emits, at each of T frames, a distribution over the V labels plus a blank (id 0).
An alignment a_1..a_T maps to a labelling by B: merge repeated labels, then drop blanks
(B(- 3 3 - 3 9 9) = 3 3 9). The probability of a labelling y sums over its alignments:

    p(y | x) = sum over a with B(a) = y of  prod_t p_t(a_t)

Greedy decoding takes B(argmax_t) (the most probable alignment's labelling, not always the most
probable labelling). Prefix beam search keeps, for each prefix, the probability of the
alignments so far that end in a blank (p_b) and in its last label (p_nb), extending the best
``beam`` prefixes frame by frame (Hannun et al., 2014, without a language model); with a beam
as wide as the number of prefixes it computes p(y | x) exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch import Tensor

BLANK = 0


def collapse(alignment: list[int], blank: int = BLANK) -> list[int]:
    """B: merge repeats, then drop blanks."""
    out: list[int] = []
    prev = None
    for a in alignment:
        if a != prev and a != blank:
            out.append(a)
        prev = a
    return out


def greedy(log_probs: Tensor, blank: int = BLANK) -> list[int]:
    """B(argmax over labels at each frame) of (T, V) log probabilities."""
    return collapse(log_probs.argmax(-1).tolist(), blank)


def _logsumexp(*xs: float) -> float:
    top = max(xs)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(x - top) for x in xs))


def prefix_beam_search(log_probs: Tensor, beam: int = 8, blank: int = BLANK) -> list[tuple[tuple[int, ...], float]]:
    """The ``beam`` most probable labellings of (T, V) log probabilities with their log p(y|x), best first.

    p_b(y): alignments of frames 1..t with labelling y ending in blank; p_nb(y): ending in y's last label.
    Per frame and label c: blank keeps y (from both); c equal to y's last label keeps y only from p_nb
    and makes y+c only from p_b (a blank must separate a repeat); any other c makes y+c from both.
    """
    T, V = log_probs.shape
    lp = log_probs.double().tolist()
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (log p_b, log p_nb)
    for t in range(T):
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, pnb) in beams.items():
            for c in range(V):
                p = lp[t][c]
                if c == blank:
                    entry = nxt[prefix]
                    entry[0] = _logsumexp(entry[0], pb + p, pnb + p)
                    continue
                extended = (*prefix, c)
                entry = nxt[extended]
                if prefix and prefix[-1] == c:
                    entry[1] = _logsumexp(entry[1], pb + p)  # a repeat needs a blank between
                    same = nxt[prefix]
                    same[1] = _logsumexp(same[1], pnb + p)  # c c merges into the same labelling
                else:
                    entry[1] = _logsumexp(entry[1], pb + p, pnb + p)
        ranked = sorted(nxt.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)[:beam]
        beams = {prefix: (pb, pnb) for prefix, (pb, pnb) in ranked}
    out = [(prefix, _logsumexp(pb, pnb)) for prefix, (pb, pnb) in beams.items()]
    return sorted(out, key=lambda kv: kv[1], reverse=True)


def decode(log_probs: Tensor, beam: int = 1, blank: int = BLANK) -> list[int]:
    """Greedy decoding for ``beam`` <= 1, else the best labelling of the prefix beam search."""
    if beam <= 1:
        return greedy(log_probs, blank)
    return list(prefix_beam_search(log_probs, beam, blank)[0][0])


def frame_posteriors(log_probs: Tensor) -> Tensor:
    """(T, V) probabilities, for pictures."""
    return torch.exp(log_probs)
