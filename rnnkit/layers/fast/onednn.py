"""Float32 matrix products on the CPU through oneDNN, with the weight packed once for many products.

``torch.mm`` on the CPU goes to the BLAS (MKL). For the shapes a recurrent layer multiplies,
oneDNN's inner-product kernel with a weight reordered ahead of time into its blocked layout is
faster. Measured on this project's 2-core machine, 2 threads, float32 (GFLOP/s, mm -> oneDNN):

    per-step product  h_prev W_hh^T   B = 32..128, H = 256..1024    80-136 -> 135-204  (1.3-2.3x)
    per-step backward dG W_hh         B = 32..128, H = 256..1024   100-163 -> 141-200  (1.2-1.7x)
    input projection  X W_ih^T        T*B rows                      114-150 -> 135-210  (1.1-1.4x)

``torch.nn.LSTM`` already runs on oneDNN; ``torch.nn.GRU``/``RNN`` do not, which is where the
fused kernels in ``rnnkit.layers.fast.fused`` gain most of their lead. The packed weight is a
private oneDNN tensor (``torch.ops.mkldnn``); whenever that is unavailable (another device or
dtype, a build without oneDNN, or switched off with ``use_onednn(False)``) the same products
run through ``torch.mm``/``torch.addmm`` with identical results up to float rounding.

bfloat16 weights go to oneDNN too, where the CPU multiplies bf16 in hardware (``onednn_bf16``): the
Stepper's bf16 products (``Stepper(products=torch.bfloat16)``, ``rnnkit serve --precision bf16``).
Measured on a 2-core AMD EPYC of family 26 with avx512_bf16 (2 threads, microseconds per product, mm -> packed):
K x N = 512 x 1024: 49 -> 28 at 1 row, 116 -> 72 at 32 rows; 1024 x 2048: 207 -> 52 and 390 -> 206,
with results equal to ``torch.mm``'s, bit for bit, at every size tried.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor

from rnnkit.utils.machine import onednn_bf16
from rnnkit.utils.switch import Switch


def _mkldnn_op(name: str) -> Any:
    try:
        return getattr(torch.ops.mkldnn, name)
    except (AttributeError, RuntimeError):  # a build without oneDNN's private ops
        return None


_LINEAR = _mkldnn_op("_linear_pointwise")
_REORDER = _mkldnn_op("_reorder_linear_weight")
_SWITCH = Switch(True)


def onednn_applies(t: Tensor) -> bool:
    """True when products with ``t`` can go to oneDNN: float32 on the CPU, oneDNN present and switched on."""
    return _packable(t) and t.dtype == torch.float32 and torch.backends.mkldnn.is_available()


def onednn_bf16_applies(t: Tensor) -> bool:
    """True when bf16 products with ``t`` can go to oneDNN: bfloat16 on the CPU, which multiplies bf16 in hardware."""
    return _packable(t) and t.dtype == torch.bfloat16 and onednn_bf16()


def _packable(t: Tensor) -> bool:
    return _SWITCH.on and _LINEAR is not None and _REORDER is not None and t.device.type == "cpu"


def use_onednn(enabled: bool) -> AbstractContextManager[None]:
    """Switch the oneDNN products on or off inside a ``with`` block (tests compare both ways)."""
    return _SWITCH.set_to(enabled)


class Linear:
    """``x -> x W^T + b`` for a fixed weight W (N, K) and many inputs x (M, K) with M <= ``rows``;
    through oneDNN if ``onednn`` (the plan's choice) and the weight allows it, else ``torch.mm``.

    Packing W costs one copy of it; each product then reads the packed copy. ``rows`` is the
    number of rows the products are expected to have (oneDNN picks its layout for it; fewer
    rows, and row- or column-strided inputs, are still correct).
    """

    def __init__(self, weight: Tensor, rows: int, onednn: bool = True) -> None:
        self.weight = weight.detach()
        use = onednn and (onednn_applies(weight) or onednn_bf16_applies(weight))  # the plan, and what W allows
        self.packed = _REORDER(self.weight.contiguous(), rows) if use else None

    def __call__(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        if self.packed is None:
            w_t = self.weight.t()
            return torch.mm(x, w_t) if bias is None else torch.addmm(bias, x, w_t)
        return _LINEAR(x, self.packed, bias, "none", [], "")

    def plus(self, x: Tensor, other: Tensor) -> Tensor:
        """``x W^T + other`` for ``other`` of the output's shape, the addition fused into the product."""
        if self.packed is None:
            return torch.addmm(other, x, self.weight.t())
        return _LINEAR.binary(x, other, self.packed, None, "add")
