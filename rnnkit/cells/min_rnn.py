"""minGRU and minLSTM (Feng et al., 2024, "Were RNNs All We Needed?"), one step and in log space.

The gates see the input only, never h_prev, so every step is h_t = a_t * h_{t-1} + b_t with
a_t, b_t known for all t before the recurrence starts: a linear recurrence that a parallel scan
computes over a whole sequence at once (``rnnkit.layers.scan``). For an input x (B, I) and h_prev (B, H):

minGRU (weight_ih (2H, I), blocks z, h):
    z = sigmoid(W_iz x + b_iz)                        (1)  update gate
    h~ = g(W_ih x + b_ih)                             (2)  candidate state
    h = (1 - z) * h_prev + z * h~                     (3)

minLSTM (weight_ih (3H, I), blocks f, i, h):
    f = sigmoid(W_if x + b_if)                        (4)  forget gate
    i = sigmoid(W_ii x + b_ii)                        (5)  input gate
    h~ = g(W_ih x + b_ih)                             (6)  candidate state
    f' = f / (f + i),   i' = i / (f + i)              (7)  normalised: f' + i' = 1, so h does not drift in scale
    h = f' * h_prev + i' * h~                         (8)

g(x) = x + 1/2 for x >= 0, sigmoid(x) below           (9)  the paper's activation for the log-space version

The paper's plain version has h~ = W x + b; with g, h~ > 0, so b_t = z * h~ > 0 has a logarithm and
the scan runs in log space (log-cumsum-exp, Heinsen 2023), which does not overflow or underflow
where products of many gates would. In log space (softplus(k) = log(1 + e^k)):

    minGRU:   log a = log(1 - z) = -softplus(k_z),    log b = log z + log h~ = -softplus(-k_z) + log g(k_h)   (10)
    minLSTM:  d = softplus(-k_f) - softplus(-k_i),    log a = log f' = -softplus(d),
              log b = log i' + log h~ = -softplus(-d) + log g(k_h)                                           (11)
    log g(x) = log(x + 1/2) for x >= 0, -softplus(-x) below                                                  (12)
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.rnn import _batched, check_cell_args, check_cell_call

# gate blocks of weight_ih, in order; the cell's name picks its row
MIN_GATES = {"mingru": 2, "minlstm": 3}


def g(x: Tensor) -> Tensor:
    """The paper's activation (9): positive everywhere, continuous at 0, linear above it."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))  # (9)


def log_g(x: Tensor) -> Tensor:
    """log g(x) (12), computed without forming g(x) where that would lose digits."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))  # (12)


def mingru_step(
    x: Tensor, h_prev: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None,
    record: dict[str, Tensor] | None = None,
) -> Tensor:
    """One minGRU step. Shapes: x (B, I), h_prev (B, H), weight_ih (2H, I). ``record`` receives z and h~. Returns h (B,
    H)."""
    k_z, k_h = F.linear(x, weight_ih, bias_ih).chunk(2, dim=-1)  # (B, H) each
    z = torch.sigmoid(k_z)  # (1)
    h_tilde = g(k_h)  # (2)
    h = (1 - z) * h_prev + z * h_tilde  # (3)
    if record is not None:
        record.update(z=z, h_tilde=h_tilde)
    return h


def minlstm_step(
    x: Tensor, h_prev: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None,
    record: dict[str, Tensor] | None = None,
) -> Tensor:
    """One minLSTM step. Shapes: x (B, I), h_prev (B, H), weight_ih (3H, I). ``record`` receives f', i', h~. Returns h
    (B, H)."""
    k_f, k_i, k_h = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)  # (B, H) each
    f = torch.sigmoid(k_f)  # (4)
    i = torch.sigmoid(k_i)  # (5)
    h_tilde = g(k_h)  # (6)
    f_n, i_n = f / (f + i), i / (f + i)  # (7)
    h = f_n * h_prev + i_n * h_tilde  # (8)
    if record is not None:
        record.update(f=f_n, i=i_n, h_tilde=h_tilde)
    return h


def mingru_coefficients(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """a and b of h_t = a_t * h_{t-1} + b_t, from (1)-(3), for inputs x (..., I); each (..., H)."""
    k_z, k_h = F.linear(x, weight_ih, bias_ih).chunk(2, dim=-1)
    z = torch.sigmoid(k_z)  # (1)
    return torch.sigmoid(-k_z), z * g(k_h)  # (3): a = 1 - z (as sigmoid(-k), exact where z is near 1), b = z * h~


def minlstm_coefficients(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """a and b of h_t = a_t * h_{t-1} + b_t, from (4)-(8), for inputs x (..., I); each (..., H)."""
    k_f, k_i, k_h = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)  # (4), (5)
    total = f + i
    return f / total, i / total * g(k_h)  # (7), (8): a = f', b = i' * h~


def mingru_log_coefficients(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """log a and log b of h_t = a_t * h_{t-1} + b_t (10) for inputs x (..., I), e.g. (B, T, I); each (..., H)."""
    k_z, k_h = F.linear(x, weight_ih, bias_ih).chunk(2, dim=-1)
    return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)  # (10)


def minlstm_log_coefficients(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """log a and log b of h_t = a_t * h_{t-1} + b_t (11) for inputs x (..., I), e.g. (B, T, I); each (..., H)."""
    k_f, k_i, k_h = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)
    d = F.softplus(-k_f) - F.softplus(-k_i)  # log i - log f
    return -F.softplus(d), -F.softplus(-d) + log_g(k_h)  # (11)


MIN_STEPS = {"mingru": mingru_step, "minlstm": minlstm_step}
MIN_COEFFICIENTS = {"mingru": mingru_coefficients, "minlstm": minlstm_coefficients}
MIN_LOG_COEFFICIENTS = {"mingru": mingru_log_coefficients, "minlstm": minlstm_log_coefficients}


class _MinCell(nn.Module):
    """What the two cells share: one weight_ih (G*H, I), an optional bias_ih, and the forward of torch.nn.GRUCell."""

    mode = ""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        input_size, hidden_size = check_cell_args(self, input_size, hidden_size, bias, dtype)
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        G = MIN_GATES[self.mode]
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G * hidden_size, input_size, **kw))
        self.bias_ih = nn.Parameter(torch.empty(G * hidden_size, **kw)) if bias else None
        # torch.nn.Linear's initialisation: the gates read the input only, so fan-in is I, not H
        bound = 1.0 / math.sqrt(input_size) if input_size > 0 else 0.0
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        check_cell_call(self, input, () if hx is None else (hx,))
        x, unbatched = _batched(input)
        h_prev = _batched(hx)[0] if hx is not None else x.new_zeros(x.size(0), self.hidden_size)
        h = MIN_STEPS[self.mode](x, h_prev, self.weight_ih, self.bias_ih)
        return h.squeeze(0) if unbatched else h


class MinGRUCell(_MinCell):
    """A minGRU cell, equations (1)-(3): ``cell(x, h_prev) -> h`` with x (B, I) or (I,)."""

    mode = "mingru"


class MinLSTMCell(_MinCell):
    """A minLSTM cell, equations (4)-(8): ``cell(x, h_prev) -> h`` with x (B, I) or (I,); its state is h alone."""

    mode = "minlstm"
