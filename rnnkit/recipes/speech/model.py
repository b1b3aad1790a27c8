"""The CTC acoustic model: a bidirectional recurrent stack over feature frames, and a softmax over
the digit words plus the CTC blank at every frame (Graves et al., 2006).

    o_1..o_T = BiRNN(x_1..x_T)                              (B, T, 2H)
    log p_t  = log_softmax(W o_t + b)                       (B, T, V+1); label 0 is the blank
    loss     = -log p(y | x) / |y|, averaged over the batch  (torch.nn.functional.ctc_loss)

An ensemble of N such models, trained apart, is decoded by strings (``combine="strings"``, ctc.py (4)): each member's
best labellings are the candidates, and the one with the highest sum of the members' own log p(y | x) wins; or from
the normalised geometric mean of their frame distributions (``combine="posteriors"``: the mean of their
log-posteriors, as hybrid and CTC systems combine acoustic models), which is also what its forward returns:

    log p_t  = log_softmax((1/N) sum_n log p_t^(n))        (B, T, V+1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models.common import check_lengths, make_recurrent


@dataclass(frozen=True)
class CTCConfig:
    """A frame-level CTC acoustic model."""

    num_labels: int  # labels without the blank (11 digit words)
    input_size: int  # features per frame
    hidden_size: int = 128  # units per direction
    num_layers: int = 2  # stacked bidirectional layers
    cell: str = "lstm"  # lstm, gru or rnn
    dropout: float = 0.1  # on the inputs, between layers and before the output layer


class CTCModel(nn.Module):
    """forward(inputs (B, T, F), targets=None, lengths=None, target_lengths=None) -> (log_probs (B, T, V+1), loss)."""

    def __init__(self, config: CTCConfig) -> None:
        super().__init__()
        self.config = config
        self.rnn = make_recurrent("CTCModel", config.cell, config.input_size, config.hidden_size, config.num_layers,
                                  config.dropout, bidirectional=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden_size, config.num_labels + 1)

    def forward(self, inputs: Tensor, targets: Tensor | None = None, lengths: Any = None,
                target_lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if inputs.dim() != 3 or inputs.size(-1) != self.config.input_size:
            raise ValueError(f"CTCModel: expected inputs (B, T, {self.config.input_size}), got {tuple(inputs.shape)}.")
        B, T, _ = inputs.shape
        lens = check_lengths("CTCModel", lengths, B, T)
        outputs, _ = self.rnn(self.drop(inputs), lengths=lens)  # (B, T, 2H)
        log_probs = torch.log_softmax(self.head(self.drop(outputs)), dim=-1)  # (B, T, V+1)
        if targets is None:
            return log_probs, None
        if target_lengths is None:
            raise ValueError("CTCModel: targets need target_lengths (B,), the number of labels of each utterance.")
        # ctc_loss wants time-major (T, B, V+1); an utterance too short for its labels counts zero, not inf
        loss = nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, lens, target_lengths, blank=0,
                                      reduction="mean", zero_infinity=True)
        return log_probs, loss


COMBINE = ("strings", "posteriors")  # how an ensemble is decoded


class CTCEnsemble(nn.Module):
    """forward(inputs (B, T, F), lengths=None) -> (log_probs (B, T, V+1), None): the members' mean log-posteriors,
    renormalised. Decoding only: each member trains on its own (``rnnkit recipe digits-ctc --members N``);
    ``combine`` says how the recipe decodes it: by strings (from each member's log-posteriors) or from forward's."""

    def __init__(self, members: Sequence[CTCModel], combine: str = "strings") -> None:
        super().__init__()
        if not members:
            raise ValueError("CTCEnsemble: no members; pass one or more trained CTCModels.")
        if combine not in COMBINE:
            raise ValueError(f"CTCEnsemble: combine must be one of {COMBINE}, got {combine!r}.")
        self.combine = combine
        shapes = {(m.config.input_size, m.config.num_labels) for m in members}
        if len(shapes) > 1:
            raise ValueError(f"CTCEnsemble: the members differ in (input_size, num_labels): {sorted(shapes)}; "
                             "combine only models trained on the same features and labels.")
        self.members = nn.ModuleList(members)

    def forward(self, inputs: Tensor, targets: Tensor | None = None, lengths: Any = None,
                target_lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if targets is not None:
            raise ValueError("CTCEnsemble: an ensemble is not trained as one; train its members apart and combine "
                             "them (rnnkit recipe digits-ctc --members N).")
        mean = torch.stack([m(inputs, lengths=lengths)[0] for m in self.members]).mean(0)  # (B, T, V+1)
        return torch.log_softmax(mean, dim=-1), None
