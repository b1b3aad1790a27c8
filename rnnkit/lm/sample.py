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
    # warm the state on all but the prime's last character in one sequence call (the fast kernel)
    # (a minGRU/minLSTM has no recurrent product for the Stepper to fuse: MinStepper calls its step())
    rnn = model.rnn
    stepper = MinStepper(rnn) if isinstance(rnn, MinRecurrentBase) else Stepper(rnn, batch_size=1, products=products)
    if len(ids) > 1:
        model(torch.tensor([ids[:-1]], device=device))
        stepper.reset(model.final_state)
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
