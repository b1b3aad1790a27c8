"""The fast path: the quickest correct way to run a whole stack on the machine at hand.

Which kernel runs is decided by measurement (``benchmarks/bench_layers.py``):

- an LSTM goes to PyTorch's own sequence kernels (``torch._VF``), which is what
  ``torch.nn.LSTM`` calls: on CPU a float32 LSTM runs on oneDNN, on a GPU on cuDNN;
- an LSTM with lengths being trained on the CPU goes to ``rnnkit.layers.segments``: the same dense
  kernel, run once per distinct length (torch's packed kernel has a slow backward on the CPU);
- a GRU or Elman stack being trained on the CPU (float32/float64, gradients needed) goes to
  ``rnnkit.layers.fused``: PyTorch has no fused CPU kernel for these, and its generic loop
  pays a dozen autograd ops per step plus per-step weight-gradient GEMMs;
- everything else (inference without gradients, GPUs, half precision) goes to ``torch._VF``.

The layer falls back to the reference loop for anything these kernels cannot do (layer
norm, recurrent dropout, recording).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.layers.fused import fused_forward
from rnnkit.layers.segments import lstm_by_segments

_VF_FUNCTIONS: dict[str, Any] = {"lstm": _VF.lstm, "gru": _VF.gru, "rnn_tanh": _VF.rnn_tanh, "rnn_relu": _VF.rnn_relu}


def fast_forward(
    mode: str,
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    flat_weights: list[Tensor],
    lengths: Tensor | None,
    has_biases: bool,
    num_layers: int,
    dropout: float,
    training: bool,
    bidirectional: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Run the whole stack on x (T, B, I) with PyTorch's kernels. Returns output (T, B, D*H_out), h_n, c_n.

    Variable lengths go through a PackedSequence, whose kernels process each sequence only
    up to its own end; the padded output comes back with zeros past each length.
    """
    if use_fused(mode, x, h0, flat_weights):
        out, h_n = fused_forward(mode, x, h0, flat_weights, lengths, has_biases, num_layers, dropout, training, bidirectional)
        return out, h_n, None
    if use_segments(mode, x, h0, flat_weights, lengths):
        assert c0 is not None
        assert lengths is not None
        return lstm_by_segments(x, h0, c0, flat_weights, lengths, has_biases, num_layers, dropout, training, bidirectional)
    fn = _VF_FUNCTIONS[mode]
    hx: Any = (h0, c0) if c0 is not None else h0
    args = (flat_weights, has_biases, num_layers, dropout, training, bidirectional)
    if lengths is None:
        result = fn(x, hx, *args, False)
        out, h_n = result[0], result[1]
        return out, h_n, (result[2] if mode == "lstm" else None)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    order, restore = packed.sorted_indices, packed.unsorted_indices
    assert order is not None
    assert restore is not None
    hx = tuple(s.index_select(1, order) for s in hx) if isinstance(hx, tuple) else hx.index_select(1, order)
    result = fn(packed.data, packed.batch_sizes, hx, *args)
    out_packed = PackedSequence(result[0], packed.batch_sizes, order, restore)
    out, _ = pad_packed_sequence(out_packed, total_length=x.size(0))
    h_n = result[1].index_select(1, restore)
    c_n = result[2].index_select(1, restore) if mode == "lstm" else None
    return out, h_n, c_n


def use_segments(mode: str, x: Tensor, h0: Tensor, flat_weights: list[Tensor], lengths: Tensor | None) -> bool:
    """An LSTM with lengths being trained on the CPU, when the dense kernel run once per distinct length
    (``rnnkit.layers.segments``) beats torch's packed kernel, whose backward grows badly with length.

    Segments cost a kernel call per distinct length; measured (H=256 unless said, forward + backward,
    ms, packed -> segments): B=128 T=100 72 distinct lengths 569 -> 375; T=400 127 distinct 18,886 ->
    3,608; B=32 T=30 19 distinct 29 -> 33; B=64 T=50 H=128 bidirectional 37 distinct 57 -> 69.
    Hence: sequences of 64 steps or more, or at most one distinct length per two steps.
    """
    if mode != "lstm" or lengths is None or x.device.type != "cpu" or not _backward_follows(x, h0, flat_weights):
        return False
    T = x.size(0)
    return T >= 64 or len(torch.unique(lengths)) <= T // 2


def use_fused(mode: str, x: Tensor, h0: Tensor, flat_weights: list[Tensor]) -> bool:
    """The fused GRU/Elman kernels: on the CPU in float32/float64, when a backward pass will follow."""
    if mode == "lstm" or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    return _backward_follows(x, h0, flat_weights)


def _backward_follows(x: Tensor, h0: Tensor, flat_weights: list[Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in (x, h0, *flat_weights))


def on_fast_device(x: Tensor) -> bool:
    """PyTorch's fused kernels exist for CPU and CUDA tensors; anything else takes the loop."""
    return x.device.type in ("cpu", "cuda") and x.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
