"""The probe model of the lab: one recurrent layer between the task's input and a linear readout.

It is as small as a model can be while still having to carry information through time:
the inputs are the task's features (or one-hot tokens), the readout sees only the hidden
state, so whatever the answer needs must have survived in that state since it was seen.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.lab.problems import CopyTask, Task
from rnnkit.layers import LAYERS
from rnnkit.utils.training import clip_gradients


class ProbeModel(nn.Module):
    """x -> recurrent layer -> linear head, scored the way ``task`` is scored.

    Args:
        task: decides the input encoding, the output size and the loss.
        cell: "rnn", "lstm" or "gru".
        hidden_size: H.
        forget_bias: LSTM only; the forget gate's bias at initialisation.
    Shapes: x (B, T, I) floats or (B, T) token ids; output (B, T, O); loss a scalar (None without targets).
    """

    def __init__(self, task: Task, cell: str, hidden_size: int, forget_bias: float | None = 1.0) -> None:
        super().__init__()
        if cell not in LAYERS:
            raise ValueError(f"ProbeModel: unknown cell {cell!r}; expected one of {sorted(LAYERS)}.")
        self.task, self.cell = task, cell
        kwargs: dict[str, Any] = {"forget_bias": forget_bias} if cell == "lstm" else {}
        self.rnn = LAYERS[cell](task.input_size, hidden_size, batch_first=True, **kwargs)
        self.head = nn.Linear(hidden_size, task.output_size)

    def encode(self, x: Tensor) -> Tensor:
        """Token ids become one-hot vectors (the vocabularies here are tiny); features pass through."""
        if self.task.tokens:
            return F.one_hot(x, self.task.input_size).float()  # (B, T, V)
        return x  # (B, T, I)

    def forward(self, x: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        h, _ = self.rnn(self.encode(x))  # (B, T, H)
        output = self.head(h)  # (B, T, O)
        if targets is None:
            return output, None
        return output, self.loss(output, targets)

    def learn(self, optimizer: torch.optim.Optimizer, batch_size: int, data: torch.Generator, clip: float) -> Tensor:
        """One training step on a fresh batch of the task drawn from ``data``: forward, backward, clip, step."""
        x, y = self.task.sample(batch_size, data)
        _, loss = self(x, y)
        assert loss is not None
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self.parameters(), clip)
        optimizer.step()
        return loss

    def loss(self, output: Tensor, targets: Tensor) -> Tensor:
        """MSE at the last step (adding), or cross-entropy at every step (copy) or the last one (recall)."""
        if not self.task.tokens:
            return F.mse_loss(output[:, -1, 0], targets)
        if self.task.per_step:
            return F.cross_entropy(output.flatten(0, 1), targets.flatten())
        return F.cross_entropy(output[:, -1], targets)

    def accuracy(self, output: Tensor, targets: Tensor) -> float | None:
        """Share of answers right: the replayed symbols (copy) or the language (recall); None for regression."""
        if not self.task.tokens:
            return None
        if self.task.per_step:
            assert isinstance(self.task, CopyTask)  # the one task scored at every step
            memory = self.task.memory
            return (output[:, -memory:].argmax(-1) == targets[:, -memory:]).float().mean().item()
        return (output[:, -1].argmax(-1) == targets).float().mean().item()
