"""One step at a time through a whole stack, for generation at batch size 1.

Calling ``torch.nn.LSTM`` once per step pays for a full sequence kernel every step
(argument checks, flat-weight handling, a T=1 loop): ~200-300 us at H=128 on a small
CPU, where the arithmetic itself takes a few microseconds. A step at batch 1 is bound by
reading the weights once, plus a fixed cost per PyTorch op, so the ``Stepper`` keeps
both small: the weights are rearranged once (``refresh``), every buffer is allocated
once, and a layer costs one matrix multiply plus a handful of in-place gate ops:

    LSTM / Elman:  gates = [x, h_prev] @ [W_ih; W_hh]^T + (b_ih + b_hh)     one product
    GRU:           gi = x @ W_ih^T + b_ih,  gh = h_prev @ W_hh^T + b_hh     two (r * gh_n needs gh apart)

A product is ``torch.addmm`` for small weights and oneDNN with the weight packed once for
large ones (``rnnkit.layers.fast.choose.step_onednn``: at batch 1, MKL's product runs on one thread).

The LSTM gate blocks are reordered from PyTorch's i, f, g, o to i, f, o, g, so that the
three sigmoids are one op on one contiguous slice. In float32 on the CPU the LSTM's and the GRU's
gate math run as one compiled pass each (``kernels.c``): as PyTorch ops, a 2 x 512 GRU's two layers
spent about 50 of their 420 us a step on it (an AVX2 EPYC). A layer-normalised LSTM has no such
shortcut; it steps through ``ln_lstm_step`` directly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.cells import ln_lstm_step
from rnnkit.layers.fast.choose import step_native, step_onednn
from rnnkit.layers.fast.onednn import Linear, onednn_bf16_applies
from rnnkit.layers.recurrent import GATES, RecurrentBase


class Stepper:
    """Batch-1 (or small-batch) generation: one step at a time, state kept, minimal work per step.

    Each of the B rows is its own stream: ``set_rows``/``rows_state`` read and write single rows,
    so streams can join and leave between steps (continuous batching, ``rnnkit.serve``).

    Equal to the layer's own forward (in eval mode: no dropout) run over the same sequence.
    The weights are copied once; call ``refresh()`` after they change.

    Args:
        layer: a unidirectional ``rnnkit.LSTM``, ``GRU`` or ``RNN``.
        batch_size: B, the number of sequences stepped together.
        products: the dtype of the weight products, by default the layer's. ``torch.bfloat16`` keeps the
            weights in bf16 (half the bytes to read per step, where the CPU multiplies bf16 in hardware;
            ``rnnkit.utils.precision`` says where) while the state and the gate math stay in the layer's dtype.
    Shapes:
        step: x (B, I) -> top-layer output (B, H_out). ``state``: h (L, B, H_out), or (h, c) with c (L, B, H).
    """

    def __init__(self, layer: RecurrentBase, batch_size: int = 1, products: torch.dtype | None = None) -> None:
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
        if products is not None and not (isinstance(products, torch.dtype) and products.is_floating_point):
            raise TypeError("Stepper: products must be a floating torch.dtype such as torch.bfloat16, got "
                            f"{products!r}.")
        self.layer, self.batch_size, self.products = layer, batch_size, products
        self.mode = layer.mode
        self.L, self.H = layer.num_layers, layer.hidden_size
        self.H_out = layer.proj_size or layer.hidden_size
        self.G = GATES[self.mode]
        self.refresh()

    # ---- weights and buffers ------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the layer's weights; the state is kept (unless the dtype or device changed: then it is zeroed)."""
        layer, H = self.layer, self.H
        ref = layer.direction_params(0, 0).weight_ih
        self.weights: list[_NormWeights | _GRUWeights | _JointWeights] = []
        with torch.no_grad():
            for l in range(self.L):
                p = layer.direction_params(l, 0)
                if layer.layer_norm:
                    assert p.ln is not None
                    a_ih, s_ih, a_hh, s_hh, a_c, s_c = p.ln
                    b = _bias_sum(p.bias_ih, p.bias_hh)
                    self.weights.append(_NormWeights(p.weight_ih, p.weight_hh, b, (a_ih, s_ih), (a_hh, s_hh),
                                                     (a_c, s_c), p.weight_hr))
                elif self.mode == "gru":
                    B = self.batch_size
                    self.weights.append(_GRUWeights(_Affine(p.weight_ih, p.bias_ih, B, self.products),
                                                    _Affine(p.weight_hh, p.bias_hh, B, self.products)))
                else:
                    w = torch.cat([p.weight_ih, p.weight_hh], dim=1)  # (G*H, I_l + H_out)
                    b = _bias_sum(p.bias_ih, p.bias_hh)
                    if self.mode == "lstm":
                        w, b = _ifgo_to_ifog(w, H), (None if b is None else _ifgo_to_ifog(b, H))
                    w_hr = None if p.weight_hr is None else p.weight_hr.t().contiguous()  # (H, P)
                    self.weights.append(_JointWeights(_Affine(w, b, self.batch_size, self.products), w_hr))
        self.native = step_native(ref)  # the compiled LSTM and GRU gate math (kernels.c), float32 on the CPU
        z: Tensor | None = getattr(self, "z", None)
        if z is None or z.dtype != ref.dtype or z.device != ref.device:
            self._allocate(ref.dtype, ref.device)

    def resized(self, batch_size: int) -> Stepper:
        """A Stepper of another batch size over these same weights (no second copy of them), at a zero state.

        The weights stay packed for this Stepper's batch size: a product with fewer rows is still correct
        (measured on a 2-core AVX2 EPYC, a 1-row step of a 2 x 512 LSTM took the same time whether its
        weights were packed for 1, 4 or 32 rows). ``rnnkit.serve`` keeps one set of weights for all the
        batch sizes it steps.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Stepper.resized: batch_size must be a positive integer, got {batch_size!r}.")
        other = copy.copy(self)
        other.batch_size = batch_size
        other._allocate(self.z.dtype, self.z.device)
        return other

    def _allocate(self, dtype: torch.dtype, device: torch.device) -> None:
        """All buffers, once. z = [x, h_0, h_1, ..., h_{L-1}] (B, I + L*H_out): layer l reads the
        window [h_{l-1}, h_l] (x for l = 0) as its [input, h_prev], so no copy is needed between layers."""
        B, H, H_out, G, L = self.batch_size, self.H, self.H_out, self.G, self.L
        kw: dict[str, Any] = {"dtype": dtype, "device": device}
        I = self.layer.input_size
        self.z = torch.zeros(B, I + L * H_out, **kw)
        self.c = torch.zeros(L, B, H, **kw) if self.mode == "lstm" else None  # (L, B, H)
        self.gates = torch.empty(B, G * H, **kw)  # (B, G*H)
        self.gates_h = torch.empty(B, G * H, **kw)  # GRU only: h_prev @ W_hh^T + b_hh
        self.tmp = torch.empty(B, H, **kw)  # (B, H)
        starts = [0] + [I + l * H_out for l in range(L - 1)]
        ends = [I + (l + 1) * H_out for l in range(L)]
        self.windows = [self.z[:, a:e] for a, e in zip(starts, ends, strict=True)]  # [input, h_prev] of each layer
        self.h_views = [self.z[:, e - H_out : e] for e in ends]  # (B, H_out) each
        self.x_view = self.z[:, :I]
        g = self.gates
        # LSTM gate views in the reordered layout i, f, o, g
        self.lstm_views = (g[:, : 3 * H], g[:, :H], g[:, H : 2 * H], g[:, 2 * H : 3 * H], g[:, 3 * H :])

    def reset(self, hx: Tensor | tuple[Tensor, Tensor] | None = None) -> None:
        """Zero the state, or set it to hx in the layer's format: h_0 (L, B, H_out), an LSTM (h_0, c_0)."""
        L, B, H, H_out = self.L, self.batch_size, self.H, self.H_out
        is_lstm = self.mode == "lstm"
        with torch.no_grad():
            if hx is None:
                self.z.zero_()
                if self.c is not None:
                    self.c.zero_()
                return
            if is_lstm and not (isinstance(hx, tuple | list) and len(hx) == 2):
                raise TypeError(f"Stepper.reset: an LSTM state is a pair (h_0, c_0), got {type(hx).__name__}.")
            if not is_lstm and not isinstance(hx, Tensor):
                raise TypeError(f"Stepper.reset: expected one tensor h_0 of shape ({L}, {B}, {H_out}), got "
                                f"{type(hx).__name__}.")
            h0 = hx[0] if is_lstm else hx
            _check_shape("h_0", h0, (L, B, H_out))
            c0 = hx[1] if is_lstm else None
            if c0 is not None:
                _check_shape("c_0", c0, (L, B, H))
            for l, h in enumerate(self.h_views):
                h.copy_(h0[l])
            if self.c is not None and c0 is not None:
                self.c.copy_(c0)

    @property
    def state(self) -> Tensor | tuple[Tensor, Tensor]:
        """The current state, a copy in the layer's hx format: h (L, B, H_out), an LSTM (h, c)."""
        h = torch.stack(self.h_views)  # (L, B, H_out)
        return (h, self.c.clone()) if self.c is not None else h

    # ---- rows: streams joining and leaving a running batch (continuous batching) ----------------

    def rows_state(self, rows: list[int]) -> Tensor | tuple[Tensor, Tensor]:
        """The state of some rows only, a copy in hx format: h (L, R, H_out), an LSTM (h, c) with c (L, R, H)."""
        index = self._row_index(rows)
        h = torch.stack([v.index_select(0, index) for v in self.h_views])  # (L, R, H_out)
        return (h, self.c.index_select(1, index)) if self.c is not None else h

    def set_rows(self, rows: list[int], hx: Tensor | tuple[Tensor, Tensor] | None = None) -> None:
        """Set the state of some rows (zero it if hx is None); the other rows keep theirs.

        A row's step never reads another row, so a stream can join a batch that is mid-sequence:
        give it a free row and its own state, and step on. hx is h (L, R, H_out), an LSTM (h, c).
        """
        index = self._row_index(rows)
        L, R, H, H_out = self.L, len(rows), self.H, self.H_out
        if hx is None:
            zeros = torch.zeros(L, R, H_out, dtype=self.z.dtype, device=self.z.device)
            hx = (zeros,
                  torch.zeros(L, R, H, dtype=self.z.dtype, device=self.z.device)) if self.c is not None else zeros
        if self.c is not None and not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise TypeError(f"Stepper.set_rows: an LSTM state is a pair (h, c), got {type(hx).__name__}.")
        if self.c is None and not isinstance(hx, Tensor):
            raise TypeError(f"Stepper.set_rows: expected one tensor h of shape ({L}, {R}, {H_out}), got "
                            f"{type(hx).__name__}.")
        h0: Tensor = hx[0] if isinstance(hx, tuple | list) else hx
        _check_shape("h", h0, (L, R, H_out), "set_rows")
        with torch.no_grad():
            for l, v in enumerate(self.h_views):
                v.index_copy_(0, index, h0[l].to(v.dtype))
            if self.c is not None:
                c0 = hx[1]
                _check_shape("c", c0, (L, R, H), "set_rows")
                self.c.index_copy_(1, index, c0.to(self.c.dtype))

    def _row_index(self, rows: list[int]) -> Tensor:
        bad = [r for r in rows if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < self.batch_size]
        if bad or len(set(rows)) != len(rows):
            raise ValueError(
                f"Stepper: rows must be distinct integers in [0, {self.batch_size}) (the batch size), got {rows!r}."
            )
        return torch.tensor(rows, dtype=torch.long, device=self.z.device)

    # ---- one step ------------------------------------------------------------------------------

    def step(self, x: Tensor) -> Tensor:
        """Advance every layer by one step on x (B, I); return the top layer's output (B, H_out)."""
        if not isinstance(x, Tensor) or tuple(x.shape) != tuple(self.x_view.shape):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"Stepper.step: expected x of shape (B, I) = {tuple(self.x_view.shape)}, got {got}. "
                "Pass one time step; for a whole sequence call the layer itself."
            )
        if x.dtype != self.z.dtype:
            raise TypeError(f"Stepper.step: expected dtype {self.z.dtype} (the layer's), got {x.dtype}.")
        with torch.no_grad():
            self.x_view.copy_(x)
            for l in range(self.L):
                self._layer_step(l)  # writes layer l's new h into its slot of z, which is layer l+1's input
            return self.h_views[-1].clone()

    def _layer_step(self, l: int) -> None:
        """One step of layer l, in place: reads its [input, h_prev] window of z, overwrites h_prev with h."""
        xh, h_prev, weights = self.windows[l], self.h_views[l], self.weights[l]
        if isinstance(weights, _NormWeights):
            assert self.c is not None
            x = xh[:, : xh.size(1) - self.H_out]
            h, c = ln_lstm_step(x, h_prev, self.c[l], weights.w_ih, weights.w_hh, weights.b, weights.ln_ih,
                                weights.ln_hh, weights.ln_c, weight_hr=weights.w_hr)
            self.c[l].copy_(c)
            h_prev.copy_(h)
        elif isinstance(weights, _GRUWeights):
            self._gru_step(weights, xh[:, : xh.size(1) - self.H_out], h_prev)
        elif self.mode == "lstm":  # the equations of rnnkit/cells/lstm.py, numbered as there
            assert self.c is not None
            ifo, i, f, o, g = self.lstm_views
            c = self.c[l]  # (B, H)
            weights.affine(xh, self.gates)  # (B, 4H): [x, h_prev] @ [W_ih; W_hh]^T + b, the pre-activations of (1)-(4)
            if self.native is not None and weights.w_hr is None:  # (1)-(6) below, in one compiled pass (kernels.c)
                self.native.lstm_step(self.gates, c, h_prev)
                return
            ifo.sigmoid_()  # (1), (2), (4): i, f, o
            g.tanh_()  # (3)
            c.mul_(f).addcmul_(i, g)  # (5) c = f * c_prev + i * g
            tc = torch.tanh(c, out=self.tmp)
            if weights.w_hr is None:
                torch.mul(o, tc, out=h_prev)  # (6) h = o * tanh(c)
            else:
                torch.mm(tc.mul_(o), weights.w_hr, out=h_prev)  # (6), (7) h = W_hr (o * tanh(c))
        else:
            weights.affine(xh, self.gates)  # (B, H): the pre-activation a
            if self.mode == "rnn_tanh":
                torch.tanh(self.gates, out=h_prev)
            else:
                torch.clamp_min(self.gates, 0, out=h_prev)

    def _gru_step(self, weights: _GRUWeights, x: Tensor, h_prev: Tensor) -> None:
        H, gi, gh = self.H, self.gates, self.gates_h
        weights.ih(x, gi)  # (B, 3H): r, z, n blocks of W_i x + b_i
        weights.hh(h_prev, gh)  # (B, 3H): same blocks of W_h h_prev + b_h
        if self.native is not None:  # the lines below in one compiled pass (kernels.c)
            self.native.gru_step(gi, gh, h_prev)
            return
        rz = gi[:, : 2 * H].add_(gh[:, : 2 * H]).sigmoid_()
        r, z = rz[:, :H], rz[:, H:]
        n = gi[:, 2 * H :].addcmul_(r, gh[:, 2 * H :]).tanh_()  # n = tanh(i_n + r * h_n)
        torch.lerp(n, h_prev, z, out=self.tmp)  # h = (1 - z) * n + z * h_prev
        h_prev.copy_(self.tmp)


class _Affine:
    """``out = x W^T + b`` for a fixed weight W (N, K), into a preallocated ``out``: oneDNN with W
    packed once, or ``torch.addmm``, as ``rnnkit.layers.fast.choose.step_onednn`` decides. With
    ``products`` (a dtype other than W's), W is kept in that dtype, x is cast to it for the product,
    and the result comes back to ``out``'s dtype before the bias is added; bf16 products go to oneDNN
    with W packed whenever the CPU multiplies bf16 (faster than ``torch.mm`` at every size measured,
    and equal to it: ``rnnkit.layers.fast.onednn``)."""

    def __init__(self, w: Tensor, b: Tensor | None, rows: int, products: torch.dtype | None = None) -> None:
        self.b = b
        self.low = products if products is not None and products != w.dtype else None
        w = w.to(self.low) if self.low is not None else w
        use_onednn = onednn_bf16_applies(w) if self.low is not None else step_onednn(w)
        self.linear = Linear(w, rows) if use_onednn else None
        self.w_t = None if use_onednn else w.t().contiguous()  # (K, N)

    def __call__(self, x: Tensor, out: Tensor) -> None:
        if self.low is not None:  # the product in the low dtype; the bias added in out's
            x = x.to(self.low)
            out.copy_(self.linear(x) if self.linear is not None else torch.mm(x, self._w_t()))
            if self.b is not None:
                out.add_(self.b)
        elif self.linear is not None:  # oneDNN
            out.copy_(self.linear(x, self.b))
        elif self.b is None:
            torch.mm(x, self._w_t(), out=out)
        else:
            torch.addmm(self.b, x, self._w_t(), out=out)

    def _w_t(self) -> Tensor:
        assert self.w_t is not None  # kept whenever oneDNN is not used
        return self.w_t


@dataclass(frozen=True)
class _JointWeights:
    """An LSTM or Elman layer: one product over the joined [x, h_prev] (LSTM gate rows in the order i, f, o, g)."""

    affine: _Affine  # [x, h_prev] -> [x, h_prev] @ [W_ih; W_hh]^T + (b_ih + b_hh)
    w_hr: Tensor | None  # (H, P) the LSTM's projection, transposed; None without one


@dataclass(frozen=True)
class _GRUWeights:
    """A GRU layer: two products, since r * (W_hn h_prev + b_hn) needs the hidden side apart."""

    ih: _Affine  # x -> W_ih x + b_ih
    hh: _Affine  # h_prev -> W_hh h_prev + b_hh


@dataclass(frozen=True)
class _NormWeights:
    """A layer-normalised LSTM layer, stepped by ``rnnkit.cells.ln_lstm_step``."""

    w_ih: Tensor
    w_hh: Tensor
    b: Tensor | None  # b_ih + b_hh
    ln_ih: tuple[Tensor, Tensor]  # gain and shift of the input side's norm
    ln_hh: tuple[Tensor, Tensor]  # of the hidden side's
    ln_c: tuple[Tensor, Tensor]  # of the cell state's
    w_hr: Tensor | None


def _bias_sum(b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor | None:
    return None if b_ih is None or b_hh is None else b_ih + b_hh


def _ifgo_to_ifog(w: Tensor, H: int) -> Tensor:
    """Reorder the LSTM gate blocks (rows) from PyTorch's i, f, g, o to i, f, o, g."""
    i, f, g, o = w.split(H, dim=0)
    return torch.cat([i, f, o, g], dim=0)


def _check_shape(what: str, t: Any, expected: tuple[int, ...], method: str = "reset") -> None:
    if not isinstance(t, Tensor) or tuple(t.shape) != expected:
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"Stepper.{method}: expected {what} of shape (L, B, H) = {expected}, got {got}.")
