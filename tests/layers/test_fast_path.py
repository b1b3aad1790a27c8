"""The fast path equals the reference loop and torch.nn (float64): outputs, final states and every gradient."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit.layers import RecurrentBase
from rnnkit.layers.fast import Path, choose, fused
from rnnkit.layers.fast.fused import ElmanFunction, GRUFunction

I, H = 3, 4


def _pair(mode: str, **kw: Any) -> tuple[RecurrentBase, torch.nn.RNNBase]:
    """An rnnkit layer and a torch.nn layer with the same weights, both float64."""
    torch.manual_seed(0)
    ref: torch.nn.RNNBase
    if mode == "gru":
        ref = torch.nn.GRU(I, H, dtype=torch.float64, **kw)
    elif mode == "lstm":
        ref = torch.nn.LSTM(I, H, dtype=torch.float64, **kw)
    else:
        ref = torch.nn.RNN(I, H, nonlinearity=mode[4:], dtype=torch.float64, **kw)
    return rnnkit.from_torch(ref), ref


def _run(
    layer: torch.nn.Module, x: torch.Tensor, h0: torch.Tensor, lengths: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """Output, final state and the gradients of x, h0 and every parameter for a fixed random loss."""
    x, h0 = x.detach().requires_grad_(), h0.detach().requires_grad_()
    if lengths is None:
        out, h_n = layer(x, h0)
    elif isinstance(layer, rnnkit.layers.RecurrentBase):
        out, h_n = layer(x, h0, lengths=lengths)
    else:  # torch.nn takes variable lengths as a PackedSequence
        packed, h_n = layer(pack_padded_sequence(x, lengths, enforce_sorted=False), h0)
        out = pad_packed_sequence(packed, total_length=x.size(0))[0]
    g = torch.Generator().manual_seed(1)
    w_out = torch.randn(out.shape, generator=g, dtype=out.dtype)
    w_h = torch.randn(h_n.shape, generator=g, dtype=out.dtype)
    loss = (out * w_out).sum() + (h_n * w_h).sum()  # gradients reach the kernel through both outputs
    grads = torch.autograd.grad(loss, [x, h0, *layer.parameters()])
    return out, h_n, grads


CASES = [
    ("gru", {}, None), ("gru", {"num_layers": 2, "bidirectional": True}, None),
    ("gru", {"num_layers": 3, "bidirectional": True}, [5, 2, 1, 5, 3]),
    ("gru", {"num_layers": 2, "bias": False}, [4, 5, 1, 2, 2]),
    ("rnn_tanh", {}, None), ("rnn_tanh", {"num_layers": 2, "bidirectional": True}, [1, 5, 3, 3, 2]),
    ("rnn_relu", {"num_layers": 2}, None), ("rnn_relu", {"bidirectional": True, "bias": False}, [2, 5, 4, 1, 5]),
]


@pytest.mark.parametrize(("mode", "kw", "lengths"), CASES)
def test_fused_equals_reference_and_torch(mode: str, kw: dict, lengths: list[int] | None) -> None:
    layer, ref = _pair(mode, **kw)
    D = 2 if kw.get("bidirectional") else 1
    x = torch.randn(5, 5, I, dtype=torch.float64)
    h0 = torch.randn(kw.get("num_layers", 1) * D, 5, H, dtype=torch.float64)
    lens = None if lengths is None else torch.tensor(lengths)
    out, h_n, grads = _run(layer, x, h0, lens)
    layer.fast = False
    out_ref, h_ref, grads_ref = _run(layer, x, h0, lens)
    out_nn, h_nn, grads_nn = _run(ref, x, h0, lens)
    for expected in ((out_ref, h_ref, grads_ref), (out_nn, h_nn, grads_nn)):
        torch.testing.assert_close(out, expected[0])
        torch.testing.assert_close(h_n, expected[1])
        for g, g_exp in zip(grads, expected[2], strict=True):
            torch.testing.assert_close(g, g_exp)


def test_fused_path_is_taken_only_when_it_should() -> None:
    gru, _ = _pair("gru")
    lstm = rnnkit.LSTM(I, H, dtype=torch.float64)
    x, h0 = torch.randn(3, 2, I, dtype=torch.float64), torch.zeros(1, 2, H, dtype=torch.float64)
    assert choose.candidates(gru, x, h0, None) == [Path.FUSED, Path.TORCH]
    with torch.no_grad():
        assert choose.candidates(gru, x, h0, None) == [Path.TORCH]  # inference: torch._VF
    assert choose.candidates(lstm, x, h0, None) == [Path.TORCH]
    assert choose.candidates(gru, x.half(), h0.half(), None) == [Path.TORCH]
    out, _ = gru(x)
    assert "GRUFunction" in type(out.grad_fn).__name__


def test_many_time_chunks_with_lengths() -> None:
    """B=128 makes the backward pass work in chunks of 16 steps, so T=40 crosses two chunk boundaries."""
    assert len(fused._chunks(40, 128)) == 3
    layer, ref = _pair("gru", bidirectional=True)
    x = torch.randn(40, 128, I, dtype=torch.float64)
    h0 = torch.randn(2, 128, H, dtype=torch.float64)
    lengths = torch.randint(1, 41, (128,), generator=torch.Generator().manual_seed(0))
    out, h_n, grads = _run(layer, x, h0, lengths)
    out_nn, h_nn, grads_nn = _run(ref, x, h0, lengths)
    torch.testing.assert_close(out, out_nn)
    torch.testing.assert_close(h_n, h_nn)
    for g, g_nn in zip(grads, grads_nn, strict=True):
        torch.testing.assert_close(g, g_nn)


@pytest.mark.parametrize("mode", ["gru", "rnn_tanh"])
def test_inter_layer_dropout_matches_reference(mode: str) -> None:
    layer, _ = _pair(mode, num_layers=3, dropout=0.5)
    x = torch.randn(4, 3, I, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(7)
    out, _ = layer(x)
    layer.fast = False
    torch.manual_seed(7)
    out_ref, _ = layer(x)
    torch.testing.assert_close(out, out_ref)  # same masks: dropout draws in the same order on both paths
    assert not torch.allclose(out, layer.eval()(x)[0])  # and the dropout did act


def test_lstm_still_delegates_to_torch() -> None:
    layer, ref = _pair("lstm", num_layers=2, bidirectional=True)
    x = torch.randn(5, 2, I, dtype=torch.float64)
    h0 = torch.randn(4, 2, H, dtype=torch.float64)
    layer_out, layer_state = layer(x, (h0, h0))
    ref_out, ref_state = ref(x, (h0, h0))
    torch.testing.assert_close(layer_out, ref_out)
    torch.testing.assert_close(layer_state[1], ref_state[1])


@pytest.mark.parametrize("batch_sizes", [None, [2, 2, 1]])
def test_gradcheck_gru_function(batch_sizes: list[int] | None) -> None:
    torch.manual_seed(0)
    B, T, I_, H_ = 2, 3, 4, 5
    args = [
        torch.randn(T, B, I_, dtype=torch.float64), torch.randn(B, H_, dtype=torch.float64),
        torch.randn(3 * H_, I_, dtype=torch.float64), torch.randn(3 * H_, H_, dtype=torch.float64),
        torch.randn(3 * H_, dtype=torch.float64), torch.randn(3 * H_, dtype=torch.float64),
    ]
    args = [a.requires_grad_() for a in args]
    assert torch.autograd.gradcheck(lambda *a: GRUFunction.apply(*a, batch_sizes, None, False), args)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("batch_sizes", [None, [2, 1, 1]])
def test_gradcheck_elman_function(relu: bool, batch_sizes: list[int] | None) -> None:
    torch.manual_seed(0)
    B, T, I_, H_ = 2, 3, 4, 5
    args = [
        torch.randn(T, B, I_, dtype=torch.float64), torch.randn(B, H_, dtype=torch.float64),
        torch.randn(H_, I_, dtype=torch.float64), torch.randn(H_, H_, dtype=torch.float64),
        torch.randn(H_, dtype=torch.float64), torch.randn(H_, dtype=torch.float64),
    ]
    args = [a.requires_grad_() for a in args]
    assert torch.autograd.gradcheck(lambda *a: ElmanFunction.apply(*a, batch_sizes, relu, None, False), args)


@pytest.mark.parametrize(("mode", "kw", "lengths"), CASES)
def test_fused_float32_on_onednn_equals_torch(mode: str, kw: dict, lengths: list[int] | None) -> None:
    """float32 takes the oneDNN products (packed weights); results equal torch.nn and the torch.mm path."""
    from rnnkit.layers.fast.onednn import use_onednn

    layer, ref = _pair(mode, **kw)
    layer, ref = layer.float(), ref.float()
    D = 2 if kw.get("bidirectional") else 1
    x = torch.randn(5, 5, I)
    h0 = torch.randn(kw.get("num_layers", 1) * D, 5, H)
    lens = None if lengths is None else torch.tensor(lengths)
    expected = _run(ref, x, h0, lens)
    with use_onednn(True):
        onednn = _run(layer, x, h0, lens)
    with use_onednn(False):
        blas = _run(layer, x, h0, lens)
    for a, b, c in zip([*expected[:2], *expected[2]], [*onednn[:2], *onednn[2]], [*blas[:2], *blas[2]], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(b, c, rtol=1e-4, atol=1e-5)


def test_onednn_linear_packs_only_float32_on_cpu() -> None:
    from rnnkit.layers.fast.onednn import Linear, onednn_applies, use_onednn

    w, b = torch.randn(6, 4), torch.randn(6)
    x = torch.randn(8, 4)[:5]  # fewer rows than the packing was made for, and a view
    lin = Linear(w, 8)
    assert (lin.packed is not None) == torch.backends.mkldnn.is_available()
    torch.testing.assert_close(lin(x, b), torch.addmm(b, x, w.t()))
    torch.testing.assert_close(lin(x.t().contiguous().t()), x @ w.t())  # a column-major input
    assert Linear(w.double(), 8).packed is None
    assert not onednn_applies(w.double())
    with use_onednn(False):
        assert Linear(w, 8).packed is None
    assert onednn_applies(w) == torch.backends.mkldnn.is_available()  # restored after the block


def test_onednn_linear_plus_adds_inside_the_product() -> None:
    from rnnkit.layers.fast.onednn import Linear, use_onednn

    w, x, other = torch.randn(6, 4), torch.randn(5, 4), torch.randn(5, 6)
    for enabled in (True, False):
        with use_onednn(enabled):
            torch.testing.assert_close(Linear(w, 5).plus(x, other), x @ w.t() + other)
