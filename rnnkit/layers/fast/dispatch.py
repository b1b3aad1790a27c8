"""Running a chosen path (``rnnkit.layers.fast.choose``) over a whole stack.

- TORCH: PyTorch's own sequence kernels (``torch._VF``), what ``torch.nn.LSTM/GRU/RNN`` call; on
  the CPU a float32 LSTM runs on oneDNN, on a GPU on cuDNN. Variable lengths go through a
  PackedSequence, whose kernels process each sequence only up to its own end.
- SEGMENTS: an LSTM with lengths, the dense kernel once per distinct length (``segments.py``).
- FUSED: rnnkit's GRU and Elman autograd functions (``fused.py``); PyTorch has no fused CPU
  kernel for these, and its generic loop pays a dozen autograd ops per step.
The REFERENCE path is the layer's own loop and does not come here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.layers.fast.choose import Path, Plan, plan_for
from rnnkit.layers.fast.fused import fused_forward
from rnnkit.layers.fast.segments import lstm_by_segments
from rnnkit.layers.fast.stack import Stack, State, torch_stack
from rnnkit.utils.machine import cpu, onednn_bf16

if TYPE_CHECKING:
    from rnnkit.layers.recurrent import RecurrentBase

def run_path(
    plan: Plan, stack: Stack, x: Tensor, h0: Tensor, c0: Tensor | None, lengths: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Run the stack on x (T, B, I) by ``plan``: returns output (T, B, D*H_out), h_n and c_n (None but for an LSTM)."""
    _check_bf16_lstm(stack, x)  # SEGMENTS and TORCH both call PyTorch's LSTM kernel
    if plan.path is Path.FUSED:
        out, h_n = fused_forward(stack, x, h0, lengths, plan.native, plan.onednn)
        return out, h_n, None
    if plan.path is Path.SEGMENTS:
        assert c0 is not None
        assert lengths is not None
        return lstm_by_segments(stack, x, h0, c0, lengths)
    if plan.path is not Path.TORCH:
        raise ValueError(f"run_path: the {plan.path.value} path is the layer's own loop, not a kernel.")
    hx: State = (h0, c0) if c0 is not None else h0
    if lengths is None:
        result = torch_stack(stack, x, hx)
        return result[0], result[1], (result[2] if stack.mode == "lstm" else None)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    order, restore = packed.sorted_indices, packed.unsorted_indices
    assert order is not None
    assert restore is not None
    hx = (h0.index_select(1, order), c0.index_select(1, order)) if c0 is not None else h0.index_select(1, order)
    result = torch_stack(stack, packed.data, hx, packed.batch_sizes)
    out, _ = pad_packed_sequence(PackedSequence(result[0], packed.batch_sizes, order, restore), total_length=x.size(0))
    h_n = result[1].index_select(1, restore)
    c_n = result[2].index_select(1, restore) if stack.mode == "lstm" else None
    return out, h_n, c_n


def _check_bf16_lstm(stack: Stack, x: Tensor) -> None:
    """Under CPU autocast to bf16, PyTorch runs an LSTM with oneDNN's bf16 kernel, which a CPU without bf16
    hardware does not have: ``torch.nn.LSTM`` then fails with "could not create a primitive descriptor". Say why
    instead (the same exception type, so code that catches torch's error still catches this one)."""
    if (stack.mode == "lstm" and x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16 and not onednn_bf16()):
        raise RuntimeError(
            f"LSTM under torch.autocast('cpu', dtype=torch.bfloat16): this CPU ({cpu().model}) has no bf16 support "
            "that oneDNN can use (no avx512_bf16 or amx_bf16 flag), and PyTorch's LSTM under autocast needs "
            "oneDNN's bf16 kernel, so torch.nn.LSTM fails here too. Run the LSTM in float32 (autocast off around "
            "it), or let rnnkit choose: --precision auto takes bf16 only where the CPU has it."
        )


def time_path(layer: RecurrentBase, x: Tensor, h0: Tensor, lengths: Tensor | None, path: Path) -> float:
    """Seconds for one run of the call by ``path``: forward, and the backward pass too when one will follow.

    Runs on detached copies of the inputs and takes gradients with ``torch.autograd.grad``, so no
    ``.grad`` is touched; the random state (inter-layer dropout) is restored afterwards, so a timed
    first call leaves the run exactly as an untimed one.
    """
    stack = Stack.of(layer)
    plan = plan_for(path, x)
    xs, hs = x.detach().requires_grad_(x.requires_grad), h0.detach().requires_grad_(h0.requires_grad)
    c0 = None
    if layer.mode == "lstm":
        c0 = h0.new_zeros(h0.size(0), h0.size(1), layer.hidden_size)
    needs = [t for t in (xs, hs, *stack.weights) if t.requires_grad] if torch.is_grad_enabled() else []
    with torch.random.fork_rng(devices=[]):
        start = time.perf_counter()
        out, h_n, _ = run_path(plan, stack, xs, hs, c0, lengths)
        if needs:
            torch.autograd.grad(out.sum() + h_n.sum(), needs, allow_unused=True)
        return time.perf_counter() - start
