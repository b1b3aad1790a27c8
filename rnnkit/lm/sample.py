"""Generating text from a CharLM, one character at a time, on the batch-1 fast path."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnkit.layers.min_rnn import MinRecurrentBase, MinStepper
from rnnkit.layers.stepper import Stepper
from rnnkit.lm.char_lm import CharLM
from rnnkit.models.decoding import filter_logits


def next_char_distribution(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                           top_p: float | None = None) -> Tensor:
    """Probabilities (B, V) from logits (B, V): scaled by 1/temperature, then cut to the top-k and the top-p nucleus."""
    if temperature <= 0:
        raise ValueError(f"sample: temperature must be positive (or use greedy=True), got {temperature!r}.")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample: top_k must be at least 1, got {top_k!r}.")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"sample: top_p must be in (0, 1], got {top_p!r}.")
    return filter_logits(logits, temperature, top_k, top_p).softmax(-1)  # (B, V): rnnkit's one logits filter


STEPPED_PRIME = 32  # a prime of at most this many characters (before its last) is stepped, a longer one read at once


def warm_up(model: CharLM, stepper: Stepper | MinStepper, ids: list[int]) -> None:
    """Leave in the batch-1 ``stepper`` the state after reading ``ids`` (a prime without its last character).

    A sequence call pays a fixed cost: oneDNN's LSTM (``aten::mkldnn_rnn_layer``) took about 7 ms a
    call for a 2 x 512 LSTM, whatever the length, against 0.4 ms per stepped character (one thread,
    the busy 2-core Zen 4 machine). So a prime of up to ``STEPPED_PRIME`` characters is stepped, a
    longer one is read in one call (the fast kernel). ``rnnkit serve`` follows the same rule (it
    steps a short prime in its batch).
    """
    device = model.embedding.weight.device
    if len(ids) > STEPPED_PRIME:
        model(torch.tensor([ids], device=device))
        stepper.reset(model.final_state)
        return
    stepper.reset()
    for i in ids:
        stepper.step(model.embedding(torch.tensor([i], device=device)))  # (1, H)


def draw_rows(probs: Tensor, generators: list[torch.Generator], noise: Tensor | None = None) -> list[int]:
    """One draw per row, row r with its own generator: what ``torch.multinomial(probs[r:r+1], 1, generator=g_r)``
    gives, with the division and the argmax done once for all rows.

    For one sample PyTorch draws by the exponential race (aten/src/ATen/native/Distributions.cpp):
    ``argmax(p / q)`` with ``q ~ Exp(1)`` per entry, which picks index k with probability p_k. Only q
    needs a row's own generator (one call each); so a row's draw, and its generator's next state,
    are the same alone, beside any other rows, and in ``sample()``.

    Args:
        probs: (R, V) rows of probabilities. generators: R generators. noise: an (R', V) buffer to reuse, R' >= R.
    """
    R, V = probs.shape
    if len(generators) != R:
        raise ValueError(f"draw_rows: {R} rows of probabilities but {len(generators)} generators; give one per row.")
    q = torch.empty_like(probs) if noise is None else noise[:R]  # (R, V)
    for row, generator in zip(q.unbind(0), generators, strict=True):
        row.exponential_(generator=generator)  # what multinomial draws for that row alone
    return torch.div(probs, q, out=q).argmax(-1).tolist()  # (R,): argmax over V of p / q


@torch.no_grad()
def sample(
    model: CharLM,
    prime: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    greedy: bool = False,
    skip_unknown: bool = False,
    on_text: Callable[[str], None] | None = None,
    products: torch.dtype | None = None,
) -> str:
    """Continue ``prime`` by ``length`` characters and return them (without the prime).

    ``greedy`` takes the most likely character at every step (the limit temperature -> 0);
    ``skip_unknown`` drops prime characters outside the vocabulary instead of raising;
    ``on_text`` receives each character as soon as it exists (for streaming to a terminal);
    ``products=torch.bfloat16`` runs the Stepper's weight products in bf16 (where the CPU has bf16 hardware:
    ``rnnkit.utils.precision``), the state and the gate math staying in float32.
    """
    if model.vocab is None:
        raise ValueError("sample: the model has no vocabulary; build it as CharLM(config, vocab) or use load_model().")
    if length < 0:
        raise ValueError(f"sample: length must be >= 0, got {length!r}.")
    vocab, device = model.vocab, model.head.weight.device
    model.eval()
    # encode the prime; an empty prime starts from the first character of the vocabulary (usually "\n")
    ids = vocab.encode(prime, skip_unknown=skip_unknown) or [vocab.index.get("\n", 0)]
    # warm the state on all but the prime's last character (stepped if short, else one sequence call)
    # (a minGRU/minLSTM has no recurrent product for the Stepper to fuse: MinStepper calls its step())
    rnn = model.rnn
    stepper = MinStepper(rnn) if isinstance(rnn, MinRecurrentBase) else Stepper(rnn, batch_size=1, products=products)
    warm_up(model, stepper, ids[:-1])
    current = torch.tensor([ids[-1]], device=device)  # (1,)
    out: list[str] = []
    for _ in range(length):
        # one step: embed the current character, advance the recurrent state, score every next character
        h = stepper.step(model.embedding(current))  # (1, H)
        logits = model.head(h)  # (1, V)
        # pick: the argmax, or a draw from the tempered, truncated distribution
        if greedy:
            current = logits.argmax(-1)  # (1,)
        else:
            probs = next_char_distribution(logits, temperature, top_k, top_p)
            current = torch.multinomial(probs, 1, generator=generator)[:, 0]  # (1,)
        char = vocab.chars[int(current)]
        out.append(char)
        if on_text is not None:
            on_text(char)
    return "".join(out)
