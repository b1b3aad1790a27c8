"""MinGRU/MinLSTM layers: the log-space scan against the sequential recurrence, the scan path against the
reference loop (float64, outputs, final states and every gradient), stepping, and the errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from support import randn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.errors import StateTypeError
from rnnkit.layers import MIN_LAYERS, MinGRU, MinStepper
from rnnkit.layers.min_rnn import MinRecurrentBase
from rnnkit.layers.scan import log_space_scan, sequential_scan

pytestmark = pytest.mark.usefixtures("one_thread")

B, T, I, H, L = 3, 7, 4, 5, 2
LENGTHS = [7, 2, 5]


def sequential(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t, one step after another."""
    h = torch.zeros_like(log_a[:, 0]) if h0 is None else h0
    out = []
    for t in range(log_a.size(1)):
        h = log_a[:, t].exp() * h + log_b[:, t].exp()
        out.append(h)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("chunk", [64, 3, 1, "sequential"])
@pytest.mark.parametrize("with_h0", [True, False])
def test_scan_equals_the_sequential_recurrence(chunk, with_h0):
    # the log-space scan (in chunks of 64, 3 and 1 steps) and the sequential scan with its hand-written backward
    # gates near 0 and near 1 (log a from -8 to 0) and an initial state of both signs
    log_a = (-8
             * torch.rand(B, 10, H, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).requires_grad_()
    log_b = randn(B, 10, H, seed=1).requires_grad_()
    h0 = randn(B, H, seed=2).requires_grad_() if with_h0 else None
    inputs = [t for t in (log_a, log_b, h0) if t is not None]
    weight = randn(B, 10, H, seed=3)
    if chunk == "sequential":
        ours = sequential_scan(log_a.exp(), log_b.exp(),
                               h0 if h0 is not None else torch.zeros(B, H, dtype=torch.float64))
    else:
        ours = log_space_scan(log_a, log_b, h0, chunk=chunk)
    ours_grads = torch.autograd.grad((ours * weight).sum(), inputs)
    ref = sequential(log_a, log_b, h0)
    ref_grads = torch.autograd.grad((ref * weight).sum(), inputs)
    torch.testing.assert_close(ours, ref)
    for a, b in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_scan_gradcheck():
    log_a = (-torch.rand(2, 3, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)).requires_grad_()
    log_b, h0 = randn(2, 3, 5, seed=5).requires_grad_(), randn(2, 5, seed=6).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, h: log_space_scan(a, b, h, chunk=2), (log_a, log_b, h0))
    a = log_a.detach().exp().requires_grad_()
    assert torch.autograd.gradcheck(sequential_scan, (a, log_b, h0))


def layer(mode: str, **options: Any) -> MinRecurrentBase:
    torch.manual_seed(1234)
    return MIN_LAYERS[mode](I, H, dtype=torch.float64, **options)


def forward_backward(net: torch.nn.Module, x: torch.Tensor, h0: torch.Tensor | None,
                     lengths: list[int] | None) -> dict[str, torch.Tensor]:
    x = x.clone().requires_grad_()
    h0 = None if h0 is None else h0.clone().requires_grad_()
    out, h_n = net(x, h0, lengths=lengths)
    ((out * randn(*out.shape, seed=11)).sum() + (h_n * randn(*h_n.shape, seed=12)).sum()).backward()
    result = {"out": out.detach(), "h_n": h_n.detach(), "grad_x": x.grad}
    if h0 is not None:
        result["grad_h0"] = h0.grad
    result.update({f"grad_{n}": p.grad for n, p in net.named_parameters()})
    return result


@pytest.mark.parametrize("lengths", [None, LENGTHS])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("scan", ["parallel", "sequential"])
@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
def test_scan_path_equals_the_reference_loop(mode, scan, batch_first, lengths):
    x = randn(B, T, I, seed=7) if batch_first else randn(T, B, I, seed=7)
    h0 = randn(L, B, H, seed=8)
    fast = forward_backward(layer(mode, num_layers=L, batch_first=batch_first, scan=scan), x, h0, lengths)
    loop = forward_backward(layer(mode, num_layers=L, batch_first=batch_first, fast=False), x, h0, lengths)
    assert fast.keys() == loop.keys()
    for name in fast:
        torch.testing.assert_close(fast[name], loop[name], msg=name)
    if lengths is not None:  # zero past each length, and h_n from each sequence's own last step
        out = fast["out"] if batch_first else fast["out"].transpose(0, 1)
        assert bool((out[1, 2:] == 0).all())
        short = layer(mode, num_layers=L,
                      batch_first=True)(x[1:2, :2] if batch_first else x[:2, 1:2].transpose(0, 1), h0[:, 1:2])[1]
        torch.testing.assert_close(fast["h_n"][:, 1:2], short)


@pytest.mark.parametrize("scan", ["parallel", "sequential"])
@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
def test_layer_gradcheck(mode, scan):
    net = layer(mode, num_layers=2, batch_first=True, scan=scan)
    x, h0 = randn(2, 3, I, seed=9).requires_grad_(), randn(2, 2, H, seed=10).requires_grad_()
    params = list(net.parameters())

    def run(x: torch.Tensor, h0: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        out, h_n = torch.func.functional_call(net, dict(zip([n for n, _ in net.named_parameters()], weights,
                                                            strict=True)), (x, h0))
        return out.sum() + h_n.sum()

    assert torch.autograd.gradcheck(run, (x, h0, *params))


@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
def test_step_and_stepper_equal_the_forward(mode):
    net = layer(mode, num_layers=L, batch_first=True, dropout=0.5).eval()  # eval: no dropout between layers
    x, h0 = randn(B, T, I, seed=13), randn(L, B, H, seed=14)
    out, h_n = net(x, h0)
    stepper = MinStepper(net, batch_size=B)
    stepper.reset(h0)
    steps = torch.stack([stepper.step(x[:, t]) for t in range(T)], dim=1)
    torch.testing.assert_close(steps, out)
    torch.testing.assert_close(stepper.state, h_n)
    # and a carried state continues exactly where one longer call would be
    first, h_mid = net(x[:, :3], h0)
    second, h_end = net(x[:, 3:], h_mid)
    torch.testing.assert_close(torch.cat([first, second], dim=1), out)
    torch.testing.assert_close(h_end, h_n)


@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
def test_float32_stays_close_to_float64_over_long_sequences(mode):
    # the chunked scan keeps log-space cancellation bounded: 2,000 steps in float32 against float64
    torch.manual_seed(0)
    net32 = MIN_LAYERS[mode](8, 16, batch_first=True, scan="parallel")
    net64 = MIN_LAYERS[mode](8, 16, batch_first=True, scan="sequential", dtype=torch.float64)
    net64.load_state_dict({k: v.double() for k, v in net32.state_dict().items()})
    x = torch.randn(2, 2000, 8)
    with torch.no_grad():
        out32, _ = net32(x)
        out64, _ = net64(x.double())
    assert float(((out32.double() - out64).abs() / out64.abs()).max()) < 3e-5  # unchunked: 1.6e-4 here


def test_unbatched_input_is_a_batch_of_one():
    net = layer("mingru")
    x, h0 = randn(T, I, seed=15), randn(1, H, seed=16)
    out, h_n = net(x, h0)
    out_b, h_b = net(x.unsqueeze(1), h0.unsqueeze(1))
    torch.testing.assert_close(out, out_b[:, 0])
    torch.testing.assert_close(h_n, h_b[:, 0])


def test_errors_say_what_to_do():
    net = layer("minlstm", batch_first=True)
    x = randn(B, T, I, seed=17)
    with pytest.raises(StateTypeError, match="state is h alone"):
        net(x, (randn(1, B, H), randn(1, B, H)))
    with pytest.raises(TypeError, match="not a PackedSequence"):
        net(pack_padded_sequence(x, [T] * B, batch_first=True))
    with pytest.raises(ValueError, match=r"every entry of lengths must be in \[1, T=7\]"):
        net(x, lengths=[0, 1, 2])
    with pytest.raises(ValueError, match="scan must be one of"):
        MinGRU(I, H, scan="log")
    with pytest.raises(ValueError, match=r"MinStepper.step: expected x of shape \(B, I\) = \(1, 4\)"):
        MinStepper(net).step(randn(2, I))
