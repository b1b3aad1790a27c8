"""A stack as PyTorch's sequence kernels take it, and the one call of those kernels.

``torch._VF.lstm/gru/rnn_tanh/rnn_relu`` take the data, the state, the flat weight list and five
flags (biases, layers, dropout, training, bidirectional), and a packed call takes the batch sizes
too. ``Stack`` holds the part that describes the layer; ``torch_stack`` makes the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import _VF, Tensor

if TYPE_CHECKING:
    from rnnkit.layers.recurrent import RecurrentBase

_VF_FUNCTIONS: dict[str, Any] = {"lstm": _VF.lstm, "gru": _VF.gru, "rnn_tanh": _VF.rnn_tanh, "rnn_relu": _VF.rnn_relu}

State = Tensor | tuple[Tensor, Tensor]  # h, or an LSTM's (h, c)


@dataclass(frozen=True)
class Stack:
    """A stack as ``torch._VF``'s sequence kernels take it: everything but the data and the state."""

    mode: str  # "lstm", "gru", "rnn_tanh" or "rnn_relu"
    weights: list[Tensor]  # per layer and direction: w_ih, w_hh[, b_ih, b_hh][, w_hr] (torch's flat order)
    has_biases: bool
    num_layers: int
    dropout: float  # between layers, in training only
    training: bool
    bidirectional: bool

    @classmethod
    def of(cls, layer: RecurrentBase) -> Stack:
        return cls(layer.mode, layer.flat_weights(), layer.bias, layer.num_layers, layer.dropout, layer.training,
                   layer.bidirectional)

    @property
    def per_direction(self) -> int:
        """How many of ``weights`` belong to one layer and direction."""
        return len(self.weights) // (self.num_layers * (2 if self.bidirectional else 1))

    def direction_weights(self, k: int) -> list[Tensor]:
        """The weights of the k-th (layer, direction), k = layer * D + d."""
        n = self.per_direction
        return self.weights[k * n : (k + 1) * n]


def torch_stack(stack: Stack, x: Tensor, hx: State, batch_sizes: Tensor | None = None) -> tuple[Tensor, ...]:
    """One call of ``torch._VF``'s kernel for the stack: dense x (T, B, I), or packed data with its
    ``batch_sizes``. Returns (out, h_n) or, for an LSTM, (out, h_n, c_n)."""
    fn = _VF_FUNCTIONS[stack.mode]
    flags = (stack.has_biases, stack.num_layers, stack.dropout, stack.training, stack.bidirectional)
    if batch_sizes is None:
        return tuple(fn(x, hx, stack.weights, *flags, False))  # False: time-major
    return tuple(fn(x, batch_sizes, hx, stack.weights, *flags))
