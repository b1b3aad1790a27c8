"""rnnkit.LSTM/GRU/RNN against torch.nn.LSTM/GRU/RNN in float64, on both paths.

Every layer option meets every other option: the default suite runs, for each mode, a
pairwise-covering subset of the option grid (every pair of option values appears in some
case), on the fast path and on the reference loop. The full cartesian product (1440 cases,
a few minutes) is marked slow.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from support import (
    LENGTHS,
    MODES,
    B,
    H,
    I,
    P,
    T,
    assert_results_equal,
    initial_state,
    prefixed,
    randn,
    rnnkit_layer,
    run,
    torch_layer,
    twins,
)
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_sequence

import rnnkit

pytestmark = pytest.mark.usefixtures("one_thread")

FACTORS: dict[str, tuple[Any, ...]] = {
    "num_layers": (1, 2, 3),
    "kind": ("dense", "lengths", "packed"),  # padded without lengths, padded with lengths, PackedSequence
    "bidirectional": (False, True),
    "batch_first": (False, True),
    "bias": (True, False),
    "hx": (False, True),  # whether an initial state is passed
}
VARIANTS = ("lstm", "lstm_proj", "gru", "rnn_tanh", "rnn_relu")  # lstm_proj: an LSTM with proj_size=P


def pairwise(factors: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """A small set of rows in which every pair of values of two factors appears at least once.

    Greedy and deterministic: repeatedly take the first row of the full grid that covers the
    most pairs not yet covered.
    """
    names = list(factors)
    grid = [dict(zip(names, values, strict=True)) for values in itertools.product(*factors.values())]

    def pairs(row: dict[str, Any]) -> set[tuple[str, Any, str, Any]]:
        return {(a, row[a], b, row[b]) for a, b in itertools.combinations(names, 2)}

    uncovered = set().union(*(pairs(row) for row in grid))
    rows = []
    while uncovered:
        best = max(grid, key=lambda row: len(pairs(row) & uncovered))
        rows.append(best)
        uncovered -= pairs(best)
    return rows


CASES = [(variant, row) for variant in VARIANTS for row in pairwise(FACTORS)]
FULL = [
    (variant, dict(zip(FACTORS, values, strict=True)))
    for variant in VARIANTS
    for values in itertools.product(*FACTORS.values())
]


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    variant, row = case
    return variant + "-" + "-".join(f"{k}={v}" for k, v in row.items())


def check_against_torch(variant: str, row: dict[str, Any], fast: bool) -> None:
    mode, options = split_variant(variant)
    options.update({k: row[k] for k in ("num_layers", "bidirectional", "batch_first", "bias")})
    ours, theirs = twins(mode, fast=fast, **options)
    assert ours.fast is fast
    x = randn(B, T, I, seed=5) if row["batch_first"] else randn(T, B, I, seed=5)
    hx = initial_state(theirs) if row["hx"] else None
    expected = run(theirs, x, hx, LENGTHS, row["kind"])
    actual = run(ours, x, hx, LENGTHS, row["kind"])
    assert_results_equal(actual, expected)


def test_pairwise_subset_covers_every_pair() -> None:
    rows = pairwise(FACTORS)
    assert len(rows) < len(FULL) // len(VARIANTS) // 4  # it is a real reduction of the 144-row grid
    for a, b in itertools.combinations(FACTORS, 2):
        for va, vb in itertools.product(FACTORS[a], FACTORS[b]):
            assert any(row[a] == va and row[b] == vb for row in rows), (a, va, b, vb)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_matches_torch(case: tuple[str, dict[str, Any]], fast: bool) -> None:
    check_against_torch(*case, fast=fast)


@pytest.mark.slow
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("case", FULL, ids=[case_id(c) for c in FULL])
def test_matches_torch_full_product(case: tuple[str, dict[str, Any]], fast: bool) -> None:
    check_against_torch(*case, fast=fast)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("mode", MODES)
def test_fast_path_equals_reference_path(mode: str, dtype: torch.dtype) -> None:
    layer = twins(mode, num_layers=2, bidirectional=True)[0].to(dtype)
    x = randn(T, B, I, seed=7).to(dtype)
    state = initial_state(layer)
    hx = tuple(s.to(dtype) for s in state) if isinstance(state, tuple) else state.to(dtype)
    for kind in ("dense", "lengths"):
        layer.fast = True
        fast = run(layer, x, hx, LENGTHS, kind)
        layer.zero_grad(set_to_none=True)
        layer.fast = False
        reference = run(layer, x, hx, LENGTHS, kind)
        layer.zero_grad(set_to_none=True)
        tol: dict[str, Any] = {} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
        for key in reference:
            torch.testing.assert_close(fast[key], reference[key], **tol, msg=prefixed(f"{kind} {key}"))


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("mode", MODES)
def test_dropout_between_layers_matches_torch_in_eval_and_acts_in_training(mode: str, fast: bool) -> None:
    ours, theirs = twins(mode, fast=fast, num_layers=2, dropout=0.5)
    ours.eval()
    theirs.eval()
    x = randn(T, B, I, seed=2)
    assert_results_equal(run(ours, x, kind="dense"), run(theirs, x, kind="dense"))
    ours.train()
    torch.manual_seed(0)
    out_train = ours(x)[0]
    assert not torch.allclose(out_train, theirs(x)[0])  # training mode drops units between the layers


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_names_and_shapes_match_torch(variant: str) -> None:
    mode, options = split_variant(variant)
    options.update(num_layers=2, bidirectional=True)
    ours, theirs = twins(mode, **options)  # twins loads torch's state dict with strict=True
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(ours.state_dict()[k].shape == v.shape for k, v in theirs.state_dict().items())
    fresh = nn.LSTM if mode == "lstm" else nn.GRU if mode == "gru" else nn.RNN
    kwargs: dict[str, Any] = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    back = fresh(I, H, dtype=torch.float64, **options, **kwargs)
    back.load_state_dict(ours.state_dict(), strict=True)  # and the other way round
    for k, v in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)


@pytest.mark.parametrize("variant", VARIANTS)
def test_from_torch_and_to_torch_round_trip(variant: str) -> None:
    mode, options = split_variant(variant)
    options.update(num_layers=2, bidirectional=True, batch_first=True, bias=False)
    theirs = torch_layer(mode, **options)
    ours = rnnkit.from_torch(theirs)
    assert type(ours) is {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU}.get(mode, rnnkit.RNN)
    for key in (*options, "input_size", "hidden_size"):
        assert getattr(ours, key) == getattr(theirs, key), key
    x = randn(B, T, I, seed=3)
    assert_results_equal(run(ours, x), run(theirs, x))
    back = rnnkit.to_torch(ours)
    assert type(back) is type(theirs)
    assert repr(back) == repr(theirs)  # same constructor arguments, nonlinearity included
    assert back.state_dict().keys() == theirs.state_dict().keys()
    assert all(torch.equal(back.state_dict()[k], v) for k, v in theirs.state_dict().items())


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("mode", MODES)
def test_bidirectional_h_n_comes_from_each_directions_own_end(mode: str, fast: bool) -> None:
    # torch.nn's docs warn that a bidirectional h_n is not output[:, -1]; this pins down what it is.
    layer = rnnkit_layer(mode, fast=fast, num_layers=2, bidirectional=True, batch_first=True)
    out, state = layer(randn(B, T, I, seed=4), lengths=LENGTHS)  # out (B, T, 2H)
    h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H); the last layer is rows -2 and -1
    for b, length in enumerate(LENGTHS):
        # forward direction: it reads steps 0 .. length-1, so it ends at the sequence's last real step
        torch.testing.assert_close(h_n[-2, b], out[b, length - 1, :H])
        # reverse direction: it reads steps length-1 .. 0, so it ends at step 0
        torch.testing.assert_close(h_n[-1, b], out[b, 0, H:])
        if length > 1:
            assert not torch.allclose(h_n[-1, b], out[b, length - 1, H:])
        if length < T:
            assert torch.count_nonzero(out[b, length:]) == 0  # the padding's output is zero, not the last state


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("variant", [*VARIANTS, "lstm_ln"])
def test_padded_sequence_gives_what_it_gives_alone(variant: str, fast: bool) -> None:
    # independent of torch.nn: padding plus lengths must not change a sequence's result
    mode, options = split_variant(variant)
    layer = rnnkit_layer(mode, fast=fast, num_layers=2, bidirectional=True, batch_first=True, **options)
    x = randn(B, T, I, seed=6)
    x_padded = x.clone()
    for b, length in enumerate(LENGTHS):
        x_padded[b, length:] = 1e3  # garbage in the padding must not leak into anything
    out, state = layer(x_padded, lengths=LENGTHS)
    states = state if isinstance(state, tuple) else (state,)
    for b, length in enumerate(LENGTHS):
        alone_out, alone_state = layer(x[b : b + 1, :length])
        alone_states = alone_state if isinstance(alone_state, tuple) else (alone_state,)
        torch.testing.assert_close(out[b : b + 1, :length], alone_out)
        for s, alone in zip(states, alone_states, strict=True):
            torch.testing.assert_close(s[:, b : b + 1], alone)


def split_variant(variant: str) -> tuple[str, dict[str, Any]]:
    """("lstm_proj", ...) -> ("lstm", {"proj_size": P}); "lstm_ln" -> a layer-normalised LSTM."""
    if variant == "lstm_proj":
        return "lstm", {"proj_size": P}
    if variant == "lstm_ln":
        return "lstm", {"layer_norm": True}
    return variant, {}


@pytest.mark.parametrize(
    "fast_mode", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["projected", "full-jacobian"]
)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("variant", [*VARIANTS, "lstm_ln"])
def test_layer_gradcheck(variant: str, fast: bool, fast_mode: bool) -> None:
    # gradcheck's tiny sizes: B=2, T=3, I=4, H=5; two layers, both directions, unsorted lengths.
    # With ~1100 parameters the full Jacobian takes seconds per layer, so the default suite checks
    # random projections of it (gradcheck's fast_mode) and the slow suite checks all of it.
    mode, options = split_variant(variant)
    layer = rnnkit_layer(mode, fast=fast, input_size=4, hidden_size=5, num_layers=2, bidirectional=True, **options)
    if variant == "lstm_ln":  # move the gains and shifts off 1 and 0, so that their gradients are exercised
        with torch.no_grad():
            for name, p in layer.named_parameters():
                if name.startswith("ln_"):
                    p.add_(0.1 * randn(*p.shape, seed=len(name)))
    x = randn(3, 2, 4, seed=8).requires_grad_()  # (T, B, I)
    state = initial_state(layer, batch=2)
    states = list(state) if isinstance(state, tuple) else [state]
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def f(x: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        hx = tuple(tensors[: len(states)]) if len(states) == 2 else tensors[0]
        weights = dict(zip(names, tensors[len(states) :], strict=True))
        out, h = functional_call(layer, weights, (x, hx), {"lengths": torch.tensor([2, 3])})
        return (out, *(h if isinstance(h, tuple) else (h,)))

    inputs = (x, *(s.requires_grad_() for s in states), *params)
    assert torch.autograd.gradcheck(f, inputs, fast_mode=fast_mode)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("mode", MODES)
def test_sorted_packed_sequence_keeps_its_layout(mode: str, fast: bool) -> None:
    # pack_sequence(enforce_sorted=True) leaves sorted_indices None: the output must come back the same way
    ours, theirs = twins(mode, fast=fast, bidirectional=True)
    packed = pack_sequence([randn(n, I, seed=n) for n in (4, 2, 1)], enforce_sorted=True)
    (out, state), (expected_out, expected_state) = ours(packed), theirs(packed)
    assert out.sorted_indices is None
    assert torch.equal(out.batch_sizes, expected_out.batch_sizes)
    torch.testing.assert_close(out.data, expected_out.data)
    torch.testing.assert_close(state, expected_state)
