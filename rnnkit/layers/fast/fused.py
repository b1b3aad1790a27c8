"""Fused GRU and Elman sequence kernels for the CPU, with a hand-written backward through time.

PyTorch has no fused CPU kernel for a GRU or an Elman RNN (oneDNN's GRU is not reachable
from ``torch.nn``), so ``nn.GRU``/``nn.RNN`` run a generic loop whose autograd graph holds
a dozen small ops per step. Here one direction of one layer is one ``autograd.Function``
shaped around the matrix multiplies, which is where the time should go:

    forward:  G_i = X W_ih^T + b_ih                       one GEMM per chunk of steps   (T_c, B, G*H)
              per step: g_h = h_prev W_hh^T + b_hh        one product
                        gate math in place, no graph      one compiled pass (float32) or ~5 ops
    backward: per step: dG_t from dh and the saved gates  one compiled pass (float32), or one op
                                                          on factors formed for a chunk at once
                        dh_prev = dh * z + dG_h,t W_hh    one product and an add
              then, per chunk of steps, all weight gradients as large GEMMs:
              dW_hh = dG_h^T H_prev,  dW_ih = dG_i^T X,  dX = dG_i W_ih.

GRU gradients, from h = n + z * (h_prev - n) and n = tanh(g_in + r * g_hn) (``rnnkit.cells.gru``):

    dn_pre = dh * (1 - z) * (1 - n^2)         -> dg_in (input side, incl. b_in)
    dg_hn  = dn_pre * r                        -> hidden side of the n block (incl. b_hn)
    dr_pre = dn_pre * g_hn * r * (1 - r)       -> both sides of the r block
    dz_pre = dh * (h_prev - n) * z * (1 - z)   -> both sides of the z block
    dh_prev = dh * z + [dr_pre, dz_pre, dg_hn] W_hh

Every per-step coefficient is dh times a factor known after the forward pass, so the four
factors are stacked into A (T, B, 4, H) and one broadcast multiply produces all of dG_t.

Each step's gate math runs as one compiled loop from ``kernels.c`` (``rnnkit.layers.fast.native``) for
float32 on the CPU, and as the PyTorch ops written out below otherwise (float64, no compiler);
tests hold the two to each other and to torch.nn.

Variable lengths follow PyTorch's packed layout: the batch is sorted by length, longest
first, and step t touches only the first batch_sizes[t] rows. A finished row is simply
not updated, so its state stays frozen, its output stays zero, and its gradient rows
stay zero. Shape legend: T time, B batch, I input size, H hidden size, G gate blocks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.layers.fast.native import Kernels
from rnnkit.layers.fast.onednn import Linear
from rnnkit.layers.fast.stack import Stack
from rnnkit.layers.sequence import run_stack


def _input_projection(x: Tensor, w_ih: Tensor, bias: Tensor | None, onednn: bool) -> Tensor:
    """G_i = X W_ih^T + b for all steps in one GEMM: x (T, B, I) -> (T, B, G*H)."""
    T, B, I = x.shape
    return Linear(w_ih, T * B, onednn)(x.reshape(T * B, I), bias).view(T, B, -1)


def _last_states(out: Tensor, batch_sizes: list[int] | None) -> Tensor:
    """Each row's state at its own last step: out (T, B, H) -> (B, H), a fresh tensor."""
    if batch_sizes is None:
        return out[-1].clone()
    B = batch_sizes[0]
    lengths = (torch.arange(B).unsqueeze(0) < torch.tensor(batch_sizes).unsqueeze(1)).sum(0)  # (B,)
    return out[lengths - 1, torch.arange(B)]


def _tanh(a: Tensor, out: Tensor | None = None) -> Tensor:
    """tanh(a) = 2 sigmoid(2a) - 1, into ``out`` (default: in place of ``a``, which it overwrites either way).

    The same function, but torch's CPU sigmoid is about 4x faster than its tanh (for a
    128 x 256 block: 15 us against 69 us at 2 threads), and tanh sits on the recurrence's
    critical path once per step. The absolute error stays at float rounding (~1e-7 in float32).
    """
    return torch.sigmoid(a.mul_(2), out=a if out is None else out).mul_(2).sub_(1)


def _rows(t: Tensor, b: int, B: int) -> Tensor:
    return t if b == B else t[:b]


def _step_rows(d: Tensor | None, t: int, b: int) -> Tensor | None:
    """Rows 0..b-1 of d[t], contiguous for the compiled kernels. A step at a time: the gradient of
    ``output.sum()`` arrives expanded (stride 0), and making all of it contiguous at once would
    write (and page-fault in) a whole (T, B, H) tensor instead of one (b, H) block per step."""
    return None if d is None else d[t, :b].contiguous()


def _chunks(T: int, B: int) -> list[tuple[int, int]]:
    """Time chunks [t0, t1), last first, of about 2048 rows (T_c * B): big enough for efficient
    weight-gradient GEMMs, small enough that the chunk's buffers stay in the allocator's reused
    heap (a fresh buffer above 32 MB costs page faults on every call) and near the cache."""
    size = _chunk_steps(T, B)
    return [(t0, min(T, t0 + size)) for t0 in reversed(range(0, T, size))]


def _chunk_steps(T: int, B: int) -> int:
    return max(1, min(T, 2048 // B))


def _prev_states(h0: Tensor, out: Tensor, t0: int, t1: int) -> Tensor:
    """h_prev for steps t0..t1-1: (T_c, B, H), a view of out except when the chunk starts at 0."""
    return torch.cat([h0.unsqueeze(0), out[: t1 - 1]]) if t0 == 0 else out[t0 - 1 : t1 - 1]


def _gru_forward_step(gi: Tensor, gh: Tensor, gh_n: Tensor, h_prev: Tensor, h: Tensor) -> None:
    """One GRU step's gate math as PyTorch ops (``kernels.c`` has the compiled twin), in place:
    gi (b, 3H) = x W_ih^T + b_ih becomes r, z, n; gh (b, 3H) = h_prev W_hh^T + b_hh; gh_n gets its n block."""
    H = h.size(1)
    rz = gi[:, : 2 * H].add_(gh[:, : 2 * H]).sigmoid_()  # r, z
    gh_n.copy_(gh[:, 2 * H :])
    n = _tanh(gi[:, 2 * H :].addcmul_(rz[:, :H], gh_n))  # n = tanh(g_in + r * g_hn)
    torch.lerp(n, h_prev, rz[:, H:], out=h)  # h = n + z * (h_prev - n)


class GRUFunction(torch.autograd.Function):
    """One GRU direction over x (T, B, I) from h0 (B, H); returns out (T, B, H) and h_n (B, H).
    ``native``: the compiled gate math, or None for PyTorch ops; ``onednn``: products through oneDNN."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
        batch_sizes: list[int] | None, native: Kernels | None, onednn: bool,
    ) -> tuple[Tensor, Tensor]:
        T, B, _ = x.shape
        H = w_hh.size(1)
        gh_n = x.new_empty(T, B, H)  # the n block of W_hh h_prev + b_hh, kept for the backward pass
        out = x.new_zeros(T, B, H) if batch_sizes is not None else x.new_empty(T, B, H)
        project = Linear(w_ih, B * _chunk_steps(T, B), onednn)  # x -> W_ih x + b_ih
        hidden = Linear(w_hh, B, onednn)  # h_prev -> W_hh h_prev (+ b_hh), packed once for all steps
        step = native.gru_forward_step if native is not None else _gru_forward_step
        h_prev = h0
        # the gates are kept per time chunk (the backward pass's chunks): one (T, B, 3H) buffer would
        # be above malloc's 32 MB mmap threshold for common sizes and page-fault afresh on every call
        gi_chunks = []
        for t0, t1 in reversed(_chunks(T, B)):
            gi = project(x[t0:t1].reshape((t1 - t0) * B, -1), b_ih).view(t1 - t0, B, 3 * H)  # becomes r, z, n in place
            gi_chunks.append(gi)
            for t in range(t0, t1):
                b = batch_sizes[t] if batch_sizes is not None else B
                h_prev = _rows(h_prev, b, B)
                out_t = _rows(out[t], b, B)
                step(_rows(gi[t - t0], b, B), hidden(h_prev, b_hh), _rows(gh_n[t], b, B), h_prev, out_t)
                h_prev = out_t
        ctx.save_for_backward(x, h0, w_ih, w_hh, gh_n, out, *gi_chunks)
        ctx.batch_sizes, ctx.has_bias, ctx.native, ctx.onednn = batch_sizes, b_ih is not None, native, onednn
        ctx.set_materialize_grads(False)
        return out, _last_states(out, batch_sizes)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_out: Tensor | None, d_hn: Tensor | None) -> tuple[Tensor | None, ...]:
        x, h0, w_ih, w_hh, gh_n, out, *gi_chunks = ctx.saved_tensors
        native, onednn = ctx.native, ctx.onednn
        batch_sizes = ctx.batch_sizes
        T, B, _ = x.shape
        H = w_hh.size(1)
        # the hidden-side gate gradients come in the order n, r, z (blocks HN, R, Z above), so W_hh is used so too
        w_hh_nrz = Linear(torch.cat([w_hh[2 * H :], w_hh[: 2 * H]]).t(), B, onednn)  # dG_h -> dG_h W_hh, rows n, r, z
        steps = _chunk_steps(T, B)
        grads = _Grads(ctx, x, w_ih, 3 * H, H, steps)
        dh = d_hn.clone() if d_hn is not None else h0.new_zeros(B, H)  # (B, H)
        if native is not None:  # the gate gradients, one chunk at a time
            scratch = (x.new_empty(steps, B, 3 * H), x.new_empty(steps, B, 3 * H))
        for (t0, t1), gi in zip(_chunks(T, B), reversed(gi_chunks), strict=True):
            h_prev = _prev_states(h0, out, t0, t1)
            if native is not None:
                dh, dg_i, dg_h = _gru_chunk_native(native, w_hh_nrz, t0, t1, batch_sizes, dh, d_out, gi, gh_n, h_prev,
                                                   scratch)
            else:
                dh, dg_i, dg_h = _gru_chunk_torch(w_hh_nrz, t0, t1, batch_sizes, dh, d_out, gi, gh_n, h_prev)
            grads.add_chunk(t0, t1, dg_i, dg_h, h0, out)
        dw_hh, db_hh = grads.dw_hh, grads.db_hh  # rows in n, r, z order: put them back to r, z, n
        if dw_hh is not None:
            dw_hh = torch.cat([dw_hh[H:], dw_hh[:H]])
        if db_hh is not None:
            db_hh = torch.cat([db_hh[H:], db_hh[:H]])
        return grads.dx, (dh if ctx.needs_input_grad[1]
                          else None), grads.dw_ih, dw_hh, grads.db_ih, db_hh, None, None, None


# The GRU backward's gate gradients of a chunk live in one buffer (T_c, B, 4, H) whose four blocks are, in order,
# dg_hn, dr, dz, dn. Two overlapping column ranges of it are then the two gradient matrices the products need:
# the hidden side dG_h = [dg_hn, dr, dz] (blocks 0-2, the rows of W_hh reordered n, r, z) and the input side
# dG_i = [dr, dz, dn] (blocks 1-3, W_ih's rows r, z, n), with dr and dz shared and nothing copied.
HN, R, Z, N = range(4)


def _gru_chunk_torch(
    w_hh_nrz: Linear, t0: int, t1: int, batch_sizes: list[int] | None, dh: Tensor,
    d_out: Tensor | None, gi: Tensor, gh_n: Tensor, h_prev: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Backward through GRU steps t1-1 .. t0 as PyTorch ops; dh (B, H) is dL/dh_{t1-1} and becomes dL/dh_{t0-1};
    gi (T_c, B, 3H) holds these steps' gates r, z, n.

    Returns dh and the chunk's gate gradients dG_i and dG_h, each (T_c*B, 3H): the two views of the buffer
    described above (blocks HN, R, Z, N).
    """
    B, H = dh.shape
    r, z, n = gi[:, :, :H], gi[:, :, H : 2 * H], gi[:, :, 2 * H :]  # (T_c, B, H) each
    # each gate gradient is dh times a factor known from the forward pass: form the factors for the whole chunk,
    # in the blocks where the gradients will be, then multiply by each step's dh in place
    factors = dh.new_empty(t1 - t0, B, 4, H)
    one_minus_z = 1 - z
    dn = torch.mul(n, n, out=factors[:, :, N]).neg_().add_(1).mul_(one_minus_z)  # dn_pre / dh = (1 - z)(1 - n^2)
    torch.mul(dn, r, out=factors[:, :, HN])  # dg_hn / dh = dn * r
    a_r = torch.mul(factors[:, :, HN], gh_n[t0:t1], out=factors[:, :, R])
    a_r.addcmul_(a_r, r, value=-1)  # dr_pre / dh = dn * g_hn * r * (1 - r)
    torch.sub(h_prev, n, out=factors[:, :, Z]).mul_(z).mul_(one_minus_z)  # dz_pre / dh = (h_prev - n) z (1 - z)
    for t in range(t1 - 1, t0 - 1, -1):
        b = batch_sizes[t] if batch_sizes is not None else B
        dh_b, e = _rows(dh, b, B), factors[t - t0]  # e: (B, 4, H)
        if b < B:
            e[b:].zero_()  # finished rows contribute nothing
            e = e[:b]
        if d_out is not None:
            dh_b.add_(_rows(d_out[t], b, B))
        e.mul_(dh_b.unsqueeze(1))  # the gate gradients of step t, in place of their factors
        dg_h_t = e.view(b, 4 * H)[:, HN * H : (Z + 1) * H]  # [dg_hn, dr, dz]
        dh_b.mul_(_rows(z[t - t0], b, B)).add_(w_hh_nrz(dg_h_t))  # dh_prev = dh * z + dG_h W_hh
    blocks = factors.view(-1, 4 * H)
    return dh, blocks[:, R * H : (N + 1) * H], blocks[:, HN * H : (Z + 1) * H]


def _gru_chunk_native(
    native: Kernels, w_hh_nrz: Linear, t0: int, t1: int, batch_sizes: list[int] | None, dh: Tensor,
    d_out: Tensor | None, gi: Tensor, gh_n: Tensor, h_prev: Tensor, scratch: tuple[Tensor, Tensor],
) -> tuple[Tensor, Tensor, Tensor]:
    """``_gru_chunk_torch`` with each step's gate math in one compiled pass (``kernels.c``), which writes
    dG_i and dG_h into two contiguous buffers (dr and dz go to both) so the products read them as they are.
    ``scratch`` holds those two buffers, (T_c, B, 3H) each, reused from chunk to chunk."""
    B, H = dh.shape
    e_i, e_h = scratch[0][: t1 - t0], scratch[1][: t1 - t0]
    for t in range(t1 - 1, t0 - 1, -1):
        b = batch_sizes[t] if batch_sizes is not None else B
        e_i_t, e_h_t = e_i[t - t0], e_h[t - t0]
        if b < B:
            e_i_t[b:].zero_()  # finished rows contribute nothing
            e_h_t[b:].zero_()
        dh_b = _rows(dh, b, B)
        native.gru_backward_step(dh_b, _step_rows(d_out, t, b), _rows(gi[t - t0], b, B), _rows(gh_n[t], b, B),
                                 _rows(h_prev[t - t0], b, B), _rows(e_h_t, b, B), _rows(e_i_t, b, B))
        dh_w = w_hh_nrz(_rows(e_h_t, b, B))  # dG_h W_hh (oneDNN's fused "add" form is slower than this plus an add)
        if b == B:
            dh = dh_w.add_(dh_b)  # dh_prev = dh * z + dG_h W_hh
        else:
            dh_b.add_(dh_w)
    return dh, e_i.view(-1, 3 * H), e_h.view(-1, 3 * H)


class ElmanFunction(torch.autograd.Function):
    """One Elman direction (tanh or relu) over x (T, B, I) from h0 (B, H); returns out (T, B, H) and h_n (B, H).
    ``native``: the compiled step, or None for PyTorch ops; ``onednn``: products through oneDNN."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
        batch_sizes: list[int] | None, relu: bool, native: Kernels | None, onednn: bool,
    ) -> tuple[Tensor, Tensor]:
        T, B, _ = x.shape
        H = w_hh.size(1)
        bias = None if b_ih is None or b_hh is None else b_ih + b_hh  # the two biases only ever appear summed
        gi = _input_projection(x, w_ih, bias, onednn)  # (T, B, H)
        out = x.new_zeros(T, B, H) if batch_sizes is not None else x.new_empty(T, B, H)
        hidden = Linear(w_hh, B, onednn)  # h_prev -> W_hh h_prev, packed once for all steps
        h_prev = h0
        for t, (gi_t, out_t) in enumerate(zip(gi.unbind(0), out.unbind(0), strict=True)):
            b = batch_sizes[t] if batch_sizes is not None else B
            out_t, h_prev = _rows(out_t, b, B), _rows(h_prev, b, B)
            if native is not None:  # h = act(W_hh h_prev + (W_ih x + b)), the sum and act in one pass
                native.elman_forward_step(hidden(h_prev), _rows(gi_t, b, B), relu, out_t)
            else:
                a = hidden.plus(h_prev, _rows(gi_t, b, B))  # a = W_ih x + b + W_hh h_prev
                if relu:
                    torch.clamp_min(a, 0, out=out_t)
                else:
                    _tanh(a, out=out_t)
            h_prev = out_t
        ctx.save_for_backward(x, h0, w_ih, w_hh, out)
        ctx.batch_sizes, ctx.has_bias, ctx.relu = batch_sizes, bias is not None, relu
        ctx.native, ctx.onednn = native, onednn
        ctx.set_materialize_grads(False)
        return out, _last_states(out, batch_sizes)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_out: Tensor | None, d_hn: Tensor | None) -> tuple[Tensor | None, ...]:
        x, h0, w_ih, w_hh, out = ctx.saved_tensors
        batch_sizes, native = ctx.batch_sizes, ctx.native
        T, B, _ = x.shape
        H = w_hh.size(1)
        back = Linear(w_hh.t(), B, ctx.onednn)  # da -> da W_hh
        dh = d_hn.clone() if d_hn is not None else h0.new_zeros(B, H)
        # the pre-activation gradients of all T steps: (T, B, H) like out itself, so that dX, dW_ih and
        # dW_hh are one GEMM each over all T*B rows and dX needs no copying together
        E = out.new_empty(T, B, H)
        if native is None and ctx.relu:  # the factors act'(a) for all steps at once, then one multiply per step
            torch.gt(out, 0, out=E)
        elif native is None:
            torch.mul(out, out, out=E).neg_().add_(1)
        for t in range(T - 1, -1, -1):
            b = batch_sizes[t] if batch_sizes is not None else B
            e, dh_b = E[t], _rows(dh, b, B)
            if b < B:
                e[b:].zero_()  # finished rows contribute nothing
                e = e[:b]
            if native is not None:
                native.elman_backward_step(dh_b, _step_rows(d_out, t, b), _rows(out[t], b, B), ctx.relu, e)
            else:
                if d_out is not None:
                    dh_b.add_(_rows(d_out[t], b, B))
                e.mul_(dh_b)  # da = dh * act'(a)
            dh_prev = back(e)  # dh_prev = da W_hh
            if b == B:
                dh = dh_prev
            else:
                dh_b.copy_(dh_prev)
        grads = _Grads(ctx, x, w_ih, H, H, T)
        grads.add_chunk(0, T, E.view(-1, H), E.view(-1, H), h0, out)
        return grads.dx, (dh if ctx.needs_input_grad[1]
                          else None), grads.dw_ih, grads.dw_hh, grads.db_ih, grads.db_hh, None, None, None, None


class _Grads:
    """Accumulates the gradients of x, W_ih, W_hh and the biases chunk by chunk, as large GEMMs."""

    def __init__(self, ctx: Any, x: Tensor, w_ih: Tensor, rows: int, H: int, chunk_steps: int) -> None:
        need, (B, I) = ctx.needs_input_grad, x.shape[1:]
        self.x = x
        self.dx: Tensor | None = None  # allocated by the first chunk, unless that chunk is the whole sequence
        self.input_back = Linear(w_ih.t(), B * chunk_steps, ctx.onednn) if need[0] else None  # dG_i -> dG_i W_ih
        self.dw_ih = w_ih.new_zeros(rows, I) if need[2] else None
        self.dw_hh = w_ih.new_zeros(rows, H) if need[3] else None
        self.db_ih = w_ih.new_zeros(rows) if ctx.has_bias and need[4] else None
        self.db_hh = w_ih.new_zeros(rows) if ctx.has_bias and need[5] else None

    def add_chunk(self, t0: int, t1: int, dg_i: Tensor, dg_h: Tensor, h0: Tensor, out: Tensor) -> None:
        """dg_i, dg_h: (T_c*B, rows) gate gradients of steps t0..t1-1; h0 (B, H) and out (T, B, H) give h_prev."""
        T, B, I = self.x.shape
        x = self.x[t0:t1].reshape(-1, I)  # (T_c*B, I)
        if self.input_back is not None:
            dx = self.input_back(dg_i)  # dX = dG_i W_ih
            if (t0, t1) == (0, T):
                self.dx = dx.view(T, B, I)
            else:
                if self.dx is None:
                    self.dx = self.x.new_empty(T, B, I)
                self.dx[t0:t1].view(-1, I).copy_(dx)
        if self.dw_ih is not None:
            self.dw_ih.addmm_(dg_i.t(), x)  # dW_ih += dG_i^T X
        if self.dw_hh is not None:
            _add_h_prev_product(self.dw_hh, t0, t1, dg_h, h0, out)
        if self.db_ih is not None or self.db_hh is not None:
            db_i = dg_i.sum(0)
            db_h = db_i if dg_h is dg_i else dg_h.sum(0)  # an Elman layer's two biases share one gradient
            if self.db_ih is not None:
                self.db_ih.add_(db_i)
            if self.db_hh is not None:
                self.db_hh.add_(db_h)


def _add_h_prev_product(dw_hh: Tensor, t0: int, t1: int, dg_h: Tensor, h0: Tensor, out: Tensor) -> None:
    """dW_hh += dG_h^T H_prev for steps t0..t1-1, with H_prev = [h0, out[0], out[1], ...] read in place."""
    if t0 == 0:  # the first step's h_prev is h0
        B = h0.size(0)
        dw_hh.addmm_(dg_h[:B].t(), h0)
        t0, dg_h = 1, dg_h[B:]
    if t1 > t0:
        dw_hh.addmm_(dg_h.t(), out[t0 - 1 : t1 - 1].reshape(-1, out.size(2)))


def fused_direction(
    mode: str, x: Tensor, h0: Tensor, weights: list[Tensor], batch_sizes: list[int] | None,
    native: Kernels | None, onednn: bool,
) -> tuple[Tensor, Tensor]:
    """One direction of one layer: x (T, B, I) sorted longest first -> out (T, B, H), h_n (B, H).
    ``weights``: w_ih, w_hh and, if present, b_ih, b_hh."""
    w_ih, w_hh = weights[0], weights[1]
    b_ih, b_hh = (weights[2], weights[3]) if len(weights) == 4 else (None, None)
    if mode == "gru":
        return GRUFunction.apply(x.contiguous(), h0.contiguous(), w_ih, w_hh, b_ih, b_hh, batch_sizes, native, onednn)
    relu = mode == "rnn_relu"
    return ElmanFunction.apply(x.contiguous(), h0.contiguous(), w_ih, w_hh, b_ih, b_hh, batch_sizes, relu, native,
                               onednn)


def fused_forward(
    stack: Stack, x: Tensor, h0: Tensor, lengths: Tensor | None, native: Kernels | None, onednn: bool,
) -> tuple[Tensor, Tensor]:
    """A whole GRU or Elman stack on x (T, B, I), h0 (L*D, B, H): returns out (T, B, D*H), h_n (L*D, B, H).

    Layers, directions and inter-layer dropout are plain Python around ``fused_direction``;
    ``native`` and ``onednn`` are the plan's choices (``rnnkit.layers.fast.choose``).
    """
    T = x.size(0)
    batch_sizes, restore = None, None
    if lengths is not None:
        # sort longest first, so that the rows still running at step t are the first batch_sizes[t]
        lengths, order = torch.sort(lengths.cpu(), descending=True, stable=True)
        restore = torch.argsort(order)
        x, h0 = x.index_select(1, order.to(x.device)), h0.index_select(1, order.to(x.device))
        batch_sizes = (torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)).sum(1).tolist()
    h_n = []

    def direction(k: int, seq: Tensor) -> Tensor:
        out, h = fused_direction(stack.mode, seq, h0[k], stack.direction_weights(k), batch_sizes, native, onednn)
        h_n.append(h)
        return out  # (T, B, H)

    layer_input = run_stack(x, lengths, stack.num_layers, stack.bidirectional, stack.dropout, stack.training, direction)
    h_stack = torch.stack(h_n)  # (L*D, B, H)
    if restore is not None:
        layer_input = layer_input.index_select(1, restore.to(x.device))
        h_stack = h_stack.index_select(1, restore.to(x.device))
    return layer_input, h_stack
