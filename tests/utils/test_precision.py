"""Mixed precision (rnnkit/utils/precision.py): where bf16 is allowed, and that bf16 products give the numbers
float32 does, to bf16's precision (about 3 significant digits). The GRU's and Elman's numerics are checked on any
CPU: where the CPU lacks bf16 they are emulated, which is slow but exact to the same rounding. An LSTM under bf16
autocast needs oneDNN's bf16 kernel, so its checks skip where oneDNN has no bf16 (an AVX2-only CPU)."""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch
from support import parameter_grads

import rnnkit
from rnnkit.layers.fast import Path, choose
from rnnkit.layers.stepper import Stepper
from rnnkit.utils import machine, precision

CPU_ = torch.device("cpu")
# PyTorch runs an LSTM under CPU autocast with oneDNN's bf16 kernel, which a CPU without bf16 (an AVX2-only one) lacks:
# torch.nn.LSTM fails there, and rnnkit's LSTM says why (tests/layers/test_layer_errors.py)
NEEDS_ONEDNN_BF16 = pytest.mark.skipif(not machine.onednn_bf16(),
                                       reason="this CPU has no bf16 that oneDNN uses, so no LSTM under bf16 autocast")


def _cpu(monkeypatch: pytest.MonkeyPatch, flags: set[str], onednn: bool) -> None:
    monkeypatch.setattr(precision, "cpu", lambda: machine.CPU("Test CPU", "25", frozenset(flags)))
    monkeypatch.setattr(precision, "onednn_bf16", lambda: onednn)


def test_auto_takes_bf16_only_where_the_hardware_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _cpu(monkeypatch, {"avx2", "avx512f", "avx512_bf16"}, onednn=True)
    assert precision.resolve_precision("auto", CPU_) == "bf16"
    assert precision.resolve_precision("bf16", CPU_) == "bf16"
    assert precision.resolve_precision("fp32", CPU_) == "fp32"
    _cpu(monkeypatch, {"avx2"}, onednn=False)  # a Zen 3: AVX2 only
    assert precision.resolve_precision("auto", CPU_) == "fp32"
    with pytest.raises(ValueError, match=r"Test CPU: no avx512_bf16 or amx_bf16.*emulated.*--precision fp32"):
        precision.resolve_precision("bf16", CPU_)
    _cpu(monkeypatch, {"amx_bf16"}, onednn=False)  # the CPU has it, but this torch's oneDNN will not use it
    assert precision.resolve_precision("auto", CPU_) == "fp32"
    with pytest.raises(ValueError, match="one of fp32, bf16, auto"):
        precision.resolve_precision("fp16", CPU_)


def test_fp32_autocast_is_a_no_op() -> None:
    with precision.autocast("fp32", CPU_):
        assert not torch.is_autocast_enabled("cpu")
    with precision.autocast("bf16", CPU_):
        assert torch.is_autocast_enabled("cpu")


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("cell", [pytest.param(rnnkit.LSTM, marks=NEEDS_ONEDNN_BF16), rnnkit.GRU, rnnkit.RNN])
def test_bf16_products_match_float32_and_keep_float32_weights(cell: type) -> None:
    torch.manual_seed(0)
    layer = cell(16, 32, num_layers=2, batch_first=True)
    x = torch.randn(4, 12, 16)
    runs = {}
    for p in ("fp32", "bf16"):
        layer.zero_grad()
        with precision.autocast(p, CPU_):
            if p == "bf16":
                assert choose.candidates(layer, x.transpose(0, 1), torch.zeros(2, 4, 32), None)[0] is not Path.FUSED
            y, _ = layer(x)
            loss = y.float().pow(2).mean()
        loss.backward()
        runs[p] = (y.float(), parameter_grads(layer))
    assert all(q.dtype == torch.float32 for q in layer.parameters())  # master weights stay float32
    assert all(g.dtype == torch.float32 for g in runs["bf16"][1])
    torch.testing.assert_close(runs["bf16"][0], runs["fp32"][0], atol=3e-2, rtol=3e-2)
    for g16, g32 in zip(runs["bf16"][1], runs["fp32"][1], strict=True):
        # gradients agree to bf16 precision relative to their own scale
        assert (g16 - g32).norm() <= 0.05 * g32.norm() + 1e-6


@NEEDS_ONEDNN_BF16
@pytest.mark.usefixtures("one_thread")
def test_a_bf16_training_run_follows_the_float32_one() -> None:
    """The same 60 Adam steps on a copy task, float32 and bf16 products: both learn, and the losses agree."""
    finals = {}
    for p in ("fp32", "bf16"):
        torch.manual_seed(0)
        rnn, head = rnnkit.LSTM(4, 24, batch_first=True), torch.nn.Linear(24, 4)
        params = [*rnn.parameters(), *head.parameters()]
        opt = torch.optim.Adam(params, lr=2e-2)
        data = torch.Generator().manual_seed(1)
        losses = []
        for _ in range(60):
            x = torch.randn(16, 10, 4, generator=data)
            target = torch.roll(x, 1, dims=1)  # predict the previous step's input: needs memory
            with precision.autocast(p, CPU_):
                y, _ = rnn(x)
                loss = (head(y).float() - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert sum(losses[-10:]) < 0.5 * sum(losses[:10])  # it learns
        finals[p] = sum(losses[-10:]) / 10
    assert abs(finals["bf16"] - finals["fp32"]) <= 0.1 * finals["fp32"]


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh"])
def test_stepper_with_bf16_products_follows_the_layer(kind: str) -> None:
    torch.manual_seed(0)
    layer = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "tanh": rnnkit.RNN}[kind](8, 32, 2).eval()
    stepper = Stepper(layer, batch_size=3, products=torch.bfloat16)
    affines = [a for w in stepper.weights for a in vars(w).values() if hasattr(a, "w_t")]
    assert affines  # the weights are kept in bf16, packed for oneDNN or transposed for torch.mm
    assert all((a.w_t if a.linear is None else a.linear.weight).dtype == torch.bfloat16 for a in affines)
    x = torch.randn(6, 3, 8)
    with torch.no_grad():
        expected, _ = layer(x)
    got = torch.stack([stepper.step(x[t]) for t in range(6)])
    assert got.dtype == torch.float32  # the state and the gate math stay float32
    torch.testing.assert_close(got, expected, atol=3e-2, rtol=3e-2)
    assert not torch.equal(got, expected)  # the products really ran in bf16
    with pytest.raises(TypeError, match="products must be a floating torch.dtype"):
        Stepper(layer, products=cast(Any, "bf16"))
