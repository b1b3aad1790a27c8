"""Mixed precision: bf16 matrix products with float32 accumulation, weights and optimizer state kept in float32.

``torch.autocast`` runs the products (``linear``, ``mm``, oneDNN's LSTM) in bfloat16 inside a
``with`` block and leaves everything else, the parameters and the optimizer's moments
included, in float32: the "master weights" of mixed-precision training. bfloat16 keeps
float32's exponent range, so no loss scaling is needed (unlike float16).

It pays only where the hardware multiplies bf16: AVX512-BF16 or AMX on a CPU, a GPU with
bf16 support. Elsewhere the products are emulated, and on an AVX2 CPU they measured about
1 GFLOP/s, two orders of magnitude below float32. So "auto" takes bf16 only where the CPU (or
GPU) has it, and asking for "bf16" where it is missing is an error that says so.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from rnnkit.utils.machine import cpu, onednn_bf16

PRECISIONS = ("fp32", "bf16", "auto")


def bf16_runs_fast(device: torch.device) -> bool:
    """Whether bf16 products run in hardware on ``device``."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and cpu().has_bf16 and onednn_bf16()


def resolve_precision(requested: str, device: torch.device) -> str:
    """"fp32" or "bf16" for a run on ``device``; "auto" is bf16 exactly where it runs fast.

    Raises ValueError for an unknown name, and for "bf16" on hardware that would emulate it.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}.")
    if requested == "fp32":
        return "fp32"
    fast = bf16_runs_fast(device)
    if requested == "auto":
        return "bf16" if fast else "fp32"
    if not fast:
        where = "this GPU" if device.type == "cuda" else f"this CPU ({cpu().model}: no avx512_bf16 or amx_bf16 flag)"
        raise ValueError(
            f"bf16 was asked for, but {where} has no bf16 hardware: its bf16 products would be emulated, far "
            "slower than float32. Use --precision fp32 (or auto, which picks bf16 only where it is fast)."
        )
    return "bf16"


def autocast(precision: str, device: torch.device) -> AbstractContextManager[object]:
    """The ``with`` block for one forward pass (and its loss) at ``precision`` ("fp32": a no-op)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
