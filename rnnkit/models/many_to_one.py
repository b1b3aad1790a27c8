"""Many-to-one: a whole sequence in, one output out (a class, or real values).

    o_1..o_T = RNN(x_1..x_T)                 encoder outputs, (B, T, D*H)
    s = pool(o_1..o_len)                     one vector per sequence, (B, D*H)
    y = W s + b                              logits or regression values, (B, C)

Pooling sees only a sequence's real steps: "last" takes each direction's final state
(the forward one at the sequence's own last step, not the padded end; the backward one
at step 1), "mean" and "max" reduce over the real steps, and "attention" takes a softmax-
weighted sum with a learned query (Bahdanau-style scores, as in Yang et al., 2016).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.errors import ArgumentValueError
from rnnkit.models.common import (
    InputLayer,
    check_config,
    check_lengths,
    final_states,
    head_loss,
    length_mask,
    make_recurrent,
    recurrent_option,
)
from rnnkit.utils.config import option

POOLINGS = ("last", "mean", "max", "attention")


@dataclass(frozen=True)
class ManyToOneConfig:
    """A sequence classifier or regressor."""

    num_outputs: int = field(metadata={"help": "classes (classification) or values per sequence (regression)"})
    # None: features, the general case
    vocab_size: int | None = option(None, "token-id inputs with this vocabulary; None for real-valued (B, T, F) inputs")
    # small: test tasks have tiny vocabularies
    input_size: int = option(32, "feature size F of real inputs, or the embedding size for ids")
    hidden_size: int = option(64, "hidden units per direction")  # enough for parity/sum tasks on CPU
    num_layers: int = option(1, "stacked recurrent layers")  # one layer learns the synthetic tasks
    # lstm: the safe default for long gaps
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])
    forget_bias: float | None = recurrent_option("forget_bias")  # 1.0: start out remembering
    bidirectional: bool = option(False, "read the sequence both ways")  # off: "last" then means the true last state
    # off: tiny tasks do not overfit
    dropout: float = option(0.0, "dropout on inputs, between layers and before the head")
    recurrent_dropout: float = recurrent_option("recurrent_dropout")  # off: the fused kernels stay usable
    layer_norm: bool = recurrent_option("layer_norm")  # off: plain cells train fine at these sizes
    # last: the classic many-to-one
    pooling: str = option("last", "last, mean, max or attention", choices=list(POOLINGS))
    # classification: cross-entropy head
    task: str = option("classification", "classification or regression", choices=["classification", "regression"])


class AttentionPooling(nn.Module):
    """score_t = v . tanh(W o_t + b); alpha = softmax over real steps; s = sum_t alpha_t o_t."""

    def __init__(self, size: int, attention_size: int | None = None) -> None:
        super().__init__()
        self.proj = nn.Linear(size, attention_size or size)
        self.query = nn.Linear(attention_size or size, 1, bias=False)  # v, the learned query

    def forward(self, outputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """outputs (B, T, S), mask (B, T) -> pooled (B, S), weights (B, T) (zero on padding)."""
        scores = self.query(torch.tanh(self.proj(outputs))).squeeze(2)  # (B, T)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (B, T)
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1), weights  # (B, S), (B, T)


class ManyToOne(nn.Module):
    """Encode a sequence with a recurrent layer, pool over time, and map to C outputs.

    Shapes:
        inputs: (B, T) token ids or (B, T, F) features; lengths: (B,) true lengths (None: all T).
        targets: (B,) class ids, or (B, C) real values for regression ((B,) when C = 1).
    Returns:
        (output (B, C) logits or values, loss or None).
    """

    def __init__(self, config: ManyToOneConfig) -> None:
        super().__init__()
        c = config
        check_config("ManyToOne", c, num_outputs=c.num_outputs, vocab_size=c.vocab_size, input_size=c.input_size,
                     hidden_size=c.hidden_size, num_layers=c.num_layers, cell=c.cell, dropout=c.dropout,
                     recurrent_dropout=c.recurrent_dropout, task=c.task)
        if c.pooling not in POOLINGS:
            raise ArgumentValueError(f"ManyToOne: pooling must be one of {POOLINGS}, got {c.pooling!r}.")
        self.config = c
        D = 2 if c.bidirectional else 1
        self.inputs = InputLayer("ManyToOne", c.vocab_size, c.input_size)
        self.rnn = make_recurrent("ManyToOne", c.cell, c.input_size, c.hidden_size, c.num_layers, c.dropout,
                                  c.bidirectional, c.recurrent_dropout, c.layer_norm, c.forget_bias)
        self.attention = AttentionPooling(D * c.hidden_size) if c.pooling == "attention" else None
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(D * c.hidden_size, c.num_outputs)

    def encode(self, inputs: Tensor, lengths: Any = None) -> tuple[Tensor, Tensor | None]:
        """The pooled sequence vector (B, D*H), and the attention weights (B, T) with attention pooling."""
        self.inputs.check(inputs, "inputs", 2)
        B, T = inputs.shape[:2]
        lens = check_lengths("ManyToOne", lengths, B, T)
        x = self.drop(self.inputs(inputs))  # (B, T, E)
        outputs, state = self.rnn(x, lengths=lens)  # (B, T, D*H), zero past each length
        mask = length_mask(lens, T, x.device)  # (B, T)
        pooling, weights = self.config.pooling, None
        if pooling == "last":
            pooled = final_states(state, self.config.num_layers, self.rnn.num_directions)  # (B, D*H)
        elif pooling == "mean":
            pooled = outputs.sum(1) / lens.to(outputs).unsqueeze(1)  # padding is zero, so the sum is over real steps
        elif pooling == "max":
            pooled = outputs.masked_fill(~mask.unsqueeze(2), float("-inf")).amax(1)  # (B, D*H)
        else:
            assert self.attention is not None
            pooled, weights = self.attention(outputs, mask)
        return pooled, weights

    def forward(self, inputs: Tensor, targets: Tensor | None = None,
                lengths: Any = None) -> tuple[Tensor, Tensor | None]:
        pooled, _ = self.encode(inputs, lengths)
        output = self.head(self.drop(pooled))  # (B, C)
        loss = head_loss("ManyToOne", self.config.task, output, targets) if targets is not None else None
        return output, loss
