"""Beam search over any one-step decoder, batched over sentences.

Each sentence keeps ``beam_width`` live prefixes. At every step each prefix is extended by
every token, and the best extensions survive:

    logp(y_1..y_t) = logp(y_1..y_{t-1}) + log softmax(step(y_{t-1}))[y_t]      (1)
    score(y) = logp(y) / |y| ** length_penalty                                  (2)

(2) ranks finished hypotheses; with length_penalty = 0 it is the plain log-probability,
which favours short outputs, and 1 averages per token (Wu et al., 2016 use a variant).
A hypothesis finishes when it emits the end token among the sentence's top ``beam_width``
candidates; a sentence is done once it has ``beam_width`` finished hypotheses (exact for
length_penalty = 0, since live prefixes can only lose probability), or at ``max_length``,
where unfinished prefixes join the list. With length_penalty > 0 a longer prefix may still
overtake them, so the sentence also waits until no live prefix can: the best a prefix can
reach is logp / max_length ** length_penalty (its log-probability only falls, its length grows). With beam_width = 1
this is greedy decoding.

n-gram repeat blocking (``no_repeat_ngram`` = n > 0; Paulus et al., 2018): a prefix may not
extend with a token that would complete an n-gram it already holds, so

    logp(y_t | y_<t) = -inf  if (y_{t-n+1}, ..., y_t) occurs in y_1..y_{t-1}                (3)

which stops the loops ("i do n't know i do n't know ...") that beam search favours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.models.decoding import StepFn

# select(state, index (N,)) -> state with its batch rows picked by index (to follow the surviving beams)
SelectFn = Callable[[Any, Tensor], Any]


@dataclass
class Hypothesis:
    """One decoded output: tokens (ending with the end token if ``finished``) and its scores."""

    tokens: list[int]
    score: float  # (2), the ranking score
    log_prob: float  # (1), the sum of the tokens' log-probabilities
    finished: bool  # False when max_length cut it off


def beam_search(
    step: StepFn, select: SelectFn, state: Any, batch_size: int, bos_id: int, eos_id: int, beam_width: int = 5,
    max_length: int = 50, length_penalty: float = 0.0, n_best: int = 1, device: torch.device | None = None,
    no_repeat_ngram: int = 0,
) -> list[list[Hypothesis]]:
    """The ``n_best`` hypotheses of each sentence, best first.

    ``state`` holds B rows (one per sentence); ``select`` picks rows of it. ``no_repeat_ngram``: n of (3),
    0 = no blocking. Returns B lists.
    """
    for key, value in (("beam_width", beam_width), ("max_length", max_length), ("n_best", n_best)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"beam_search: {key} must be a positive integer, got {value!r}.")
    if isinstance(no_repeat_ngram, bool) or not isinstance(no_repeat_ngram, int) or no_repeat_ngram < 0:
        raise ValueError(f"beam_search: no_repeat_ngram must be an integer >= 0 (0 = off), got {no_repeat_ngram!r}.")
    if n_best > beam_width:
        raise ValueError(f"beam_search: n_best={n_best} exceeds beam_width={beam_width}; a beam keeps at most that "
                         "many.")
    B, K = batch_size, beam_width
    state = select(state, torch.arange(B, device=device).repeat_interleave(K))  # B*K rows, beams of a sentence adjacent
    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=device)  # (B*K,)
    history = torch.empty(B * K, 0, dtype=torch.long, device=device)  # (B*K, t)
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # at first all beams hold the same prefix: let only one of them expand
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B

    def normalised(log_prob: float, length: int) -> float:
        return log_prob / length**length_penalty  # (2)

    def settled(hyps: list[Hypothesis], best_live: float) -> bool:  # K finished, and none of the live can beat them
        if len(hyps) < K:
            return False
        return length_penalty == 0 or sorted(h.score for h in hyps)[-K] >= normalised(best_live, max_length)

    for t in range(max_length):
        logits, state = step(tokens, state)  # (B*K, V)
        V = logits.size(-1)
        logp = torch.log_softmax(logits.float(), dim=-1)  # (B*K, V)
        if no_repeat_ngram:
            logp = block_repeats(logp, history, no_repeat_ngram)  # (3)
        logp = logp.view(B, K, V)
        candidates = (scores.unsqueeze(2) + logp).view(B, K * V)  # (B, K*V)  # (1)
        top_scores, top_index = candidates.topk(min(2 * K, K * V), dim=1)  # 2K: enough to keep K live after K ends
        top_beam, top_token = (top_index // V).tolist(), (top_index % V).tolist()
        top_list = top_scores.tolist()
        new_scores = torch.full((B, K), float("-inf"), device=device)
        new_beam = torch.zeros(B, K, dtype=torch.long)
        new_token = torch.full((B, K), eos_id, dtype=torch.long)
        for b in range(B):
            if done[b]:
                continue
            live = 0
            for rank, s in enumerate(top_list[b]):
                if s == float("-inf") or live == K:
                    break
                k, v = top_beam[b][rank], top_token[b][rank]
                if v == eos_id:
                    if rank < K:  # an ending counts only if it is among the sentence's K best candidates
                        seq = history[b * K + k].tolist() + [eos_id]
                        finished[b].append(Hypothesis(seq, normalised(s, t + 1), s, True))
                    continue
                new_scores[b, live], new_beam[b, live], new_token[b, live] = s, k, v
                live += 1
            done[b] = live == 0 or settled(finished[b], new_scores[b, :live].max().item())
        if all(done):
            break
        rows = (torch.arange(B).unsqueeze(1) * K + new_beam).view(-1).to(tokens.device)  # (B*K,) surviving parents
        state = select(state, rows)
        tokens = new_token.view(-1).to(tokens.device)
        history = torch.cat([history.index_select(0, rows), tokens.unsqueeze(1)], dim=1)  # (B*K, t+1)
        scores = new_scores
    else:
        # max_length reached: the live prefixes compete with the finished ones, unfinished
        for b in range(B):
            for k in range(K):
                s = float(scores[b, k])
                if not done[b] and s != float("-inf"):
                    finished[b].append(Hypothesis(history[b * K + k].tolist(), normalised(s, history.size(1)), s,
                                                  False))
    return [sorted(hyps, key=lambda h: h.score, reverse=True)[:n_best] for hyps in finished]


def repeat_bans(prefix: list[int], n: int) -> set[int]:
    """The tokens that would complete an n-gram already in ``prefix`` (3): those that followed an
    earlier occurrence of its last n - 1 tokens (for n = 1, every token it holds)."""
    if len(prefix) < n - 1:
        return set()
    tail = prefix[len(prefix) - n + 1 :] if n > 1 else []
    return {prefix[i + n - 1] for i in range(len(prefix) - n + 1) if prefix[i : i + n - 1] == tail}


def block_repeats(logp: Tensor, history: Tensor, n: int) -> Tensor:
    """``logp`` (N, V) with -inf on each row's repeat_bans of its prefix ``history`` (N, t)."""
    rows: list[int] = []
    cols: list[int] = []
    for r, prefix in enumerate(history.tolist()):
        banned = repeat_bans(prefix, n)
        rows.extend([r] * len(banned))
        cols.extend(banned)
    if not rows:
        return logp
    return logp.index_put((torch.tensor(rows, device=logp.device), torch.tensor(cols, device=logp.device)),
                          torch.tensor(float("-inf"), device=logp.device))
