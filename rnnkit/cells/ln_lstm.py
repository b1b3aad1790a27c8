"""Layer-normalised LSTM step (Ba, Kiros & Hinton, 2016, "Layer Normalization", sec. 6.5).

The input and recurrent contributions are normalised separately, and so is the cell
state before it is squashed; each normalisation has its own gain and shift:

    gates = LN(W_ih x; a_ih, s_ih) + LN(W_hh h_prev; a_hh, s_hh) + b     (1)
    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the four blocks      (2)
    c = f * c_prev + i * g                                               (3)
    h = o * tanh(LN(c; a_c, s_c))                                        (4)
    h = W_hr h                                                           (5)  only with a projection

Normalisation keeps the pre-activations in the gates' sensitive range whatever the
scale of the weights, which steadies training of long sequences.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.lstm import LSTMState


def ln_lstm_step(
    x: Tensor,
    h_prev: Tensor,
    c_prev: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias: Tensor | None,
    ln_ih: tuple[Tensor, Tensor],
    ln_hh: tuple[Tensor, Tensor],
    ln_c: tuple[Tensor, Tensor],
    eps: float = 1e-5,
    record: dict[str, Tensor] | None = None,
    weight_hr: Tensor | None = None,
) -> LSTMState:
    """One layer-normalised LSTM step. Shapes: x (B, I), h_prev (B, P or H), c_prev (B, H), weight_hr (P, H);
    each ln_* is a (gain, shift) pair of shape (4H,) for ln_ih and ln_hh and (H,) for ln_c. Returns LSTMState(h, c)."""
    four_h = weight_ih.size(0)
    gates = F.layer_norm(F.linear(x, weight_ih), (four_h,), *ln_ih, eps=eps)  # (B, 4H)
    gates = gates + F.layer_norm(F.linear(h_prev, weight_hh), (four_h,), *ln_hh, eps=eps)  # (1)
    if bias is not None:
        gates = gates + bias
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)  # (2)
    c = f * c_prev + i * g  # (3)
    h = o * torch.tanh(F.layer_norm(c, (c.size(1),), *ln_c, eps=eps))  # (4)
    if weight_hr is not None:
        h = F.linear(h, weight_hr)  # (5)
    if record is not None:
        record.update(i=i, f=f, g=g, o=o)
    return LSTMState(h, c)
