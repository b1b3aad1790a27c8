"""Encoder-decoder (seq2seq): an input sequence in, an output sequence of another length out.

    o_1..o_S, h_S = Encoder(x_1..x_S)              (bi)directional, (B, S, D*H)
    m_s = W_m o_s                                  memory the decoder attends to, (B, S, H)
    h_0 = tanh(W_b [h_S fwd; h_1 bwd])             the bridge: encoder state -> decoder state, per layer
    h_t = Decoder(emb(y_{t-1}), h_{t-1})           (B, H)
    c_t, alpha_t = Attention(h_t, m_1..m_S)        rnnkit.models.attention (Luong et al., 2015 layout)
    a_t = tanh(W_a [h_t; c_t])                     the attentional state; a_t = h_t without attention
    p(y_t | y_<t, x) = softmax(W_o a_t + b_o)

Attention is computed after the decoder step (Luong's global attention, without input
feeding), so with full teacher forcing the decoder runs over the whole target in one call.
Without attention the encoder's final state is the decoder's only view of the input
(Sutskever et al., 2014); the tests show what that costs on long inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ArgumentValueError
from rnnkit.models.attention import KINDS, Attention
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

ATTENTIONS = (*KINDS, "none")


@dataclass(frozen=True)
class Seq2SeqConfig:
    """An attentional encoder-decoder."""

    vocab_size: int = field(metadata={"help": "output vocabulary V, including the bos and eos tokens"})
    # None: features
    input_vocab_size: int | None = option(None, "source token vocabulary; None for real-valued (B, S, F) inputs")
    # small: toy vocabularies
    input_size: int = option(32, "source feature size F, or the source embedding size for ids")
    embed_size: int = option(32, "embedding size of the output tokens")  # small: toy vocabularies
    # enough to reverse 20 symbols
    hidden_size: int = option(64, "hidden units per direction (encoder) and of the decoder")
    num_layers: int = option(1, "stacked layers in encoder and decoder")  # one is enough with attention
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])  # lstm: the seq2seq classic
    forget_bias: float | None = recurrent_option("forget_bias")  # 1.0: start out remembering
    bidirectional: bool = option(True, "bidirectional encoder")  # on: each memory slot sees both sides
    dropout: float = option(0.0, "dropout on embeddings, between layers and before the output")  # off for toy tasks
    recurrent_dropout: float = recurrent_option("recurrent_dropout")  # off: the fused kernels stay usable
    layer_norm: bool = recurrent_option("layer_norm")  # off: plain cells train fine at these sizes
    attention: str = option("additive", "additive, dot, general or none", choices=list(ATTENTIONS))  # Bahdanau scores
    # 1: fastest, one decoder call
    teacher_forcing: float = option(1.0, "probability of feeding the true previous token in training")
    bos_id: int = option(1, "start token fed at the first decoder step")  # 0 is left for padding
    eos_id: int = option(2, "end token that stops decoding")  # right after bos
    max_length: int = option(50, "decoding stops after this many tokens")  # a safe cap for toy outputs


@dataclass
class Encoded:
    """What the decoder needs from the encoder."""

    memory: Tensor  # (B, S, H), the attended encoder outputs (zero on padding)
    mask: Tensor  # (B, S) bool, True on real source positions
    state: State  # the decoder's state: h (L, B, H), or (h, c) for an LSTM

    def select(self, index: Tensor) -> Encoded:
        """The rows ``index`` (N,) of each part, e.g. to expand every source over beams or candidates."""
        return Encoded(self.memory.index_select(0, index), self.mask.index_select(0, index),
                       select_state(self.state, index))


class Seq2Seq(nn.Module):
    """Encode a source sequence, decode a target sequence with attention.

    Shapes:
        inputs: (B, S) token ids or (B, S, F) features; lengths: (B,) source lengths.
        targets: (B, T) output ids ending with eos_id; target_lengths: (B,) (None: all T).
    Returns:
        forward: (logits (B, T, V), mean cross-entropy per real target token or None). Without
        targets, the logits of greedy decoding up to max_length. ``decode`` also returns the
        attention weights (B, T, S).
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        c = config
        check_config("Seq2Seq", c, vocab_size=c.vocab_size, input_vocab_size=c.input_vocab_size,
                     input_size=c.input_size, embed_size=c.embed_size, hidden_size=c.hidden_size,
                     num_layers=c.num_layers, cell=c.cell, dropout=c.dropout, recurrent_dropout=c.recurrent_dropout,
                     max_length=c.max_length)
        if c.attention not in ATTENTIONS:
            raise ArgumentValueError(f"Seq2Seq: attention must be one of {ATTENTIONS}, got {c.attention!r}.")
        if not 0.0 <= c.teacher_forcing <= 1.0:
            raise ArgumentValueError("Seq2Seq: teacher_forcing must be a probability in [0, 1], got "
                                     f"{c.teacher_forcing!r}.")
        for key in ("bos_id", "eos_id"):
            if not 0 <= getattr(c, key) < c.vocab_size:
                raise ArgumentValueError(f"Seq2Seq: {key} must be in [0, vocab_size={c.vocab_size}), got "
                                         f"{getattr(c, key)}.")
        self.config = c
        H, D = c.hidden_size, 2 if c.bidirectional else 1
        self.inputs = InputLayer("Seq2Seq", c.input_vocab_size, c.input_size)
        self.encoder = make_recurrent("Seq2Seq", c.cell, c.input_size, H, c.num_layers, c.dropout, c.bidirectional,
                                      c.recurrent_dropout, c.layer_norm, c.forget_bias)
        self.memory = nn.Linear(D * H, H)
        self.bridge_h = nn.Linear(D * H, H)
        self.bridge_c = nn.Linear(D * H, H) if c.cell == "lstm" else None
        self.embedding = nn.Embedding(c.vocab_size, c.embed_size)
        self.decoder = make_recurrent("Seq2Seq", c.cell, c.embed_size, H, c.num_layers, c.dropout, False,
                                      c.recurrent_dropout, c.layer_norm, c.forget_bias)
        self.attention = Attention(c.attention, H, H) if c.attention != "none" else None
        self.combine = nn.Linear(2 * H, H) if self.attention is not None else None
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(H, c.vocab_size)

    # ---- the two halves ----------------------------------------------------------------------

    def encode(self, inputs: Tensor, lengths: Any = None) -> Encoded:
        """Run the encoder; build the memory, its mask and the decoder's initial state."""
        self.inputs.check(inputs, "inputs", 2)
        B, S = inputs.shape[:2]
        lens = check_lengths("Seq2Seq", lengths, B, S)
        x = self.drop(self.inputs(inputs))  # (B, S, E)
        outputs, state = self.encoder(x, lengths=lens)  # (B, S, D*H)
        mask = length_mask(lens, S, x.device)  # (B, S)
        memory = self.memory(outputs) * mask.unsqueeze(2)  # (B, S, H)
        L, D = self.config.num_layers, self.encoder.num_directions

        def per_layer(s: Tensor) -> Tensor:  # (L*D, B, H) -> (L, B, D*H): directions side by side
            return s.view(L, D, B, -1).permute(0, 2, 1, 3).reshape(L, B, -1)

        if isinstance(state, tuple):
            h, c = state
            assert self.bridge_c is not None  # an LSTM encoder (the only one with a tuple state) has it
            return Encoded(memory, mask, (torch.tanh(self.bridge_h(per_layer(h))), self.bridge_c(per_layer(c))))
        return Encoded(memory, mask, torch.tanh(self.bridge_h(per_layer(state))))  # (L, B, H)

    def decode(
        self, encoded: Encoded, previous: Tensor, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None, Encoded]:
        """Decoder over previous tokens (B, T) from ``encoded.state``.

        Returns logits (B, T, V), attention weights (B, T, S) (None without attention), and
        ``encoded`` with the decoder's new state, ready for the next call.
        """
        z = self.drop(self.embedding(previous))  # (B, T, E)
        h, state = self.decoder(z, encoded.state, lengths=lengths)  # (B, T, H)
        weights = None
        if self.attention is not None and self.combine is not None:
            context, weights = self.attention(h, encoded.memory, encoded.mask)  # (B, T, H), (B, T, S)
            h = torch.tanh(self.combine(torch.cat([h, context], dim=2)))  # (B, T, H): a_t
        return self.out(self.drop(h)), weights, replace(encoded, state=state)

    # ---- training ----------------------------------------------------------------------------

    def forward(
        self, inputs: Tensor, targets: Tensor | None = None, lengths: Any = None, target_lengths: Any = None
    ) -> tuple[Tensor, Tensor | None]:
        encoded = self.encode(inputs, lengths)
        c, B = self.config, encoded.memory.size(0)
        if targets is None:
            _, _, logits = generate_tokens(self._step, encoded, B, c.bos_id, c.eos_id, c.max_length,
                                           encoded.memory.device)
            return logits, None
        tokens, previous, lens, mask = self.teacher_inputs(targets, target_lengths, B, c.vocab_size)
        if self.training and c.teacher_forcing < 1.0:
            logits = self._scheduled(encoded, previous)
        else:
            logits, _, _ = self.decode(encoded, previous, lens)  # (B, T, V)
        return logits, F.cross_entropy(logits[mask], tokens[mask])

    def teacher_inputs(self, targets: Any, target_lengths: Any, batch_size: int,
                       num_ids: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Checked targets for teacher forcing: tokens (B, T) (padding made eos), previous (B, T) (bos, then
        y_{t-1}), lengths (B,) and mask (B, T) of the real tokens; ids must be in [0, num_ids)."""
        name, B, c = type(self).__name__, batch_size, self.config
        if not isinstance(targets, Tensor) or targets.dim() != 2 or targets.size(0) != B or targets.is_floating_point():
            got = (f"shape {tuple(targets.shape)}, dtype {targets.dtype}" if isinstance(targets, Tensor)
                   else type(targets).__name__)
            raise ValueError(f"{name}: expected targets of shape ({B}, T) with integer token ids, got {got}.")
        T = targets.size(1)
        if T == 0:
            raise ValueError(f"{name}: targets are empty (T = 0); every target needs at least its eos token.")
        lens = check_lengths(name, target_lengths, B, T, "target_lengths")
        mask = length_mask(lens, T, targets.device)  # (B, T)
        tokens = targets.masked_fill(~mask, c.eos_id)  # padding may hold anything; make it a valid id
        if int(tokens.min()) < 0 or int(tokens.max()) >= num_ids:
            raise ValueError(f"{name}: target ids must be in [0, {num_ids}), got "
                             f"{int(tokens.min())}..{int(tokens.max())}.")
        previous = torch.cat([tokens.new_full((B, 1), c.bos_id), tokens[:, :-1]], dim=1)  # (B, T): y_{t-1}
        return tokens, previous, lens, mask

    def _scheduled(self, encoded: Encoded, previous: Tensor) -> Tensor:
        """Step by step; each sequence feeds the true previous token with probability teacher_forcing, else its own
        guess."""
        B, T = previous.shape
        steps, token = [], previous[:, 0]
        for t in range(T):
            logits, _, encoded = self.decode(encoded, token.unsqueeze(1))
            steps.append(logits)
            if t + 1 < T:
                truth = torch.rand(B, device=previous.device) < self.config.teacher_forcing  # (B,)
                token = torch.where(truth, previous[:, t + 1], logits[:, 0].argmax(-1).detach())
        return torch.cat(steps, dim=1)  # (B, T, V)

    # ---- decoding ----------------------------------------------------------------------------

    def _step(self, tokens: Tensor, encoded: Encoded) -> tuple[Tensor, Encoded]:
        logits, _, encoded = self.decode(encoded, tokens.unsqueeze(1))
        return logits[:, 0], encoded  # (B, V)

    @torch.no_grad()
    def generate(
        self, inputs: Tensor, lengths: Any = None, max_length: int | None = None, greedy: bool = True,
        temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Greedy (default) or sampled decoding: tokens (B, T), lengths (B,) incl. eos, attention (B, T, S) or None."""
        c = self.config
        max_length = max_length or c.max_length
        check_sampling("Seq2Seq.generate", temperature, top_k, top_p, max_length)
        encoded = self.encode(inputs, lengths)
        weights: list[Tensor] = []

        def step(tokens: Tensor, encoded: Encoded) -> tuple[Tensor, Encoded]:
            logits, w, encoded = self.decode(encoded, tokens.unsqueeze(1))
            if w is not None:
                weights.append(w)  # (B, 1, S)
            return logits[:, 0], encoded

        tokens, out_lengths, _ = generate_tokens(step, encoded, encoded.memory.size(0), c.bos_id, c.eos_id, max_length,
                                                 encoded.memory.device, greedy, temperature, top_k, top_p, generator)
        return tokens, out_lengths, (torch.cat(weights, dim=1) if weights else None)

    @torch.no_grad()
    def beam_search(
        self, inputs: Tensor, lengths: Any = None, beam_width: int = 5, max_length: int | None = None,
        length_penalty: float = 0.0, n_best: int = 1, no_repeat_ngram: int = 0,
    ) -> list[list[Hypothesis]]:
        """The n_best translations of each source by beam search (rnnkit.models.beam), best first;
        ``no_repeat_ngram`` > 0 blocks repeating an n-gram within an output."""
        encoded = self.encode(inputs, lengths)
        c = self.config
        return beam_search(self._step, Encoded.select, encoded, encoded.memory.size(0), c.bos_id, c.eos_id, beam_width,
                           max_length or c.max_length, length_penalty, n_best, encoded.memory.device, no_repeat_ngram)
