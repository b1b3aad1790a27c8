"""One-to-many: one input vector conditions a generator that emits a sequence.

    u = x                                    the condition: features (B, F), or an embedded id (B, E)
    h_0 = tanh(W_h u)   (and c_0 = W_c u)    the condition initialises the state ...   (init_state)
    z_t = [emb(y_{t-1}); u]                  ... and/or is fed with every token       (feed_condition)
    h_t = RNN(z_t, h_{t-1});  p(y_t | y_<t, u) = softmax(W_o h_t + b_o)

Training uses teacher forcing: the decoder reads the true previous token (y_0 = bos_id).
Targets should end with ``eos_id`` so the model learns to stop; generation (greedy,
sampling with temperature/top-k/top-p, or beam search) runs until that token or max_length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ArgumentValueError
from rnnkit.models.beam import Hypothesis, beam_search
from rnnkit.models.common import (
    InputLayer,
    State,
    check_config,
    check_lengths,
    length_mask,
    make_recurrent,
    recurrent_option,
    select_state,
)
from rnnkit.models.decoding import check_sampling, generate_tokens
from rnnkit.utils.config import option


@dataclass(frozen=True)
class OneToManyConfig:
    """A conditioned sequence generator (captioning, class-to-sequence, seeded melody)."""

    vocab_size: int = field(metadata={"help": "output vocabulary V, including the bos and eos tokens"})
    # None: features
    input_vocab_size: int | None = option(None,
                                          "condition is a class id with this many classes; None for a real (B, F) "
                                          "vector")
    # small: toy conditions
    input_size: int = option(32, "feature size F of the condition, or its embedding size for ids")
    embed_size: int = option(32, "embedding size of the output tokens")  # toy vocabularies need little
    hidden_size: int = option(64, "hidden units of the generator")  # enough to count digits on CPU
    num_layers: int = option(1, "stacked recurrent layers")  # one layer learns the synthetic tasks
    # lstm: keeps the condition over long outputs
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])
    forget_bias: float | None = recurrent_option("forget_bias")  # 1.0: start out remembering
    # off for toy tasks
    dropout: float = option(0.0, "dropout on token embeddings, between layers and before the output")
    recurrent_dropout: float = recurrent_option("recurrent_dropout")  # off: the fused kernels stay usable
    layer_norm: bool = recurrent_option("layer_norm")  # off: plain cells train fine at these sizes
    init_state: bool = option(True, "the condition initialises the hidden state")  # on: the show-and-tell way
    # on: it is never forgotten
    feed_condition: bool = option(True, "the condition is concatenated to every step's input")
    bos_id: int = option(1, "start token fed at the first step")  # 0 is left for padding
    eos_id: int = option(2, "end token that stops generation")  # right after bos
    max_length: int = option(50, "generation stops after this many tokens")  # a safe cap for toy outputs


class OneToMany(nn.Module):
    """Generate a token sequence from one condition.

    Shapes:
        inputs: (B,) condition ids or (B, F) condition features.
        targets: (B, T) output token ids, ending with eos_id; lengths: (B,) true target lengths
        (there is no input time axis, so ``lengths`` describes the targets).
    Returns:
        forward: (logits (B, T, V), mean cross-entropy per real token or None). Without targets
        the logits are those of greedy generation up to max_length.
    """

    def __init__(self, config: OneToManyConfig) -> None:
        super().__init__()
        c = config
        check_config("OneToMany", c, vocab_size=c.vocab_size, input_vocab_size=c.input_vocab_size,
                     input_size=c.input_size, embed_size=c.embed_size, hidden_size=c.hidden_size,
                     num_layers=c.num_layers, cell=c.cell, dropout=c.dropout, recurrent_dropout=c.recurrent_dropout,
                     max_length=c.max_length)
        if not (c.init_state or c.feed_condition):
            raise ArgumentValueError("OneToMany: the condition must reach the generator; set init_state and/or "
                                     "feed_condition.")
        for key in ("bos_id", "eos_id"):
            if not 0 <= getattr(c, key) < c.vocab_size:
                raise ArgumentValueError(f"OneToMany: {key} must be in [0, vocab_size={c.vocab_size}), got "
                                         f"{getattr(c, key)}.")
        self.config = c
        L, H = c.num_layers, c.hidden_size
        self.inputs = InputLayer("OneToMany", c.input_vocab_size, c.input_size)
        self.embedding = nn.Embedding(c.vocab_size, c.embed_size)
        self.init_h = nn.Linear(c.input_size, L * H) if c.init_state else None
        self.init_c = nn.Linear(c.input_size, L * H) if c.init_state and c.cell == "lstm" else None
        step_input = c.embed_size + (c.input_size if c.feed_condition else 0)
        self.rnn = make_recurrent("OneToMany", c.cell, step_input, H, L, c.dropout, False, c.recurrent_dropout,
                                  c.layer_norm, c.forget_bias)
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(H, c.vocab_size)

    def condition(self, inputs: Tensor) -> tuple[Tensor, State]:
        """The condition vector u (B, F) and the generator's initial state (zeros without init_state)."""
        self.inputs.check(inputs, "inputs", 1)
        u = self.inputs(inputs)  # (B, F)
        if self.init_h is None:
            return u, None
        L, B, H = self.config.num_layers, u.size(0), self.config.hidden_size
        h0 = torch.tanh(self.init_h(u)).view(B, L, H).transpose(0, 1).contiguous()  # (L, B, H)
        if self.init_c is None:
            return u, h0
        return u, (h0, self.init_c(u).view(B, L, H).transpose(0, 1).contiguous())  # c_0 (L, B, H)

    def _run(self, u: Tensor, tokens: Tensor, state: State, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        """Teacher-forced decoder over previous tokens (B, T) -> logits (B, T, V), state."""
        z = self.drop(self.embedding(tokens))  # (B, T, E)
        if self.config.feed_condition:
            z = torch.cat([z, u.unsqueeze(1).expand(-1, z.size(1), -1)], dim=2)  # (B, T, E+F)
        h, state = self.rnn(z, state, lengths=lengths)  # (B, T, H)
        return self.out(self.drop(h)), state  # (B, T, V)

    def step(self, tokens: Tensor, carry: tuple[Tensor, State]) -> tuple[Tensor, tuple[Tensor, State]]:
        """One generation step: tokens (B,) and carry (condition, state) from ``condition()`` -> logits (B, V), new
        carry.

        Public so that callers can prime the state with their own tokens before sampling.
        """
        u, state = carry
        logits, state = self._run(u, tokens.unsqueeze(1), state)
        return logits[:, 0], (u, state)  # (B, V)

    def forward(self, inputs: Tensor, targets: Tensor | None = None,
                lengths: Any = None) -> tuple[Tensor, Tensor | None]:
        u, state = self.condition(inputs)
        if targets is None:
            c = self.config
            _, _, logits = generate_tokens(self.step, (u, state), u.size(0), c.bos_id, c.eos_id, c.max_length, u.device)
            return logits, None
        B = u.size(0)
        if not isinstance(targets, Tensor) or targets.dim() != 2 or targets.size(0) != B or targets.is_floating_point():
            got = (f"shape {tuple(targets.shape)}, dtype {targets.dtype}" if isinstance(targets, Tensor)
                   else type(targets).__name__)
            raise ValueError(f"OneToMany: expected targets of shape ({B}, T) with integer token ids, got {got}.")
        T = targets.size(1)
        if T == 0:
            raise ValueError("OneToMany: targets are empty (T = 0); every target needs at least its eos token.")
        lens = check_lengths("OneToMany", lengths, B, T)
        mask = length_mask(lens, T, targets.device)  # (B, T)
        tokens = targets.masked_fill(~mask, self.config.eos_id)  # padding may hold anything; make it a valid id
        if int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size:
            raise ValueError(f"OneToMany: target ids must be in [0, {self.config.vocab_size}), got "
                             f"{int(tokens.min())}..{int(tokens.max())}.")
        previous = torch.cat([tokens.new_full((B, 1), self.config.bos_id), tokens[:, :-1]], dim=1)  # (B, T): y_{t-1}
        logits, _ = self._run(u, previous, state, lens)  # (B, T, V)
        return logits, F.cross_entropy(logits[mask], tokens[mask])

    @torch.no_grad()
    def generate(
        self, inputs: Tensor, max_length: int | None = None, greedy: bool = False, temperature: float = 1.0,
        top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Sample (or, with greedy=True, take the argmax) token by token: tokens (B, T), lengths (B,) incl. eos."""
        c = self.config
        max_length = max_length or c.max_length
        check_sampling("OneToMany.generate", temperature, top_k, top_p, max_length)
        u, state = self.condition(inputs)
        tokens, lengths, _ = generate_tokens(self.step, (u, state), u.size(0), c.bos_id, c.eos_id, max_length,
                                             u.device, greedy, temperature, top_k, top_p, generator)
        return tokens, lengths

    @torch.no_grad()
    def beam_search(
        self, inputs: Tensor, beam_width: int = 5, max_length: int | None = None, length_penalty: float = 0.0,
        n_best: int = 1,
    ) -> list[list[Hypothesis]]:
        """The n_best outputs per condition by beam search (rnnkit.models.beam), best first."""
        c = self.config
        u, state = self.condition(inputs)

        def select(carry: tuple[Tensor, State], index: Tensor) -> tuple[Tensor, State]:
            u, state = carry
            return u.index_select(0, index), (None if state is None else select_state(state, index))

        return beam_search(self.step, select, (u, state), u.size(0), c.bos_id, c.eos_id, beam_width,
                           max_length or c.max_length, length_penalty, n_best, u.device)
