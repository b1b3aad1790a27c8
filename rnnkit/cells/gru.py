"""Gated recurrent unit (Cho et al., 2014), in PyTorch's formulation.

One step, for an input x (B, I) and the previous hidden state h_prev (B, H), with the
gate blocks in PyTorch's order r, z, n:

    r = sigmoid(W_ir x + b_ir + W_hr h_prev + b_hr)          (1)  reset gate
    z = sigmoid(W_iz x + b_iz + W_hz h_prev + b_hz)          (2)  update gate
    n = tanh(W_in x + b_in + r * (W_hn h_prev + b_hn))       (3)  new (candidate) state
    h = (1 - z) * n + z * h_prev                             (4)

In (3) the reset gate multiplies W_hn h_prev + b_hn, after the matrix multiply, as
cuDNN and PyTorch do (the paper resets h_prev before it); that keeps one matrix
multiply per step for all three blocks.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.rnn import _batched, check_cell_args, check_cell_call, reset_uniform


def gru_step(
    x: Tensor,
    h_prev: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    record: dict[str, Tensor] | None = None,
    recurrent_mask: Tensor | None = None,
) -> Tensor:
    """One GRU step. Shapes: x (B, I), h_prev (B, H), weight_ih (3H, I), weight_hh (3H, H).

    ``record``, when given, receives the gates r, z, n (each (B, H)). ``recurrent_mask`` (B, H)
    is a dropout mask for h_prev inside the matrix multiply only; the carry z * h_prev in (4)
    stays undropped. Returns h (B, H).
    """
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    gi = F.linear(x, weight_ih, bias_ih)  # (B, 3H)
    gh = F.linear(h_in, weight_hh, bias_hh)  # (B, 3H)
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r)  # (1)
    z = torch.sigmoid(i_z + h_z)  # (2)
    n = torch.tanh(i_n + r * h_n)  # (3)
    h = (1 - z) * n + z * h_prev  # (4)
    if record is not None:
        record.update(r=r, z=z, n=n)
    return h


class GRUCell(nn.Module):
    """A GRU cell with ``torch.nn.GRUCell``'s parameters, names and forward signature."""

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
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size, **kw))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size, **kw)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size, **kw)) if bias else None
        reset_uniform(self, hidden_size)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        check_cell_call(self, input, () if hx is None else (hx,))
        x, unbatched = _batched(input)
        h_prev = _batched(hx)[0] if hx is not None else x.new_zeros(x.size(0), self.hidden_size)
        h = gru_step(x, h_prev, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.squeeze(0) if unbatched else h
