"""The Stepper equals the layer's own forward, run one step at a time (float64)."""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch

import rnnkit
from rnnkit.layers import RecurrentBase, Stepper  # the public name the README gives

T, B, I, H = 5, 3, 4, 6


def _layer(kind: str, num_layers: int, **kw: Any) -> RecurrentBase:
    torch.manual_seed(0)
    layer: RecurrentBase
    if kind == "lstm":
        layer = rnnkit.LSTM(I, H, num_layers, dtype=torch.float64, **kw)
    elif kind == "gru":
        layer = rnnkit.GRU(I, H, num_layers, dtype=torch.float64, **kw)
    else:
        layer = rnnkit.RNN(I, H, num_layers, nonlinearity=kind, dtype=torch.float64, **kw)
    return layer.eval()


def _run_steps(stepper: Stepper, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([stepper.step(x[t]) for t in range(x.size(0))])  # (T, B, H_out)


CASES = [
    ("lstm", 1, {}), ("lstm", 2, {}), ("lstm", 3, {}), ("lstm", 2, {"proj_size": 3}),
    ("lstm", 2, {"bias": False}), ("lstm", 2, {"layer_norm": True}), ("lstm", 2, {"layer_norm": True, "proj_size": 3}),
    ("gru", 1, {}), ("gru", 2, {}), ("gru", 3, {}), ("gru", 2, {"bias": False}),
    ("tanh", 1, {}), ("tanh", 3, {}), ("relu", 2, {}), ("relu", 2, {"bias": False}),
]


@pytest.mark.parametrize(("kind", "num_layers", "kw"), CASES)
def test_stepper_equals_forward(kind: str, num_layers: int, kw: dict) -> None:
    layer = _layer(kind, num_layers, **kw)
    if kw.get("layer_norm"):
        # layer-norm gains 1 and shifts 0 would hide a mix-up between them
        with torch.no_grad():
            for name, p in layer.named_parameters():
                if name.startswith("ln_"):
                    p.uniform_(0.5, 1.5)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, hx = layer(x)
    stepper = Stepper(layer, batch_size=B)
    torch.testing.assert_close(_run_steps(stepper, x), out)
    if kind == "lstm":
        torch.testing.assert_close(stepper.state[0], hx[0])
        torch.testing.assert_close(stepper.state[1], hx[1])
    else:
        torch.testing.assert_close(stepper.state, hx)


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh"])
def test_reset_with_state_and_refresh(kind: str) -> None:
    layer = _layer(kind, 2, **({"proj_size": 2} if kind == "lstm" else {}))
    x = torch.randn(T, B, I, dtype=torch.float64)
    H_out = 2 if kind == "lstm" else H
    h0 = torch.randn(2, B, H_out, dtype=torch.float64)
    hx = (h0, torch.randn(2, B, H, dtype=torch.float64)) if kind == "lstm" else h0
    stepper = Stepper(layer, batch_size=B)
    stepper.step(x[0])  # some state that reset must overwrite
    stepper.reset(hx)
    torch.testing.assert_close(_run_steps(stepper, x), layer(x, hx)[0])
    # after a weight change, refresh() picks up the new weights; before it, the old ones stay
    with torch.no_grad():
        layer.get_parameter("weight_hh_l1").mul_(-1.5)
    stepper.reset()
    assert not torch.allclose(_run_steps(stepper, x), layer(x)[0])
    stepper.refresh()
    stepper.reset()
    torch.testing.assert_close(_run_steps(stepper, x), layer(x)[0])


def test_refresh_keeps_the_state() -> None:
    layer = _layer("lstm", 2)
    stepper = Stepper(layer, batch_size=B)
    stepper.step(torch.randn(B, I, dtype=torch.float64))
    before = stepper.state
    stepper.refresh()
    torch.testing.assert_close(stepper.state, before)
    assert before[0].abs().sum() > 0


def test_step_returns_a_copy() -> None:
    stepper = Stepper(_layer("lstm", 2), batch_size=1)
    y1 = stepper.step(torch.ones(1, I, dtype=torch.float64))
    kept = y1.clone()
    stepper.step(torch.ones(1, I, dtype=torch.float64))
    torch.testing.assert_close(y1, kept)


def test_float32_batch_one_matches_torch_lstm() -> None:
    torch.manual_seed(0)
    ref = torch.nn.LSTM(I, H, 2).eval()
    stepper = Stepper(rnnkit.from_torch(ref), batch_size=1)
    x = torch.randn(T, 1, I)
    torch.testing.assert_close(_run_steps(stepper, x), ref(x)[0], rtol=1e-5, atol=1e-6)


def test_errors() -> None:
    with pytest.raises(ValueError, match="bidirectional"):
        Stepper(rnnkit.LSTM(I, H, bidirectional=True))
    with pytest.raises(TypeError, match="from_torch"):
        Stepper(cast(Any, torch.nn.LSTM(I, H)))
    with pytest.raises(ValueError, match="batch_size"):
        Stepper(rnnkit.GRU(I, H), batch_size=0)
    stepper = Stepper(rnnkit.GRU(I, H), batch_size=2)
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        stepper.step(torch.zeros(1, I))
    with pytest.raises(TypeError, match="dtype"):
        stepper.step(torch.zeros(2, I, dtype=torch.float64))
    with pytest.raises(ValueError, match="h_0"):
        stepper.reset(torch.zeros(2, 2, H))
    with pytest.raises(TypeError, match="pair"):
        Stepper(rnnkit.LSTM(I, H)).reset(torch.zeros(1, 1, H))


@pytest.mark.parametrize(("kind", "num_layers", "kw"), CASES)
def test_resized_shares_the_weights_starts_at_zero_and_equals_forward(kind: str, num_layers: int, kw: dict) -> None:
    layer = _layer(kind, num_layers, **kw)
    big = Stepper(layer, batch_size=8)
    big.step(torch.randn(8, I, dtype=torch.float64))  # a state that the resized one must not take
    small = big.resized(2)
    assert small.batch_size == 2
    assert small.weights is big.weights
    assert not small.z.any()
    assert small.c is None or not small.c.any()
    x = torch.randn(T, 2, I, dtype=torch.float64)
    out, _ = layer(x)
    torch.testing.assert_close(_run_steps(small, x), out)
    assert big.z.any()  # its own buffers: stepping the small one left the big one's state alone
    with pytest.raises(ValueError, match="batch_size"):
        big.resized(0)


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh"])
@pytest.mark.parametrize("batch_size", [1, 2])
def test_stepper_with_large_float32_weights_uses_onednn_and_equals_forward(kind: str, batch_size: int) -> None:
    """Weights above the size threshold take oneDNN's packed product; the steps still equal the forward."""
    from rnnkit.layers.fast.onednn import onednn_applies
    from rnnkit.layers.stepper import _Affine

    torch.manual_seed(0)
    size = 1024 if kind == "tanh" else 512  # every layer's weight above 2^19 entries
    layer = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "tanh": rnnkit.RNN}[kind](size, size, 2).eval()
    stepper = Stepper(layer, batch_size=batch_size)
    affines = [a for w in stepper.weights for a in vars(w).values() if isinstance(a, _Affine)]
    assert len(affines) == (4 if kind == "gru" else 2)
    assert all((a.linear is not None) == onednn_applies(torch.zeros(1)) for a in affines)  # packed when oneDNN is here
    x = torch.randn(4, batch_size, size)
    out, _ = layer(x)
    torch.testing.assert_close(_run_steps(stepper, x), out, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize(("kind", "kw"), [("lstm", {}), ("lstm", {"proj_size": 24}), ("gru", {}), ("tanh", {})])
@pytest.mark.parametrize("batch_size", [1, 4, 32])
def test_bf16_products_take_packed_onednn_equal_torch_mm_and_follow_float32(kind: str, kw: dict,
                                                                            batch_size: int) -> None:
    """bf16 products go to oneDNN with the weight packed (where the CPU multiplies bf16), giving torch.mm's bf16
    results bit for bit; and either way the steps follow the float32 forward within bf16's rounding."""
    from rnnkit.layers.fast.onednn import onednn_bf16_applies, use_onednn
    from rnnkit.layers.stepper import _Affine

    torch.manual_seed(0)
    layer = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "tanh": rnnkit.RNN}[kind](40, 48, 2, **kw).eval()
    x = torch.randn(6, batch_size, 40)
    want, _ = layer(x)
    packed = Stepper(layer, batch_size=batch_size, products=torch.bfloat16)
    with use_onednn(False):
        plain = Stepper(layer, batch_size=batch_size, products=torch.bfloat16)
    affines = [a for w in packed.weights for a in vars(w).values() if isinstance(a, _Affine)]
    has_bf16 = onednn_bf16_applies(torch.zeros(1, dtype=torch.bfloat16))
    assert affines
    assert all((a.linear is not None) == has_bf16 for a in affines)
    assert all(a.linear is None for w in plain.weights for a in vars(w).values() if isinstance(a, _Affine))
    got = _run_steps(packed, x)
    assert torch.equal(got, _run_steps(plain, x))
    torch.testing.assert_close(got, want, atol=3e-2, rtol=0)  # bf16 keeps 8 bits of mantissa
    assert not torch.equal(got, want)  # and the products really were rounded to bf16
