"""Many-to-many, aligned: one output per input step (tagging).

    o_1..o_T = BiRNN(x_1..x_T)          (B, T, D*H)
    e_t = W o_t + b                     emission scores per tag, (B, T, K)
    p(y_t | x) = softmax(e_t)           independent per token, or
    p(y | x) = CRF(e)                   a linear chain over the whole tag path (rnnkit.models.crf)

The encoder is bidirectional by default, so a tag can depend on both neighbours. Loss
and decoding ignore every position past a sequence's length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.common import InputLayer, check_config, check_lengths, length_mask, make_recurrent, recurrent_option
from rnnkit.models.crf import CRF
from rnnkit.utils.config import option


@dataclass(frozen=True)
class ManyToManyConfig:
    """A sequence tagger: softmax per token, or a CRF on top."""

    num_tags: int = field(metadata={"help": "number of output labels K"})
    # None: features
    vocab_size: int | None = option(None, "token-id inputs with this vocabulary; None for real-valued (B, T, F) inputs")
    # small: toy vocabularies
    input_size: int = option(32, "feature size F of real inputs, or the embedding size for ids")
    hidden_size: int = option(64, "hidden units per direction")  # enough for the synthetic tagging tasks
    num_layers: int = option(1, "stacked recurrent layers")  # one bidirectional layer is the classic tagger
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])  # BiLSTM(-CRF), Huang et al. 2015
    forget_bias: float | None = recurrent_option("forget_bias")  # 1.0: start out remembering
    bidirectional: bool = option(True, "read the sequence both ways")  # on: tags depend on right context too
    dropout: float = option(0.0, "dropout on inputs, between layers and before the emissions")  # off for toy tasks
    recurrent_dropout: float = recurrent_option("recurrent_dropout")  # off: the fused kernels stay usable
    layer_norm: bool = recurrent_option("layer_norm")  # off: plain cells train fine at these sizes
    # off: softmax per token is the baseline
    crf: bool = option(False, "add a linear-chain CRF layer with Viterbi decoding")


class ManyToMany(nn.Module):
    """Tag every step of a sequence.

    Shapes:
        inputs: (B, T) token ids or (B, T, F) features; lengths: (B,) (None: all T).
        targets: (B, T) tag ids; positions past a length are ignored (any value).
    Returns:
        forward: (emissions (B, T, K), loss or None): the mean cross-entropy per real token,
        or with a CRF the mean negative log-likelihood per sequence.
        decode: tags (B, T), -1 past each length.
    """

    def __init__(self, config: ManyToManyConfig) -> None:
        super().__init__()
        c = config
        check_config("ManyToMany", c, num_tags=c.num_tags, vocab_size=c.vocab_size, input_size=c.input_size,
                     hidden_size=c.hidden_size, num_layers=c.num_layers, cell=c.cell, dropout=c.dropout,
                     recurrent_dropout=c.recurrent_dropout)
        self.config = c
        D = 2 if c.bidirectional else 1
        self.inputs = InputLayer("ManyToMany", c.vocab_size, c.input_size)
        self.rnn = make_recurrent("ManyToMany", c.cell, c.input_size, c.hidden_size, c.num_layers, c.dropout,
                                  c.bidirectional, c.recurrent_dropout, c.layer_norm, c.forget_bias)
        self.drop = nn.Dropout(c.dropout)
        self.emissions = nn.Linear(D * c.hidden_size, c.num_tags)
        self.crf = CRF(c.num_tags) if c.crf else None

    def _emit(self, inputs: Tensor, lengths: Any) -> tuple[Tensor, Tensor]:
        self.inputs.check(inputs, "inputs", 2)
        B, T = inputs.shape[:2]
        lens = check_lengths("ManyToMany", lengths, B, T)
        x = self.drop(self.inputs(inputs))  # (B, T, E)
        outputs, _ = self.rnn(x, lengths=lens)  # (B, T, D*H)
        return self.emissions(self.drop(outputs)), length_mask(lens, T, x.device)  # (B, T, K), (B, T)

    def forward(self, inputs: Tensor, targets: Tensor | None = None,
                lengths: Any = None) -> tuple[Tensor, Tensor | None]:
        emissions, mask = self._emit(inputs, lengths)
        if targets is None:
            return emissions, None
        B, T, K = emissions.shape
        if not isinstance(targets, Tensor) or targets.shape != (B, T) or targets.is_floating_point():
            got = (f"shape {tuple(targets.shape)}, dtype {targets.dtype}" if isinstance(targets, Tensor)
                   else type(targets).__name__)
            raise ValueError(f"ManyToMany: expected targets of shape ({B}, {T}) with integer tag ids, got {got}.")
        real = targets[mask]
        if int(real.min()) < 0 or int(real.max()) >= K:
            raise ValueError(f"ManyToMany: tag ids must be in [0, {K}), got min {int(real.min())}, max "
                             f"{int(real.max())}.")
        tags = targets.masked_fill(~mask, 0)  # any valid id on padding; the mask drops it
        if self.crf is not None:
            return emissions, self.crf(emissions, tags, mask).mean()
        return emissions, F.cross_entropy(emissions[mask], tags[mask])

    @torch.no_grad()
    def decode(self, inputs: Tensor, lengths: Any = None) -> Tensor:
        """The most likely tags: per-token argmax, or the Viterbi path with a CRF. (B, T), -1 on padding."""
        emissions, mask = self._emit(inputs, lengths)
        if self.crf is not None:
            return self.crf.viterbi(emissions, mask)[0]
        return emissions.argmax(2).masked_fill(~mask, -1)
