"""Two ways to run the linear recurrence h_t = a_t * h_{t-1} + b_t over a whole sequence (a_t > 0).

**In parallel, in log space** (``log_space_scan``; Heinsen, 2023). Unrolled, with A_t = log a_1 + ... + log a_t (A_0 =
0):

    h_t = exp(A_t) * h_0 + sum_{k<=t} exp(A_t - A_k) * b_k                               (1)
        = exp(A_t) * h_0 + exp(A_t + logcumsumexp_{k<=t}(log b_k - A_k))                  (2)

Two cumulative ops over time (cumsum, logcumsumexp) instead of T dependent steps; both have
PyTorch backward passes, so autograd gives the gradient. b_t must be positive (its log is
taken); h_0 may have any sign, because its term stays out of the log (the paper puts log h_0
into the scan, which needs h_0 > 0; a zero initial state would be log 0 = -inf).

Precision: A_t and the logcumsumexp grow like t while h_t stays O(1), so the sum in (2) loses
about |A_t| * eps of relative precision. The scan therefore runs over chunks of at most
``chunk`` steps, carrying h from one chunk's end into the next's h_0: in float32 with chunks of
64 the error stays near 5e-6 whatever T is (unchunked, 1.6e-4 at T = 2,000) (tests/layers/test_layers_min_rnn.py).

**One step after another** (``sequential_scan``), with a hand-written backward, itself a recurrence
running backwards in time. With g_t = dL/dh_t in total (through h_{t+1} too) and o_t = dL/dh_t from
the output alone:

    g_t = o_t + a_{t+1} * g_{t+1},    dL/db_t = g_t,    dL/da_t = g_t * h_{t-1},    dL/dh_0 = a_1 * g_1     (3)

The parallel form is what makes these cells fast on a GPU. A CPU with two cores has no parallelism
for it to use, and there the log space costs: about 20 elementwise passes over (B, T, H) forward and
more backward, against T small in-place steps (two passes' worth of arithmetic). One layer, B=32,
T=64, I=64, H=256, forward + backward, one thread, 7 interleaved rounds (medians), on this project's
2-core machine under heavy load (load average 20, so only the ratios mean anything): minGRU 451 ms in
log space, 101 ms sequential; minLSTM 472 and 158; rnnkit.LSTM 257. The layers therefore use the
sequential scan on the CPU and the log-space scan elsewhere (``scan="auto"``); both are tested against
the plain recurrence.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

CHUNK = 64  # steps per log-space scan; longer sequences are scanned chunk after chunk


def log_space_scan(log_a: Tensor, log_b: Tensor, h0: Tensor | None = None, chunk: int = CHUNK) -> Tensor:
    """All states h_1..h_T of h_t = a_t * h_{t-1} + b_t, given log a and log b.

    Shapes: log_a, log_b (B, T, H); h0 (B, H) or None (zeros). Returns h (B, T, H).
    """
    if chunk < 1:
        raise ValueError(f"log_space_scan: chunk must be at least 1, got {chunk!r}.")
    pieces = []
    h = h0
    for start in range(0, log_a.size(1), chunk):
        piece = _scan(log_a[:, start : start + chunk], log_b[:, start : start + chunk], h)  # (B, T_c, H)
        pieces.append(piece)
        h = piece[:, -1]  # (B, H): the next chunk starts from here
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


def sequential_scan(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """All states h_1..h_T of h_t = a_t * h_{t-1} + b_t, one step after another, with the backward (3).

    Shapes: a, b (B, T, H); h0 (B, H). Returns h (B, T, H).
    """
    return _SequentialScan.apply(a, b, h0)


class _SequentialScan(torch.autograd.Function):
    """The loop forward, and (3) backward: T small in-place steps each way, no graph per step."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
        h = torch.empty_like(b)  # (B, T, H)
        prev = h0
        for t in range(a.size(1)):
            prev = torch.addcmul(b[:, t], a[:, t], prev, out=h[:, t])  # h_t = a_t * h_{t-1} + b_t
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        a, h, h0 = ctx.saved_tensors
        grad_b = torch.empty_like(grad_h)  # (B, T, H): g_t of (3)
        carry = torch.zeros_like(h0)  # a_{t+1} * g_{t+1}, zero past the end
        for t in range(a.size(1) - 1, -1, -1):
            g_t = torch.add(grad_h[:, t], carry, out=grad_b[:, t])  # (3): g_t = o_t + a_{t+1} g_{t+1}
            carry = a[:, t] * g_t
        h_prev = torch.cat([h0.unsqueeze(1), h[:, :-1]], dim=1)  # (B, T, H): h_{t-1}
        return grad_b * h_prev, grad_b, carry  # (3): dL/da, dL/db, dL/dh_0 = a_1 g_1


def _scan(log_a: Tensor, log_b: Tensor, h0: Tensor | None) -> Tensor:
    """Equation (2) over one chunk (B, T, H)."""
    A = torch.cumsum(log_a, dim=1)  # (B, T, H): log of a_1 * ... * a_t
    h = torch.exp(A + torch.logcumsumexp(log_b - A, dim=1))  # (2), the sum over k <= t
    if h0 is not None:
        h = h + torch.exp(A) * h0.unsqueeze(1)  # (2), the initial state's term
    return h
