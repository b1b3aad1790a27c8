"""The reference path: one layer, one direction, as a plain loop over time.

It calls the cells' step functions, so the math lives in exactly one place
(``rnnkit.cells``). Masking keeps each sequence's state frozen once it has ended,
which is what makes the final state the state at that sequence's own last step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.cells import gru_step, ln_lstm_step, lstm_step, rnn_step
from rnnkit.layers.sequence import step_mask


@dataclass
class DirectionParams:
    """The parameters of one layer and one direction, as plain tensors."""

    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None = None
    bias_hh: Tensor | None = None
    weight_hr: Tensor | None = None  # LSTM projection
    ln: tuple[Tensor, ...] | None = None  # layer-norm LSTM: (a_ih, s_ih, a_hh, s_hh, a_c, s_c)


def run_direction(
    mode: str,
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    p: DirectionParams,
    lengths: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
    trace: dict[str, list[Tensor]] | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Run one direction of one layer over x (T, B, I), forward in time.

    mode is "lstm", "gru", "rnn_tanh" or "rnn_relu". h0 (B, H_out) and c0 (B, H) are the
    initial state; recurrent_mask (B, H_out), if given, is a dropout mask applied to the
    recurrent input h_prev at every step (Gal & Ghahramani, 2016). ``trace``, if given,
    collects every step's gates and states. Returns output (T, B, H_out), h_n, c_n.
    """
    alive = step_mask(lengths, x.size(0), x.device)  # (T, B, 1) or None
    h, c = h0, c0
    outputs = []
    for t in range(x.size(0)):
        record: dict[str, Tensor] | None = {} if trace is not None else None
        h_new, c_new = _step(mode, x[t], h, c, p, record, recurrent_mask)
        if alive is not None:
            # a finished sequence keeps its last state; its output past the end is zero
            h_new = torch.where(alive[t], h_new, h)
            c_new = torch.where(alive[t], c_new, c) if c is not None and c_new is not None else c_new
            outputs.append(h_new * alive[t])
        else:
            outputs.append(h_new)
        h, c = h_new, c_new
        if trace is not None and record is not None:
            record["h"] = h
            if c is not None:
                record["c"] = c
            for name, value in record.items():
                trace.setdefault(name, []).append(value)
    return torch.stack(outputs), h, c


def _step(
    mode: str,
    x: Tensor,
    h: Tensor,
    c: Tensor | None,
    p: DirectionParams,
    record: dict[str, Tensor] | None,
    recurrent_mask: Tensor | None,
) -> tuple[Tensor, Tensor | None]:
    if mode == "gru":
        return gru_step(x, h, p.weight_ih, p.weight_hh, p.bias_ih, p.bias_hh, record, recurrent_mask), None
    # LSTM and Elman use h_prev only inside the matrix multiply, so masking it here is the same thing
    h = h if recurrent_mask is None else h * recurrent_mask
    if mode == "lstm":
        assert c is not None
        if p.ln is not None:
            a_ih, s_ih, a_hh, s_hh, a_c, s_c = p.ln
            bias = None if p.bias_ih is None or p.bias_hh is None else p.bias_ih + p.bias_hh
            return ln_lstm_step(
                x, h, c, p.weight_ih, p.weight_hh, bias, (a_ih, s_ih), (a_hh, s_hh), (a_c, s_c),
                record=record, weight_hr=p.weight_hr,
            )
        return lstm_step(x, h, c, p.weight_ih, p.weight_hh, p.bias_ih, p.bias_hh, p.weight_hr, record=record)
    nonlinearity = "relu" if mode == "rnn_relu" else "tanh"
    return rnn_step(x, h, p.weight_ih, p.weight_hh, p.bias_ih, p.bias_hh, nonlinearity, record=record), None
