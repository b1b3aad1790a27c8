"""An LSTM over a padded batch with lengths, as PyTorch's dense sequence kernel run segment by segment.

PyTorch's packed-sequence LSTM on the CPU has a backward pass that grows badly with length
(measured, B=32, H=256, one layer, lengths between T/2 and T, forward + backward against the same
batch without lengths: 2.7x at T=100, 3.6x at T=200, 20x at T=400). Its dense kernel (oneDNN)
does not have that problem, but it runs every row to the end, which would carry each state
past its own sequence.

So the batch is sorted by length, longest first, and time is cut at every distinct length:
within a segment the same first b rows are all still running, so one dense call runs exactly
them. Between segments, the rows that have just ended drop out with their final (h, c). For
distinct lengths L_1 < L_2 < ... the segments are [0, L_1), [L_1, L_2), ...; segment j runs the
rows whose length is at least L_j. A reverse direction runs on each sequence reversed within
its own length (``reverse_padded``), which puts every sequence's steps at the front again.

Everything is ordinary differentiable calls, so autograd forms the backward pass. The cost is
one dense call per distinct length and per layer and direction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.layers.fast.stack import Stack, torch_stack
from rnnkit.layers.sequence import run_stack

Segment = tuple[int, int, int]  # steps [s0, s1) run the first b rows


def segments(lengths: Tensor) -> list[Segment]:
    """The segments for lengths sorted longest first: [(s0, s1, b), ...] in time order, b non-increasing."""
    out, s0 = [], 0
    for length in sorted(set(lengths.tolist())):
        out.append((s0, length, int((lengths >= length).sum())))
        s0 = length
    return out


def _direction(seq: Tensor, h: Tensor, c: Tensor, one: Stack, parts: list[Segment],
               T: int) -> tuple[Tensor, Tensor, Tensor]:
    """One direction of one layer (``one``: a one-layer, one-direction stack):
    seq (T, B, I), h (1, B, P), c (1, B, H) -> out (T, B, P), h_n, c_n (1, B, ·)."""
    B = seq.size(1)
    outs, done_h, done_c = [], [], []
    for s0, s1, b in parts:
        if b < h.size(1):  # rows b.. ended with the previous segment: keep their state
            done_h.append(h[:, b:])
            done_c.append(c[:, b:])
            h, c = h[:, :b], c[:, :b]
        y, h, c = torch_stack(one, seq[s0:s1, :b], (h.contiguous(), c.contiguous()))
        outs.append(F.pad(y, (0, 0, 0, B - b)))  # rows that have ended output zeros
    done_h.append(h)
    done_c.append(c)
    out = torch.cat(outs)
    out = F.pad(out, (0, 0, 0, 0, 0, T - out.size(0)))  # steps past the longest sequence
    return out, torch.cat(done_h[::-1], dim=1), torch.cat(done_c[::-1], dim=1)


def lstm_by_segments(stack: Stack, x: Tensor, h0: Tensor, c0: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A whole LSTM stack on padded x (T, B, I) with lengths (B,), from (h0, c0).

    Returns out (T, B, D*P) with zeros past each length, h_n (L*D, B, P) and c_n (L*D, B, H)
    taken at each sequence's own last step, all in the caller's batch order.
    """
    T = x.size(0)
    lengths, order = torch.sort(lengths.cpu(), descending=True, stable=True)
    restore = torch.argsort(order).to(x.device)
    order = order.to(x.device)
    x, h0, c0 = x.index_select(1, order), h0.index_select(1, order), c0.index_select(1, order)
    parts = segments(lengths)
    h_n, c_n = [], []

    def direction(k: int, seq: Tensor) -> Tensor:
        one = Stack("lstm", stack.direction_weights(k), stack.has_biases, 1, 0.0, stack.training, False)
        out, h, c = _direction(seq, h0[k : k + 1], c0[k : k + 1], one, parts, T)
        h_n.append(h)
        c_n.append(c)
        return out

    layer_input = run_stack(x, lengths, stack.num_layers, stack.bidirectional, stack.dropout, stack.training, direction)
    return (
        layer_input.index_select(1, restore),
        torch.cat(h_n).index_select(1, restore),
        torch.cat(c_n).index_select(1, restore),
    )
