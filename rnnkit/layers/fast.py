"""The fast path: the quickest correct way to run a whole stack on the machine at hand.

A plain LSTM, GRU or Elman stack goes to PyTorch's own fused sequence kernels
(``torch._VF``), which is what ``torch.nn.LSTM`` calls: on CPU a float32 LSTM runs on
oneDNN, on a GPU on cuDNN. The layer falls back to the reference loop for anything these
kernels cannot do (layer norm, recurrent dropout, recording).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

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
    fn = _VF_FUNCTIONS[mode]
    hx: Any = (h0, c0) if c0 is not None else h0
    args = (flat_weights, has_biases, num_layers, dropout, training, bidirectional)
    if lengths is None:
        result = fn(x, hx, *args, False)
        out, h_n = result[0], result[1]
        return out, h_n, (result[2] if mode == "lstm" else None)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    order, restore = packed.sorted_indices, packed.unsorted_indices
    assert order is not None and restore is not None
    hx = tuple(s.index_select(1, order) for s in hx) if isinstance(hx, tuple) else hx.index_select(1, order)
    result = fn(packed.data, packed.batch_sizes, hx, *args)
    out_packed = PackedSequence(result[0], packed.batch_sizes, order, restore)
    out, _ = pad_packed_sequence(out_packed, total_length=x.size(0))
    h_n = result[1].index_select(1, restore)
    c_n = result[2].index_select(1, restore) if mode == "lstm" else None
    return out, h_n, c_n


def on_fast_device(x: Tensor) -> bool:
    """PyTorch's fused kernels exist for CPU and CUDA tensors; anything else takes the loop."""
    return x.device.type in ("cpu", "cuda") and x.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
