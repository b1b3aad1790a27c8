"""Elman recurrent cell (Elman, 1990, "Finding Structure in Time").

One step, for an input x (B, I) and the previous hidden state h_prev (B, H):

    h = act(W_ih x + b_ih + W_hh h_prev + b_hh)        (1)

with act = tanh (the default) or relu. The two biases are redundant (their sum is
what matters); both exist so that a ``torch.nn.RNN`` state dict copies across unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import (
    ArgumentValueError,
    DtypeError,
    ShapeError,
    StateTypeError,
    check_dtype,
    check_flag,
    check_size,
)

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


def rnn_step(
    x: Tensor,
    h_prev: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
    record: dict[str, Tensor] | None = None,
) -> Tensor:
    """One Elman step. Shapes: x (B, I), h_prev (B, H), weight_ih (H, I), weight_hh (H, H).

    ``record``, when given, receives the pre-activation ``a`` so that a caller can look
    inside without running the math a second time. Returns h (B, H).
    """
    a = F.linear(x, weight_ih, bias_ih) + F.linear(h_prev, weight_hh, bias_hh)  # (B, H)
    h = ACTIVATIONS[nonlinearity](a)  # (1)
    if record is not None:
        record["a"] = a
    return h


class RNNCell(nn.Module):
    """An Elman cell with ``torch.nn.RNNCell``'s parameters, names and forward signature."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        input_size, hidden_size = check_cell_args(self, input_size, hidden_size, bias, dtype)
        if nonlinearity not in ACTIVATIONS:
            # torch.nn.RNNCell takes any string here and fails at the first call; this fails at once
            raise ArgumentValueError(
                f"RNNCell: unknown nonlinearity {nonlinearity!r}; expected one of {sorted(ACTIVATIONS)}"
            )
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, **kw))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size, **kw)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(hidden_size, **kw)) if bias else None
        reset_uniform(self, hidden_size)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        check_cell_call(self, input, () if hx is None else (hx,))
        x, unbatched = _batched(input)
        h_prev = _batched(hx)[0] if hx is not None else x.new_zeros(x.size(0), self.hidden_size)
        h = rnn_step(x, h_prev, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)
        return h.squeeze(0) if unbatched else h


def reset_uniform(module: nn.Module, hidden_size: int) -> None:
    """PyTorch's initialisation for every recurrent weight and bias: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-bound, bound)


def _batched(t: Tensor) -> tuple[Tensor, bool]:
    """Cells accept (I,) as well as (B, I), as torch.nn's do; one line of bookkeeping."""
    return (t.unsqueeze(0), True) if t.dim() == 1 else (t, False)


def check_cell_args(cell: nn.Module, input_size: Any, hidden_size: Any, bias: Any, dtype: Any) -> tuple[int, int]:
    """A cell's sizes are integers >= 0 (torch.nn's cells accept 0), bias a bool; returns the sizes as ints."""
    name = type(cell).__name__
    check_flag(name, "bias", bias)
    check_dtype(name, dtype)
    return check_size(name, "input_size", input_size, 0), check_size(name, "hidden_size", hidden_size, 0)


def check_cell_call(cell: nn.Module, input: Tensor, states: tuple[Tensor, ...]) -> None:
    """Check a cell's input (B, I) or (I,) and its states (B, H) or (H,), with a message that says how to fix them.

    The dtypes are those of the parameters, for the input and the first state; torch.nn's LSTMCell
    accepts a c_0 of another dtype (the result is promoted), and so does this one.
    """
    name = type(cell).__name__
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected a floating-point tensor input, got {type(input).__name__}.")
    if not input.is_floating_point():
        raise DtypeError(f"{name}: expected a floating-point tensor input, got dtype {input.dtype}. Embed token ids "
                         "first (torch.nn.Embedding).")
    if input.dim() not in (1, 2) or input.size(-1) != cell.input_size:
        raise ShapeError(f"{name}: expected input of shape (B, {cell.input_size}) or ({cell.input_size},), got "
                         f"{tuple(input.shape)}. "
                         "A cell takes one time step; for whole sequences use the layers (rnnkit.LSTM, GRU, RNN).")
    expected = (*input.shape[:-1], cell.hidden_size)
    for k, state in enumerate(states):
        what = "hx" if len(states) == 1 else ("h_0", "c_0")[k]
        if not isinstance(state, Tensor):
            raise StateTypeError(f"{name}: {what} must be a torch.Tensor, got {type(state).__name__}.")
        if tuple(state.shape) != expected:
            raise ShapeError(f"{name}: expected {what} of shape {expected} to go with input {tuple(input.shape)}, got "
                             f"{tuple(state.shape)}.")
    if torch.is_autocast_enabled(input.device.type):  # autocast converts by itself
        return
    weight = cell.weight_ih
    checked = [("input", input)] + ([("hx" if len(states) == 1 else "h_0", states[0])] if states else [])
    for what, t in checked:
        if t.dtype != weight.dtype:
            raise DtypeError(
                f"{name}: {what} has dtype {t.dtype} but the cell's parameters have {weight.dtype}; "
                f"convert one of them, e.g. {what}.to({weight.dtype}) or cell.to({t.dtype})."
            )
