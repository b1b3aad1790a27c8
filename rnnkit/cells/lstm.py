"""Long short-term memory cell (Hochreiter & Schmidhuber, 1997; forget gate: Gers et al., 2000).

One step, for an input x (B, I), previous hidden state h_prev (B, H) and previous cell
state c_prev (B, H). The four gate pre-activations are computed in one matrix multiply
and split in PyTorch's order i, f, g, o:

    i = sigmoid(W_ii x + b_ii + W_hi h_prev + b_hi)     (1)  input gate: how much to write
    f = sigmoid(W_if x + b_if + W_hf h_prev + b_hf)     (2)  forget gate: how much to keep
    g = tanh(W_ig x + b_ig + W_hg h_prev + b_hg)        (3)  candidate: what to write
    o = sigmoid(W_io x + b_io + W_ho h_prev + b_ho)     (4)  output gate: how much to show
    c = f * c_prev + i * g                              (5)  the cell state, a leaky sum
    h = o * tanh(c)                                     (6)
    h = W_hr h                                          (7)  only with proj_size > 0 (Sak et al., 2014)

The additive update (5) is why gradients survive long gaps: dc/dc_prev = f, with no
squashing, so a forget gate near 1 carries the error back unchanged.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.rnn import _batched, check_cell_args, check_cell_call, reset_uniform
from rnnkit.errors import StateTypeError


class LSTMState(NamedTuple):
    """An LSTM's state: the hidden state h (B, H), or (B, P) with a projection, and the cell state c (B, H)."""
    h: Tensor  # (B, H) or (B, P) with a projection
    c: Tensor  # (B, H)


def lstm_step(
    x: Tensor,
    h_prev: Tensor,
    c_prev: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    weight_hr: Tensor | None = None,
    record: dict[str, Tensor] | None = None,
) -> LSTMState:
    """One LSTM step. Shapes: x (B, I), h_prev (B, P or H), c_prev (B, H), weight_ih (4H, I),
    weight_hh (4H, P or H), weight_hr (P, H).

    ``record``, when given, receives the gates i, f, g, o (each (B, H)). Returns LSTMState(h, c).
    """
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h_prev, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)
    i = torch.sigmoid(i)  # (1)
    f = torch.sigmoid(f)  # (2)
    g = torch.tanh(g)  # (3)
    o = torch.sigmoid(o)  # (4)
    c = f * c_prev + i * g  # (5)
    h = o * torch.tanh(c)  # (6)
    if weight_hr is not None:
        h = F.linear(h, weight_hr)  # (7)
    if record is not None:
        record.update(i=i, f=f, g=g, o=o)
    return LSTMState(h, c)


class LSTMCell(nn.Module):
    """An LSTM cell with ``torch.nn.LSTMCell``'s parameters, names and forward signature."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        input_size, hidden_size = check_cell_args(self, input_size, hidden_size, bias, dtype)
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size, **kw))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **kw)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **kw)) if bias else None
        reset_uniform(self, hidden_size)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> LSTMState:
        if hx is not None and not (isinstance(hx, tuple | list) and len(hx) == 2):
            what = f"{type(hx).__name__} of {len(hx)}" if isinstance(hx, tuple | list) else type(hx).__name__
            raise StateTypeError(f"LSTMCell: hx must be a pair (h_0, c_0), got {what}.")
        check_cell_call(self, input, () if hx is None else tuple(hx))
        x, unbatched = _batched(input)
        if hx is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            hx = (zeros, zeros)
        h_prev, c_prev = (_batched(t)[0] for t in hx)
        h, c = lstm_step(x, h_prev, c_prev, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return LSTMState(h.squeeze(0), c.squeeze(0)) if unbatched else LSTMState(h, c)
