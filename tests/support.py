"""Shared test helpers: tiny seeded inputs, an rnnkit layer next to its torch.nn twin with the same
weights, a forward-and-backward runner, and where the fixture files are.

Test modules import them with ``from support import ...`` (pytest puts this directory, the one
of the root conftest.py, on sys.path). Everything is float64, so a disagreement with torch.nn is a bug and not
rounding. The sizes are small enough that the reference loop over a 3-layer bidirectional stack
takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit.layers import RecurrentBase

FIXTURES = Path(__file__).parent / "fixtures"  # small hand-written files in the formats rnnkit reads

B, T, I, H, P = 3, 4, 3, 5, 2  # batch, time, input size, hidden size, projection size
LENGTHS = [2, 4, 1]  # unsorted on purpose, so that packing has to sort and then restore the order
MODES = ("lstm", "gru", "rnn_tanh", "rnn_relu")

Result = dict[str, Tensor]
Loaded = TypeVar("Loaded")


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def fetched(load: Callable[[], Loaded], what: str) -> Loaded:
    """``load()``, or the test skipped, saying why, when ``what`` cannot be fetched on this machine."""
    try:
        return load()
    except FileNotFoundError as e:
        pytest.skip(f"{what} cannot be fetched here: {e}")


def randn(*shape: int, seed: int = 0) -> Tensor:
    """A float64 normal tensor fixed by its seed, so that two calls with the same arguments agree."""
    return torch.randn(*shape, generator=seeded(seed), dtype=torch.float64)


def torch_layer(mode: str, **options: Any) -> nn.LSTM | nn.GRU | nn.RNN:
    """A float64 torch.nn.LSTM/GRU/RNN with seeded weights; options go to its constructor."""
    return _seeded_layer(nn, mode, options)


def rnnkit_layer(mode: str, **options: Any) -> RecurrentBase:
    """The rnnkit layer for a mode ("lstm", "gru", "rnn_tanh", "rnn_relu"), float64, seeded weights."""
    return _seeded_layer(rnnkit, mode, options)


def _seeded_layer(library: Any, mode: str, options: dict[str, Any]) -> Any:
    """``library``'s (torch.nn's or rnnkit's) LSTM, GRU or RNN for ``mode``, float64, weights drawn after one seed."""
    torch.manual_seed(1234)
    kwargs: dict[str, Any] = {"input_size": I, "hidden_size": H, "dtype": torch.float64, **options}
    if mode in ("lstm", "gru"):
        return getattr(library, mode.upper())(**kwargs)
    return library.RNN(nonlinearity=mode.removeprefix("rnn_"), **kwargs)


def twins(mode: str, fast: bool = True, **options: Any) -> tuple[RecurrentBase, nn.RNNBase]:
    """An rnnkit layer and a torch.nn layer with the same weights: torch's state dict loads strictly."""
    theirs = torch_layer(mode, **options)
    ours = rnnkit_layer(mode, fast=fast, **options)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def initial_state(layer: RecurrentBase | nn.RNNBase, batch: int = B, seed: int = 1) -> Tensor | tuple[Tensor, Tensor]:
    """A random hx of the right shape for a layer (rnnkit or torch.nn): (h_0, c_0) for an LSTM."""
    D = 2 if layer.bidirectional else 1
    h_out = layer.proj_size or layer.hidden_size
    h0 = randn(layer.num_layers * D, batch, h_out, seed=seed)
    if layer.mode.lower() == "lstm":
        return h0, randn(layer.num_layers * D, batch, layer.hidden_size, seed=seed + 1)
    return h0


def run(layer: RecurrentBase | nn.RNNBase, x: Tensor, hx: Any = None, lengths: list[int] | None = None,
        kind: str = "dense") -> Result:
    """Forward and backward through a layer; returns outputs, final states and every gradient.

    kind is "dense" (no lengths), "lengths" (padded x plus lengths) or "packed" (a PackedSequence
    built from x and lengths). A torch.nn layer has no lengths argument, so it gets the packed
    form for "lengths"; its padded output then has zeros past each length, as rnnkit's must.
    The loss weighs every output by a fixed random tensor, so that each gradient entry differs.
    """
    x = x.detach().clone().requires_grad_()
    states_in = [] if hx is None else [s.detach().clone().requires_grad_()
                                       for s in (hx if isinstance(hx, tuple) else (hx,))]
    hx_in = None if hx is None else (tuple(states_in) if isinstance(hx, tuple) else states_in[0])
    steps = x.size(1 if layer.batch_first else 0)
    to_pack = kind == "packed" or (kind == "lengths" and isinstance(layer, nn.RNNBase))
    if kind == "dense":
        out, state = layer(x, hx_in)
    elif to_pack:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=layer.batch_first, enforce_sorted=False)
        packed_out, state = layer(packed, hx_in)
        assert isinstance(packed_out, PackedSequence)
        assert torch.equal(packed_out.batch_sizes, packed.batch_sizes)
        assert packed_out.unsorted_indices is not None
        assert packed.unsorted_indices is not None
        assert torch.equal(packed_out.unsorted_indices, packed.unsorted_indices)
        out = pad_packed_sequence(packed_out, batch_first=layer.batch_first, total_length=steps)[0]
    else:
        out, state = layer(x, hx_in, lengths=torch.tensor(lengths))
    result: Result = {"output": out}
    if isinstance(state, tuple):
        result["h_n"], result["c_n"] = state
    else:
        result["h_n"] = state
    terms = [(v * randn(*v.shape, seed=k)).sum() for k, v in enumerate(result.values())]
    loss = sum(terms, torch.zeros((), dtype=x.dtype))
    loss.backward()
    result = {k: v.detach() for k, v in result.items()}
    assert x.grad is not None
    result["grad_input"] = x.grad
    for k, s in enumerate(states_in):
        assert s.grad is not None, f"grad_hx{k}"
        result[f"grad_hx{k}"] = s.grad
    for name, p in layer.named_parameters():
        assert p.grad is not None, name
        result[f"grad_{name}"] = p.grad
    return result


def assert_results_equal(actual: Result, expected: Result) -> None:
    """Same keys, and every tensor equal to float64 tolerance."""
    assert actual.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], msg=prefixed(key))


def parameter_grads(module: nn.Module) -> list[Tensor]:
    """A copy of every parameter's gradient, in parameters() order; each must have one."""
    grads = []
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name} has no gradient"
        grads.append(p.grad.clone())
    return grads


def prefixed(label: str) -> Callable[[str], str]:
    """An assert_close msg that puts a label before torch's own message."""
    return lambda message: f"{label}: {message}"




def ln_lstm_by_hand(
    x: Tensor, h_prev: Tensor, c_prev: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None, ln: list[Tensor],
    w_hr: Tensor | None = None, eps: float = 1e-5,
) -> tuple[Tensor, Tensor]:
    """Ba, Kiros & Hinton (2016), sec. 6.5, line by line; ln = [gain_ih, shift_ih, gain_hh, shift_hh, gain_c, shift_c].

    Written from the paper with F.layer_norm, not by calling rnnkit, so that it can disagree.
    """
    H = c_prev.size(1)
    pre = F.layer_norm(x @ w_ih.T, (4 * H,), ln[0], ln[1],
                       eps) + F.layer_norm(h_prev @ w_hh.T, (4 * H,), ln[2], ln[3], eps)
    if b is not None:
        pre = pre + b
    i, f = pre[:, :H].sigmoid(), pre[:, H : 2 * H].sigmoid()
    g, o = pre[:, 2 * H : 3 * H].tanh(), pre[:, 3 * H :].sigmoid()
    c = f * c_prev + i * g
    h = o * F.layer_norm(c, (H,), ln[4], ln[5], eps).tanh()
    return (h if w_hr is None else h @ w_hr.T), c
