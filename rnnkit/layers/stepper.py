"""One step at a time through a whole stack, for generation at batch size 1.

Calling ``torch.nn.LSTM`` once per step pays for a full sequence kernel every step
(argument checks, flat-weight handling, a T=1 loop): ~200-300 us at H=128 on a small
CPU, where the arithmetic itself takes a few microseconds. A step at batch 1 is bound by
reading the weights once, plus a fixed cost per PyTorch op, so the ``Stepper`` keeps
both small: the weights are rearranged once (``refresh``), every buffer is allocated
once, and a layer costs one matrix multiply plus a handful of in-place gate ops:

    LSTM / Elman:  gates = [x, h_prev] @ [W_ih; W_hh]^T + (b_ih + b_hh)     one addmm
    GRU:           gi = x @ W_ih^T + b_ih,  gh = h_prev @ W_hh^T + b_hh     two (r * gh_n needs gh apart)

The LSTM gate blocks are reordered from PyTorch's i, f, g, o to i, f, o, g, so that the
three sigmoids are one op on one contiguous slice. A layer-normalised LSTM has no such
shortcut; it steps through ``ln_lstm_step`` directly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.cells import ln_lstm_step
from rnnkit.layers.recurrent import GATES, RecurrentBase


class Stepper:
    """Batch-1 (or small-batch) generation: one step at a time, state kept, minimal work per step.

    Equal to the layer's own forward (in eval mode: no dropout) run over the same sequence.
    The weights are copied once; call ``refresh()`` after they change.

    Args:
        layer: a unidirectional ``rnnkit.LSTM``, ``GRU`` or ``RNN``.
        batch_size: B, the number of sequences stepped together.
    Shapes:
        step: x (B, I) -> top-layer output (B, H_out). ``state``: h (L, B, H_out), or (h, c) with c (L, B, H).
    """

    def __init__(self, layer: RecurrentBase, batch_size: int = 1) -> None:
        if not isinstance(layer, RecurrentBase):
            raise TypeError(
                f"Stepper: expected an rnnkit LSTM, GRU or RNN layer, got {type(layer).__name__}. "
                "Convert a torch.nn layer first with rnnkit.from_torch(layer)."
            )
        if layer.bidirectional:
            raise ValueError(
                "Stepper: the layer is bidirectional; its reverse direction needs the whole sequence, "
                "so it cannot be run one step at a time. Step a unidirectional layer instead."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Stepper: batch_size must be a positive integer, got {batch_size!r}.")
        self.layer, self.batch_size = layer, batch_size
        self.mode = layer.mode
        self.L, self.H = layer.num_layers, layer.hidden_size
        self.H_out = layer.proj_size or layer.hidden_size
        self.G = GATES[self.mode]
        self.refresh()
        self.reset()

    # ---- weights and buffers ------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the layer's weights (and reallocate the buffers if its dtype or device changed)."""
        layer, B, H, H_out, G = self.layer, self.batch_size, self.H, self.H_out, self.G
        ref = layer.weight_ih_l0
        kw: dict[str, Any] = {"dtype": ref.dtype, "device": ref.device}
        self.in_sizes = [layer.input_size] + [H_out] * (self.L - 1)
        self.weights: list[tuple[Tensor | None, ...]] = []
        with torch.no_grad():
            for l in range(self.L):
                p = layer.direction_params(l, 0)
                if layer.layer_norm:
                    self.weights.append((p.weight_ih, p.weight_hh, _bias_sum(p.bias_ih, p.bias_hh), *(p.ln or ())))
                elif self.mode == "gru":
                    self.weights.append((p.weight_ih.t().contiguous(), p.weight_hh.t().contiguous(), p.bias_ih, p.bias_hh))
                else:
                    w = torch.cat([p.weight_ih, p.weight_hh], dim=1)  # (G*H, I_l + H_out)
                    b = _bias_sum(p.bias_ih, p.bias_hh)
                    if self.mode == "lstm":
                        w, b = _ifgo_to_ifog(w, H), (None if b is None else _ifgo_to_ifog(b, H))
                    w_hr = None if p.weight_hr is None else p.weight_hr.t().contiguous()  # (H, P)
                    self.weights.append((w.t().contiguous(), b, w_hr))  # (I_l + H_out, G*H)
            # [x, h_prev] per layer: h_prev lives in the right-hand columns, x in the left
            self.xh = [torch.zeros(B, n + H_out, **kw) for n in self.in_sizes]  # (B, I_l + H_out) each
            self.c = torch.zeros(self.L, B, H, **kw) if self.mode == "lstm" else None  # (L, B, H)
            self.gates = torch.empty(B, G * H, **kw)  # (B, G*H)
            self.gates_h = torch.empty(B, G * H, **kw)  # GRU only: h_prev @ W_hh^T + b_hh
            self.tmp = torch.empty(B, H, **kw)  # (B, H)

    def reset(self, hx: Tensor | tuple[Tensor, Tensor] | None = None) -> None:
        """Zero the state, or set it to hx in the layer's format: h_0 (L, B, H_out), an LSTM (h_0, c_0)."""
        L, B, H, H_out = self.L, self.batch_size, self.H, self.H_out
        is_lstm = self.mode == "lstm"
        with torch.no_grad():
            if hx is None:
                for xh in self.xh:
                    xh.zero_()
                if self.c is not None:
                    self.c.zero_()
                return
            if is_lstm and not (isinstance(hx, tuple | list) and len(hx) == 2):
                raise TypeError(f"Stepper.reset: an LSTM state is a pair (h_0, c_0), got {type(hx).__name__}.")
            if not is_lstm and not isinstance(hx, Tensor):
                raise TypeError(f"Stepper.reset: expected one tensor h_0 of shape ({L}, {B}, {H_out}), got {type(hx).__name__}.")
            h0 = hx[0] if is_lstm else hx
            _check_shape("h_0", h0, (L, B, H_out))
            for l, xh in enumerate(self.xh):
                xh[:, self.in_sizes[l]:].copy_(h0[l])
            if self.c is not None:
                c0 = hx[1]
                _check_shape("c_0", c0, (L, B, H))
                self.c.copy_(c0)

    @property
    def state(self) -> Tensor | tuple[Tensor, Tensor]:
        """The current state, a copy in the layer's hx format: h (L, B, H_out), an LSTM (h, c)."""
        h = torch.stack([xh[:, n:] for xh, n in zip(self.xh, self.in_sizes, strict=True)])  # (L, B, H_out)
        return (h, self.c.clone()) if self.c is not None else h

    # ---- one step ------------------------------------------------------------------------------

    def step(self, x: Tensor) -> Tensor:
        """Advance every layer by one step on x (B, I); return the top layer's output (B, H_out)."""
        xh0 = self.xh[0]
        if not isinstance(x, Tensor) or tuple(x.shape) != (self.batch_size, self.in_sizes[0]):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"Stepper.step: expected x of shape (B, I) = ({self.batch_size}, {self.in_sizes[0]}), got {got}. "
                "Pass one time step; for a whole sequence call the layer itself."
            )
        if x.dtype != xh0.dtype:
            raise TypeError(f"Stepper.step: expected dtype {xh0.dtype} (the layer's), got {x.dtype}.")
        with torch.no_grad():
            xh0[:, : self.in_sizes[0]].copy_(x)
            for l in range(self.L):
                h = self._layer_step(l)  # (B, H_out), written into xh[l]'s h_prev columns
                if l + 1 < self.L:
                    self.xh[l + 1][:, : self.in_sizes[l + 1]].copy_(h)
            return h.clone()

    def _layer_step(self, l: int) -> Tensor:
        """One step of layer l, reading and updating its buffers in place; returns its h slot (B, H_out)."""
        xh, n, H = self.xh[l], self.in_sizes[l], self.H
        x, h_prev = xh[:, :n], xh[:, n:]
        if self.layer.layer_norm:
            assert self.c is not None
            w_ih, w_hh, b, a_ih, s_ih, a_hh, s_hh, a_c, s_c = self.weights[l]
            h, c = ln_lstm_step(x, h_prev, self.c[l], w_ih, w_hh, b, (a_ih, s_ih), (a_hh, s_hh), (a_c, s_c))  # type: ignore[arg-type]
            self.c[l].copy_(c)
            h_prev.copy_(h)
            return h_prev
        if self.mode == "gru":
            return self._gru_step(l, x, h_prev)
        w, b, w_hr = self.weights[l]
        gates = self.gates
        _affine(xh, w, b, gates)  # (B, G*H)
        if self.mode == "rnn_tanh":
            torch.tanh(gates, out=h_prev)
        elif self.mode == "rnn_relu":
            torch.clamp_min(gates, 0, out=h_prev)
        else:
            assert self.c is not None
            c = self.c[l]  # (B, H)
            gates[:, : 3 * H].sigmoid_()  # i, f, o
            i, f, o, g = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :].tanh_()
            c.mul_(f).addcmul_(i, g)  # c = f * c_prev + i * g
            tc = torch.tanh(c, out=self.tmp)
            if w_hr is None:
                torch.mul(o, tc, out=h_prev)  # h = o * tanh(c)
            else:
                tc.mul_(o)
                torch.mm(tc, w_hr, out=h_prev)  # h = W_hr (o * tanh(c))
        return h_prev

    def _gru_step(self, l: int, x: Tensor, h_prev: Tensor) -> Tensor:
        w_ih_t, w_hh_t, b_ih, b_hh = self.weights[l]
        H, gi, gh = self.H, self.gates, self.gates_h
        _affine(x, w_ih_t, b_ih, gi)  # (B, 3H): r, z, n blocks of W_i x + b_i
        _affine(h_prev, w_hh_t, b_hh, gh)  # (B, 3H): same blocks of W_h h_prev + b_h
        rz = gi[:, : 2 * H].add_(gh[:, : 2 * H]).sigmoid_()
        r, z = rz[:, :H], rz[:, H:]
        n = gi[:, 2 * H :].addcmul_(r, gh[:, 2 * H :]).tanh_()  # n = tanh(i_n + r * h_n)
        d = torch.sub(h_prev, n, out=self.tmp).mul_(z)
        torch.add(n, d, out=h_prev)  # h = (1 - z) * n + z * h_prev = n + z * (h_prev - n)
        return h_prev


def _affine(x: Tensor, w_t: Tensor | None, b: Tensor | None, out: Tensor) -> None:
    if b is None:
        torch.mm(x, w_t, out=out)  # type: ignore[arg-type]
    else:
        torch.addmm(b, x, w_t, out=out)  # type: ignore[arg-type]


def _bias_sum(b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor | None:
    return None if b_ih is None or b_hh is None else b_ih + b_hh


def _ifgo_to_ifog(w: Tensor, H: int) -> Tensor:
    """Reorder the LSTM gate blocks (rows) from PyTorch's i, f, g, o to i, f, o, g."""
    i, f, g, o = w.split(H, dim=0)
    return torch.cat([i, f, o, g], dim=0)


def _check_shape(what: str, t: Any, expected: tuple[int, ...]) -> None:
    if not isinstance(t, Tensor) or tuple(t.shape) != expected:
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"Stepper.reset: expected {what} of shape (L, B, H) = {expected}, got {got}.")
