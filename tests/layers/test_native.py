"""The compiled step kernels (kernels.c): their math against PyTorch, the layers with and without
them, and the fallback when they cannot be built."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support import parameter_grads

import rnnkit
from rnnkit.layers.fast import native
from rnnkit.layers.fast.native import use_native

kernels = native.kernels_for(torch.zeros(1))
needs_kernels = pytest.mark.skipif(kernels is None, reason="no C compiler here: the kernels could not be built")


@needs_kernels
def test_elman_step_matches_torch_across_the_range_and_keeps_nan() -> None:
    assert kernels is not None
    a = torch.cat([torch.linspace(-100, 100, 20001), torch.tensor([0.0, -0.0, 1e-30, 88.5, -88.5, 1e4, -1e4])])
    a = torch.cat([a, torch.tensor([float("inf"), float("-inf"), float("nan")])])
    h, zero = torch.empty_like(a), torch.zeros_like(a)
    kernels.elman_forward_step(a, zero, False, h)
    torch.testing.assert_close(h[:-1], torch.tanh(a[:-1]), atol=2e-7, rtol=0)
    assert torch.isnan(h[-1])
    g = torch.randn_like(a)
    kernels.elman_forward_step(a[:-1], g[:-1], True, h[:-1])  # relu(a + g)
    torch.testing.assert_close(h[:-1], torch.relu(a[:-1] + g[:-1]), atol=0, rtol=0)


@needs_kernels
def test_gru_step_matches_the_torch_step() -> None:
    assert kernels is not None
    from rnnkit.layers.fast.fused import _gru_forward_step

    g = torch.Generator().manual_seed(0)
    b, H = 5, 7
    gi, gh = torch.randn(b, 3 * H, generator=g) * 3, torch.randn(b, 3 * H, generator=g) * 3
    h_prev = torch.randn(b, H, generator=g)
    results = []
    for step in (kernels.gru_forward_step, _gru_forward_step):
        gi_c, gh_n, h = gi.clone(), torch.empty(b, H), torch.empty(b, H)
        step(gi_c, gh, gh_n, h_prev, h)
        results.append((gi_c, gh_n, h))
    for ours, theirs in zip(*results, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    assert torch.equal(results[0][1], gh[:, 2 * H :])  # gh_n keeps the n block as it was


def _run(layer: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor | None) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    y, h = layer(x, lengths=lengths) if lengths is not None else layer(x)
    (y.pow(2).sum() + h.sum()).backward()
    grads = parameter_grads(layer)
    layer.zero_grad()
    assert x.grad is not None
    return [y, h, x.grad, *grads]


@needs_kernels
@pytest.mark.parametrize("kind", ["gru", "tanh", "relu"])
@pytest.mark.parametrize("lengths", [None, [7, 3, 9, 1, 9]])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layers_with_kernels_equal_torch_nn(kind: str, lengths: list[int] | None, bidirectional: bool) -> None:
    torch.manual_seed(0)
    if kind == "gru":
        peer: torch.nn.Module = torch.nn.GRU(6, 8, 2, bidirectional=bidirectional)
        ours: torch.nn.Module = rnnkit.GRU(6, 8, 2, bidirectional=bidirectional)
    else:
        peer = torch.nn.RNN(6, 8, 2, nonlinearity=kind, bidirectional=bidirectional)
        ours = rnnkit.RNN(6, 8, 2, nonlinearity=kind, bidirectional=bidirectional)
    ours.load_state_dict(peer.state_dict())
    x = torch.randn(9, 5, 6)
    lens = None if lengths is None else torch.tensor(lengths)
    with use_native(True):
        got = _run(ours, x, lens)
    with use_native(False):
        python_path = _run(ours, x, lens)
    if lens is None:
        expected = _run(peer, x, None)
    else:  # torch.nn through a PackedSequence, padded back
        xr = x.clone().requires_grad_()
        packed = torch.nn.utils.rnn.pack_padded_sequence(xr, lens, enforce_sorted=False)
        yp, h = peer(packed)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, total_length=9)
        (y.pow(2).sum() + h.sum()).backward()
        assert xr.grad is not None
        expected = [y, h, xr.grad, *parameter_grads(peer)]
    for a, b, c in zip(got, python_path, expected, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(a, c, atol=2e-5, rtol=1e-5)


def test_layers_work_when_the_kernels_cannot_be_built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_loaded", None)
    monkeypatch.setattr(native, "_failure", None)
    with pytest.raises(native.NativeBuildError, match="no C compiler"):
        native.build()
    assert native.kernels_for(torch.zeros(1)) is None
    assert native._failure is not None
    assert "no C compiler" in native._failure
    layer = rnnkit.GRU(4, 5)
    x = torch.randn(3, 2, 4, requires_grad=True)
    y, _ = layer(x)
    y.sum().backward()  # runs on the PyTorch-ops path
    peer = torch.nn.GRU(4, 5)
    peer.load_state_dict(layer.state_dict())
    torch.testing.assert_close(y, peer(x)[0])


@needs_kernels
def test_build_reports_a_compiler_error_and_leaves_no_partial_file(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    bad = tmp_path / "kernels.c"
    bad.write_text("this is not C\n")
    monkeypatch.setattr(native, "SOURCE", bad)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(native.NativeBuildError, match="kernels.c failed"):
        native.build()
    assert list((tmp_path / "cache" / "native").iterdir()) == []


def test_kernels_apply_only_to_float32_on_the_cpu() -> None:
    assert native.kernels_for(torch.zeros(1, dtype=torch.float64)) is None
    with use_native(False):
        assert native.kernels_for(torch.zeros(1)) is None


@needs_kernels
@pytest.mark.parametrize("kind", ["gru", "tanh"])
@pytest.mark.parametrize("loss_on", ["output", "h_n"])
def test_kernels_with_only_one_of_the_two_gradients(kind: str, loss_on: str) -> None:
    """The backward gets d_out or d_h_n alone (the other is None) when the loss uses only one."""
    torch.manual_seed(1)
    ours = rnnkit.GRU(5, 6) if kind == "gru" else rnnkit.RNN(5, 6)
    peer = torch.nn.GRU(5, 6) if kind == "gru" else torch.nn.RNN(5, 6)
    peer.load_state_dict(ours.state_dict())
    x = torch.randn(7, 3, 5)
    grads = []
    for layer in (ours, peer):
        xr = x.clone().requires_grad_()
        y, h = layer(xr)
        (y.sum() if loss_on == "output" else h.pow(2).sum()).backward()
        assert xr.grad is not None
        grads.append([xr.grad, *[p.grad for p in layer.parameters()]])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)


def test_the_library_is_keyed_by_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache shared by two machines (a network home directory) must not hand one CPU's -march=native build to the
    other."""
    a = native.library_path("cc", ["-march=native"])
    monkeypatch.setattr(native, "cpu_identity", lambda: "flags: fpu sse2")
    assert native.library_path("cc", ["-march=native"]) != a


@needs_kernels
@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_stepper_gate_math_in_c_equals_the_torch_ops(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Stepper's compiled LSTM and GRU gate math (float32), on 3 streams whose rows of the state buffer are
    strided, equals its PyTorch-ops path and the layer's own forward over the same sequence."""
    from rnnkit.layers import Stepper

    torch.manual_seed(0)
    layer = (rnnkit.LSTM if mode == "lstm" else rnnkit.GRU)(5, 8, num_layers=2, batch_first=True).eval()
    x = torch.randn(3, 9, 5) * 2
    with use_native(False):
        plain = Stepper(layer, batch_size=3)
    compiled = Stepper(layer, batch_size=3)
    assert plain.native is None
    assert compiled.native is not None
    calls: list[int] = []
    kernel = getattr(compiled.native, f"{mode}_step")

    def counted(*args: torch.Tensor) -> None:
        calls.append(1)
        kernel(*args)

    monkeypatch.setattr(compiled.native, f"{mode}_step", counted)
    outputs = [torch.stack([s.step(x[:, t]) for t in range(x.size(1))], dim=1) for s in (compiled, plain)]
    torch.testing.assert_close(outputs[0], outputs[1], atol=2e-6, rtol=0)
    with torch.no_grad():
        expected, _ = layer(x)
    torch.testing.assert_close(outputs[0], expected, atol=2e-6, rtol=0)
    assert len(calls) == 9 * 2  # every step of both layers went through the compiled kernel
