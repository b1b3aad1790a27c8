"""Pointer-generator with coverage (See et al., 2017): an attentional Seq2Seq that can also copy source words.

The encoder, decoder, attention and output layer are Seq2Seq's. At decoder step t, with h_t the
decoder state, x_t = emb(y_{t-1}) its input, m_i the memory of source position i:

    cov^t = sum_{t' < t} a^{t'}                                  (1)  coverage; cov^1 = 0
    a^t = softmax_i(v . tanh(W_q h_t + W_k m_i + w_c cov^t_i))     (2)  attention that sees the coverage
    c_t = sum_i a^t_i m_i                                        (3)  context
    P_vocab = softmax(W_o tanh(W_a [h_t; c_t]) + b_o)            (4)  Seq2Seq's output distribution
    p_gen = sigmoid(w_c . c_t + w_h . h_t + w_x . x_t + b)       (5)  generate (1) or copy (0)
    P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: x_i = w} a^t_i   (6)  over the extended vocabulary
    loss_t = -log P(y*_t) + lambda sum_i min(a^t_i, cov^t_i)     (7)  coverage loss, lambda = coverage_weight

The extended vocabulary is the V output words, then each example's source words outside them
(ids V, V+1, ... in order of first appearance: ``source_ext``), so a word no vocabulary holds
can still be produced, by copying it. Source and output share one vocabulary (input ids are
output ids). A generated extended id is fed back to the decoder as ``unk_id``. With
``copy=False``, P = P_vocab (the plain attentional model, with or without coverage).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.errors import ArgumentValueError
from rnnkit.models.attention import Attention
from rnnkit.models.beam import Hypothesis, beam_search
from rnnkit.models.common import select_state
from rnnkit.models.decoding import generate_tokens
from rnnkit.models.seq2seq import Encoded, Seq2Seq, Seq2SeqConfig
from rnnkit.utils.config import option

_TINY = 1e-12  # floor of P(w) before the log: an extended id no source word carries has probability 0


@dataclass(frozen=True)
class PointerGeneratorConfig(Seq2SeqConfig):
    """A Seq2Seq that copies (6) and keeps coverage (1, 2, 7)."""

    copy: bool = option(True, "mix copying from the source into the output distribution (6)")  # the point of the model
    coverage: bool = option(True, "coverage vector in the attention (2) and the coverage loss (7)")  # curbs repeating
    coverage_weight: float = option(1.0, "lambda of the coverage loss (7)")  # See et al.'s value
    unk_id: int = option(3, "the unknown-word id, fed back for a copied word outside the vocabulary")


@dataclass
class PointerEncoded(Encoded):
    """Encoded, plus what copying and coverage need per source position."""

    source_ext: Tensor  # (B, S) source ids in the extended vocabulary (0 on padding)
    num_oov: int  # how many extended ids past V the batch uses
    coverage: Tensor  # (B, S) cov^t (1): the attention summed over the steps decoded so far

    def select(self, index: Tensor) -> PointerEncoded:
        """Rows ``index`` of every per-example tensor (to follow the surviving beams)."""
        return PointerEncoded(self.memory.index_select(0, index), self.mask.index_select(0, index),
                              select_state(self.state, index), self.source_ext.index_select(0, index), self.num_oov,
                              self.coverage.index_select(0, index))


class PointerGenerator(Seq2Seq):
    """Seq2Seq with copying and coverage.

    Shapes:
        inputs (B, S) ids (unknown words as unk_id); source_ext (B, S) the same words in the extended
        vocabulary (None: ``inputs``, nothing to copy beyond the vocabulary); targets (B, T) extended ids.
    Returns:
        forward: (log P (B, T, V + num_oov), mean of (7) per real target token). ``decode`` returns log P
        in place of Seq2Seq's logits, so greedy decoding and beam search run on it unchanged.
    """

    def __init__(self, config: PointerGeneratorConfig) -> None:
        super().__init__(config)
        c = config
        if c.input_vocab_size != c.vocab_size:
            raise ArgumentValueError(f"PointerGenerator: source and output share one vocabulary, got input_vocab_size="
                                     f"{c.input_vocab_size} and vocab_size={c.vocab_size}; set both to the same size.")
        if c.attention == "none":
            raise ArgumentValueError("PointerGenerator: copying and coverage need attention; set attention='additive'.")
        if not 0 <= c.unk_id < c.vocab_size:
            raise ArgumentValueError(f"PointerGenerator: unk_id must be in [0, vocab_size={c.vocab_size}), got "
                                     f"{c.unk_id}.")
        if c.teacher_forcing != 1.0:
            raise ArgumentValueError("PointerGenerator: trains with full teacher forcing; got "
                                     f"teacher_forcing={c.teacher_forcing}.")
        if c.coverage_weight < 0:
            raise ArgumentValueError(f"PointerGenerator: coverage_weight must be >= 0, got {c.coverage_weight}.")
        H = c.hidden_size
        if c.coverage:
            self.attention = Attention(c.attention, H, H, coverage=True)
        self.gen = nn.Linear(2 * H + c.embed_size, 1) if c.copy else None  # (5) on [c_t; h_t; x_t]
        self.pg_config = c

    def encode(self, inputs: Tensor, lengths: Any = None, source_ext: Tensor | None = None) -> PointerEncoded:
        """Seq2Seq's encoder; ``source_ext`` (default: ``inputs``) says which extended id each position copies."""
        base = super().encode(inputs, lengths)
        B, S = base.mask.shape
        ext = inputs if source_ext is None else source_ext
        if not isinstance(ext, Tensor) or ext.shape != (B, S) or ext.is_floating_point():
            got = tuple(ext.shape) if isinstance(ext, Tensor) else type(ext).__name__
            raise ValueError(f"PointerGenerator: source_ext must be integer ids of the inputs' shape ({B}, {S}), got "
                             f"{got}.")
        ext = ext.masked_fill(~base.mask, 0)
        num_oov = max(0, int(ext.max()) + 1 - self.config.vocab_size) if ext.numel() else 0
        return PointerEncoded(base.memory, base.mask, base.state, ext, num_oov, base.memory.new_zeros(B, S))

    def decode(self, encoded: Encoded, previous: Tensor,
               lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None, Encoded]:
        """Decoder over previous tokens (B, T) (extended ids allowed): log P (B, T, V + num_oov) of (6), the
        attention (B, T, S), and ``encoded`` with the new state and coverage."""
        log_p, weights, encoded, _ = self.decode_with_coverage(encoded, previous, lengths)
        return log_p, weights, encoded

    def decode_with_coverage(self, encoded: Encoded, previous: Tensor,
                             lengths: Tensor | None = None) -> tuple[Tensor, Tensor, PointerEncoded, Tensor]:
        """As ``decode``, and the coverage loss sum_i min(a^t_i, cov^t_i) of each step (B, T) (zeros without
        coverage)."""
        if not isinstance(encoded, PointerEncoded):
            raise TypeError("PointerGenerator: decode takes what PointerGenerator.encode returns.")
        c, V = self.pg_config, self.config.vocab_size
        assert self.attention is not None  # checked in __init__
        assert self.combine is not None
        x = self.embedding(previous.masked_fill(previous >= V, c.unk_id))  # (B, T, E): x_t, a copied word as unk
        h, state = self.decoder(self.drop(x), encoded.state, lengths=lengths)  # (B, T, H)
        B, T = previous.shape
        coverage = encoded.coverage  # (B, S)
        if c.coverage:
            projected = self.attention.project(encoded.memory)  # (B, S, A), once for all steps
            contexts, steps, losses = [], [], []
            for t in range(T):  # coverage makes step t depend on the attention of the steps before it
                # (2), (3)
                context_t, w = self.attention(h[:, t : t + 1], encoded.memory, encoded.mask, coverage.unsqueeze(1),
                                              projected)
                contexts.append(context_t)
                steps.append(w)
                losses.append(torch.minimum(w[:, 0], coverage).sum(1))  # (B,)  # (7)
                coverage = coverage + w[:, 0]  # (1)
            context, weights = torch.cat(contexts, 1), torch.cat(steps, 1)  # (B, T, H), (B, T, S)
            coverage_loss = torch.stack(losses, 1)  # (B, T)
        else:
            context, weights = self.attention(h, encoded.memory, encoded.mask)  # (B, T, H), (B, T, S)
            coverage_loss = h.new_zeros(B, T)
        a = torch.tanh(self.combine(torch.cat([h, context], dim=2)))  # (B, T, H)
        p_vocab = torch.softmax(self.out(self.drop(a)), dim=2)  # (B, T, V)  # (4)
        if self.gen is None:
            p = p_vocab
        else:
            p_gen = torch.sigmoid(self.gen(torch.cat([context, h, x], dim=2)))  # (B, T, 1)  # (5)
            p = torch.cat([p_gen * p_vocab, p_vocab.new_zeros(B, T, encoded.num_oov)], dim=2)  # (B, T, V + num_oov)
            index = encoded.source_ext.unsqueeze(1).expand(B, T, -1)  # (B, T, S)
            p = p.scatter_add(2, index, (1 - p_gen) * weights)  # (6): padding has weight 0
        return p.clamp_min(_TINY).log(), weights, replace(encoded, state=state, coverage=coverage), coverage_loss

    def forward(self, inputs: Tensor, targets: Tensor | None = None, lengths: Any = None, target_lengths: Any = None,
                source_ext: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(log P (B, T, V + num_oov), loss (7) averaged over real target tokens); without targets, greedy decoding."""
        encoded = self.encode(inputs, lengths, source_ext)
        B, c = encoded.memory.size(0), self.config
        if targets is None:
            _, _, log_p = generate_tokens(self._step, encoded, B, c.bos_id, c.eos_id, c.max_length,
                                          encoded.memory.device)
            return log_p, None
        # ids past the vocabulary: this batch's source words beyond it, when copying
        num_ids = c.vocab_size + (encoded.num_oov if self.gen is not None else 0)
        tokens, previous, _, mask = self.teacher_inputs(targets, target_lengths, B, num_ids)
        # no target lengths for the decoder: it runs left to right, so padding after a target's end changes nothing
        # before it (and the loss skips it), and one dense kernel call is faster than one per distinct length
        log_p, _, _, coverage_loss = self.decode_with_coverage(encoded, previous)
        nll = -log_p.gather(2, tokens.unsqueeze(2)).squeeze(2)  # (B, T)
        loss = (nll + self.pg_config.coverage_weight * coverage_loss)[mask].mean()  # (7)
        return log_p, loss

    def _search(self, encoded: PointerEncoded, beam_width: int, max_length: int, length_penalty: float,
                n_best: int, no_repeat_ngram: int = 0) -> list[list[Hypothesis]]:
        def step(tokens: Tensor, state: PointerEncoded) -> tuple[Tensor, PointerEncoded]:
            log_p, _, state, _ = self.decode_with_coverage(state, tokens.unsqueeze(1))
            return log_p[:, 0], state  # (N, V + num_oov): log P is its own log-softmax

        c = self.config
        return beam_search(step, PointerEncoded.select, encoded, encoded.memory.size(0), c.bos_id, c.eos_id,
                           beam_width, max_length, length_penalty, n_best, encoded.memory.device, no_repeat_ngram)

    @torch.no_grad()
    def greedy(self, inputs: Tensor, lengths: Any = None, max_length: int | None = None,
               source_ext: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Greedy decoding, all rows at once: tokens (B, T) in extended ids and lengths (B,) counting eos."""
        encoded = self.encode(inputs, lengths, source_ext)
        c = self.config
        tokens, out_lengths, _ = generate_tokens(self._step, encoded, encoded.memory.size(0), c.bos_id, c.eos_id,
                                                 max_length or c.max_length, encoded.memory.device)
        return tokens, out_lengths

    @torch.no_grad()
    def beam_search(
        self, inputs: Tensor, lengths: Any = None, beam_width: int = 5, max_length: int | None = None,
        length_penalty: float = 0.0, n_best: int = 1, no_repeat_ngram: int = 0, source_ext: Tensor | None = None,
    ) -> list[list[Hypothesis]]:
        """The n_best outputs of each source (extended ids: an id >= vocab_size is source_ext's word), best first;
        Seq2Seq.beam_search's, with the copy state (PointerEncoded.select) following the beams."""
        encoded = self.encode(inputs, lengths, source_ext)
        return self._search(encoded, beam_width, max_length or self.config.max_length, length_penalty, n_best,
                            no_repeat_ngram)
