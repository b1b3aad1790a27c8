"""Choosing the next token: greedy argmax, or sampling with temperature, top-k and top-p filters.

    p = softmax(logits / temperature)                          sharper below 1, flatter above 1
    top-k: keep the k largest logits                           (Fan et al., 2018)
    top-p: keep the smallest set whose probability >= p        nucleus sampling (Holtzman et al., 2020)

``generate_tokens`` runs any one-step decoder (a function ``step(tokens, state) -> (logits,
state)``) until every sequence has emitted the end token or reached ``max_length``;
one-to-many and seq2seq both use it. ``decode_steps`` is the same loop as an iterator, for
callers that show each token as soon as it is chosen (the chatbot streams its replies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

# step(previous tokens (N,), state) -> (logits (N, V), next state)
StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


def check_sampling(name: str, temperature: float, top_k: int | None, top_p: float | None, max_length: int) -> None:
    if not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature!r}; use greedy=True for argmax decoding.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"{name}: top_k must be a positive integer or None, got {top_k!r}.")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"{name}: top_p must be in (0, 1] or None, got {top_p!r}.")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"{name}: max_length must be a positive integer, got {max_length!r}.")


def filter_logits(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> Tensor:
    """Scale by temperature and set every filtered-out logit to -inf. (N, V) -> (N, V)."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (N, 1): the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (N, V)
        probs = sorted_logits.softmax(-1)
        # drop a token when the tokens ranked above it already reach p; the top token always stays
        drop_sorted = probs.cumsum(-1) - probs >= top_p  # (N, V)
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def next_token(
    logits: Tensor, greedy: bool = True, temperature: float = 1.0, top_k: int | None = None,
    top_p: float | None = None, generator: torch.Generator | None = None,
) -> Tensor:
    """One token per row: argmax, or a draw from the filtered distribution. (N, V) -> (N,)."""
    if greedy:
        return logits.argmax(-1)
    probs = filter_logits(logits, temperature, top_k, top_p).softmax(-1)  # (N, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def decode_steps(
    step: StepFn, state: Any, batch_size: int, bos_id: int, eos_id: int, max_length: int, device: torch.device,
    greedy: bool = True, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Decode step by step from ``bos_id``, yielding each step's tokens (B,) and logits (B, V) as they are
    chosen (to stream them); rows that have ended repeat ``eos_id``. Stops once every row has ended, or
    after ``max_length`` steps."""
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)  # (B,)
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)  # (B,)
    for _ in range(max_length):
        # run the decoder one step on the previous token
        logits, state = step(tokens, state)  # (B, V)
        # choose, then keep finished sequences on the end token
        tokens = next_token(logits, greedy, temperature, top_k, top_p, generator).masked_fill(done, eos_id)
        yield tokens, logits
        done = done | (tokens == eos_id)
        if bool(done.all()):
            return


def generate_tokens(
    step: StepFn, state: Any, batch_size: int, bos_id: int, eos_id: int, max_length: int, device: torch.device,
    greedy: bool = True, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Decode step by step from ``bos_id`` (``decode_steps``, collected).

    Returns tokens (B, T) (eos_id after each sequence's end), lengths (B,) counting the
    end token when one was emitted, and the logits of each step (B, T, V).
    """
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)  # (B,)
    lengths = torch.full((batch_size,), max_length, dtype=torch.long, device=device)
    out, all_logits = [], []
    steps = decode_steps(step, state, batch_size, bos_id, eos_id, max_length, device, greedy, temperature, top_k, top_p,
                         generator)
    for t, (tokens, logits) in enumerate(steps):
        out.append(tokens)
        all_logits.append(logits)
        ended = (tokens == eos_id) & ~done
        lengths = torch.where(ended, torch.full_like(lengths, t + 1), lengths)
        done = done | ended
    return torch.stack(out, 1), lengths, torch.stack(all_logits, 1)
