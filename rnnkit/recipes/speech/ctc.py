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

The forward recursion computes p(y | x) of one labelling exactly. Over y' = (-, y_1, -, y_2, ..., -, y_U, -),
S = 2U + 1 states, alpha_t(s) is the probability of the alignments of frames 1..t that end in state s:

    alpha_1(0) = p_1(-),  alpha_1(1) = p_1(y_1)                                                       (1)
    alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [y'_s != y'_{s-2}] alpha_{t-1}(s-2)) p_t(y'_s)  (2)
    p(y | x)   = alpha_T(S-1) + alpha_T(S-2)                                                          (3)

(the jump over s-1 is allowed only into a label that differs from the one before: a blank must separate a repeat).
Models trained apart do not put their spikes on the same frames, so an ensemble is combined by strings, not frames:
the candidates Y are each member's best labellings, and the pick is the one all members find most probable,

    y* = argmax_{y in Y} sum_m log p_m(y | x)                                                         (4)

each p_m(y | x) from (1)-(3) over that member's own alignments.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
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


def log_likelihoods(log_probs: Tensor, labellings: Sequence[Sequence[int]], blank: int = BLANK) -> Tensor:
    """log p(y | x) of each labelling under (T, V) log probabilities, by the forward recursion (1)-(3).

    The N labellings run side by side, their extended labellings padded with blanks to the longest: a padded
    state only receives from the states before it, so each labelling's own states, and its answer, stay exact.
    Returns (N,) float64; -inf for a labelling too long for T frames.
    """
    if log_probs.dim() != 2:
        raise ValueError(f"log_likelihoods: expected (T, V) log probabilities, got {tuple(log_probs.shape)}.")
    if not labellings:
        return torch.empty(0, dtype=torch.float64)
    T, V = log_probs.shape
    lp = log_probs.double()
    N, S = len(labellings), 2 * max(len(y) for y in labellings) + 1
    ext = torch.full((N, S), blank, dtype=torch.long)  # y' per labelling, (N, S)
    skip = torch.zeros(N, S, dtype=torch.bool)  # where (2) may jump over s-1
    for n, y in enumerate(labellings):
        if any(not 0 <= c < V or c == blank for c in y):
            raise ValueError(f"log_likelihoods: labelling {n} is {list(y)}; labels must be in 0..{V - 1} and not "
                             f"the blank ({blank}).")
        ext[n, 1 : 2 * len(y) : 2] = torch.tensor(list(y), dtype=torch.long)
        skip[n, 3 : 2 * len(y) : 2] = torch.tensor([a != b for a, b in zip(y[1:], y[:-1], strict=True)],
                                                   dtype=torch.bool)
    emit = lp[:, ext]  # (T, N, S): p_t(y'_s)
    alpha = torch.full((N, S), -math.inf, dtype=torch.float64)
    alpha[:, :2] = emit[0, :, :2]  # (1)
    for t in range(1, T):
        one = F.pad(alpha, (1, 0), value=-math.inf)[:, :S]  # alpha_{t-1}(s-1)
        two = torch.where(skip, F.pad(alpha, (2, 0), value=-math.inf)[:, :S], -math.inf)  # alpha_{t-1}(s-2)
        alpha = torch.logsumexp(torch.stack([alpha, one, two]), dim=0) + emit[t]  # (2), (N, S)
    ends = torch.tensor([2 * len(y) for y in labellings])  # S-1 of each labelling
    last = alpha.gather(1, ends[:, None])[:, 0]
    before = alpha.gather(1, (ends - 1).clamp(min=0)[:, None])[:, 0]
    before = torch.where(ends > 0, before, -math.inf)  # the empty labelling has one state
    return torch.logaddexp(last, before)  # (3), (N,)


def candidates(log_probs: Tensor, beam: int = 1, n_best: int = 4, blank: int = BLANK) -> list[tuple[int, ...]]:
    """A model's best labellings: the greedy one for ``beam`` <= 1, else the ``n_best`` best of the prefix beam."""
    if beam <= 1:
        return [tuple(greedy(log_probs, blank))]
    return [y for y, _ in prefix_beam_search(log_probs, beam, blank)[:n_best]]


def rescore(member_log_probs: Sequence[Tensor], labellings: Sequence[Sequence[int]],
            blank: int = BLANK) -> list[tuple[tuple[int, ...], float]]:
    """Each distinct labelling with sum_m log p_m(y | x) over the members' (T, V) log probabilities, best first (4)."""
    distinct = list(dict.fromkeys(tuple(y) for y in labellings))  # in order, so ties go to the first candidate
    total = torch.stack([log_likelihoods(lp, distinct, blank) for lp in member_log_probs]).sum(0)  # (N,)
    return sorted(zip(distinct, total.tolist(), strict=True), key=lambda kv: kv[1], reverse=True)


def decode_strings(member_log_probs: Sequence[Tensor], beam: int = 1, n_best: int = 4,
                   blank: int = BLANK) -> list[int]:
    """An ensemble's labelling (4): the candidates of every member (``candidates``), rescored by all of them."""
    if not member_log_probs:
        raise ValueError("decode_strings: no members' log probabilities; pass one (T, V) tensor per member.")
    pool = [y for lp in member_log_probs for y in candidates(lp, beam, n_best, blank)]
    return list(rescore(member_log_probs, pool, blank)[0][0])
