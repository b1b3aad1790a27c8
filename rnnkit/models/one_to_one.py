"""One-to-one: one input, one output; a recurrent step over a single element.

    h = cell(x, h_0 = 0)          one step from the zero state, (B, H)
    y = W h + b                   (B, C)

With a zero initial state the recurrent weights never act, so this is a plain feed-forward
network (for an Elman cell, y = W tanh(W_ih x + b) + b). It completes the family: the other
four configurations reduce to it when every sequence has length one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models.common import InputLayer, check_config, final_states, head_loss, make_recurrent, recurrent_option
from rnnkit.utils.config import option


@dataclass(frozen=True)
class OneToOneConfig:
    """A single-step classifier or regressor."""

    num_outputs: int = field(metadata={"help": "classes (classification) or values per input (regression)"})
    # None: features
    vocab_size: int | None = option(None, "token-id inputs with this vocabulary; None for real-valued (B, F) inputs")
    input_size: int = option(32, "feature size F of real inputs, or the embedding size for ids")  # small: toy tasks
    hidden_size: int = option(64, "hidden units")  # one hidden layer of 64 fits most toy mappings
    num_layers: int = option(1, "stacked recurrent layers (depth of the network)")  # 1: a one-hidden-layer network
    # same default as the other configurations
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])
    forget_bias: float | None = recurrent_option("forget_bias")  # 1.0: start out remembering
    dropout: float = option(0.0, "dropout on the input, between layers and before the head")  # off
    # cross-entropy head
    task: str = option("classification", "classification or regression", choices=["classification", "regression"])


class OneToOne(nn.Module):
    """Map one input to one output through a single recurrent step.

    Shapes:
        inputs: (B,) token ids or (B, F) features. lengths: None (or all ones): there is no time axis.
        targets: (B,) class ids, or (B, C) real values for regression ((B,) when C = 1).
    Returns:
        (output (B, C), loss or None).
    """

    def __init__(self, config: OneToOneConfig) -> None:
        super().__init__()
        c = config
        check_config("OneToOne", c, num_outputs=c.num_outputs, vocab_size=c.vocab_size, input_size=c.input_size,
                     hidden_size=c.hidden_size, num_layers=c.num_layers, cell=c.cell, dropout=c.dropout, task=c.task)
        self.config = c
        self.inputs = InputLayer("OneToOne", c.vocab_size, c.input_size)
        self.rnn = make_recurrent("OneToOne", c.cell, c.input_size, c.hidden_size, c.num_layers, c.dropout,
                                   forget_bias=c.forget_bias)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, c.num_outputs)

    def forward(self, inputs: Tensor, targets: Tensor | None = None,
                lengths: Any = None) -> tuple[Tensor, Tensor | None]:
        self.inputs.check(inputs, "inputs", 1)
        if lengths is not None and not bool((torch.as_tensor(lengths) == 1).all()):
            raise ValueError("OneToOne: every input has length 1; pass lengths=None (or use ManyToOne for sequences).")
        x = self.drop(self.inputs(inputs)).unsqueeze(1)  # (B, 1, E): a sequence of one step
        _, state = self.rnn(x)
        h = final_states(state, self.config.num_layers, 1)  # (B, H)
        output = self.head(self.drop(h))  # (B, C)
        loss = head_loss("OneToOne", self.config.task, output, targets) if targets is not None else None
        return output, loss
