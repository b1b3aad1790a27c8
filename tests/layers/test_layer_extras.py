"""What rnnkit's layers add to torch.nn: forget_bias, layer_norm, recurrent_dropout, record(); and unbatched input."""

from __future__ import annotations

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
    ln_lstm_by_hand,
    prefixed,
    randn,
    rnnkit_layer,
    run,
    twins,
)
from torch import Tensor

import rnnkit
from rnnkit.layers import RecurrentBase

pytestmark = pytest.mark.usefixtures("one_thread")


def directions(layer: RecurrentBase) -> list[tuple[int, int, str]]:
    """(layer, direction, parameter-name suffix) for every layer and direction of a stack."""
    return [
        (k, d, f"_l{k}" + ("_reverse" if d else ""))
        for k in range(layer.num_layers)
        for d in range(layer.num_directions)
    ]


# ---- forget_bias -------------------------------------------------------------------------------


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("forget_bias", [1.0, 2.5])
def test_forget_bias_sets_the_total_bias_of_the_forget_gate(forget_bias: float, layer_norm: bool) -> None:
    layer = rnnkit_layer("lstm", num_layers=2, bidirectional=True, forget_bias=forget_bias, layer_norm=layer_norm)
    plain = rnnkit_layer("lstm", num_layers=2, bidirectional=True, layer_norm=layer_norm)  # same seed, no forget_bias
    bound = H**-0.5
    for _, _, s in directions(layer):
        b_ih, b_hh = getattr(layer, "bias_ih" + s), getattr(layer, "bias_hh" + s)
        # gates are i, f, g, o: the forget gate is rows H..2H, and only its sum b_ih + b_hh matters
        torch.testing.assert_close(b_ih[H : 2 * H] + b_hh[H : 2 * H],
                                   torch.full((H,), forget_bias, dtype=torch.float64))
        for b in (b_ih, b_hh):
            others = torch.cat([b[:H], b[2 * H :]])  # i, g, o keep PyTorch's uniform initialisation
            assert others.abs().max() <= bound
            assert others.std() > 0
        f_plain = getattr(plain, "bias_ih" + s)[H : 2 * H] + getattr(plain, "bias_hh" + s)[H : 2 * H]
        assert not torch.allclose(f_plain, torch.full_like(f_plain, forget_bias))


def test_forget_bias_shows_in_the_forget_gate_and_survives_reset() -> None:
    layer = rnnkit_layer("lstm", forget_bias=1.0)
    with torch.no_grad():
        layer.get_parameter("weight_ih_l0").zero_()
        layer.get_parameter("weight_hh_l0").zero_()
    f = layer.record(torch.zeros(B, T, I, dtype=torch.float64)).steps[0][0]["f"]  # (B, T, H)
    torch.testing.assert_close(f, torch.full_like(f, torch.sigmoid(torch.tensor(1.0)).item()))
    layer.reset_parameters()
    forget = layer.get_parameter("bias_ih_l0")[H : 2 * H] + layer.get_parameter("bias_hh_l0")[H : 2 * H]
    torch.testing.assert_close(forget, torch.ones(H, dtype=torch.float64))


# ---- layer_norm --------------------------------------------------------------------------------


def ln_stack_by_hand(layer: RecurrentBase, x: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The whole layer-normalised stack from the paper's equations (ln_lstm_by_hand), x (T, B, I)."""
    layer_input, h_n, c_n = x, [], []
    for k in range(layer.num_layers):
        outputs = []
        for d in range(layer.num_directions):
            s = f"_l{k}" + ("_reverse" if d else "")
            get = lambda name, s=s: getattr(layer, name + s)  # noqa: E731
            ln = [get(f"ln_{part}_{kind}") for part in ("ih", "hh", "c") for kind in ("weight", "bias")]
            bias = get("bias_ih") + get("bias_hh")
            w_hr = get("weight_hr") if layer.proj_size else None
            h, c = h0[k * layer.num_directions + d], c0[k * layer.num_directions + d]
            out = [torch.empty(0)] * x.size(0)
            for t in reversed(range(x.size(0))) if d else range(x.size(0)):
                h, c = ln_lstm_by_hand(layer_input[t], h, c, get("weight_ih"), get("weight_hh"), bias, ln, w_hr)
                out[t] = h
            outputs.append(torch.stack(out))
            h_n.append(h)
            c_n.append(c)
        layer_input = torch.cat(outputs, dim=2)
    return layer_input, torch.stack(h_n), torch.stack(c_n)


@pytest.mark.parametrize("proj_size", [0, P])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_layer_norm_lstm_matches_the_papers_equations(fast: bool, proj_size: int) -> None:
    layer = rnnkit_layer("lstm", fast=fast, num_layers=2, bidirectional=True, layer_norm=True, proj_size=proj_size)
    with torch.no_grad():  # gains 1 and shifts 0 would hide a mix-up between them
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):
                p.copy_(randn(*p.shape, seed=len(name)))
    x = randn(T, B, I, seed=3)
    h0, c0 = initial_state(layer)
    out, (h_n, c_n) = layer(x, (h0, c0))
    expected = ln_stack_by_hand(layer, x, h0, c0)
    torch.testing.assert_close(out, expected[0])
    torch.testing.assert_close(h_n, expected[1])
    torch.testing.assert_close(c_n, expected[2])


# ---- recurrent_dropout -------------------------------------------------------------------------

FIRST_BLOCK_PRE = {  # how to read the first gate block's pre-activation back from record()
    "rnn_tanh": lambda r: r["a"],
    "lstm": lambda r: torch.logit(r["i"]),
    "gru": lambda r: torch.logit(r["r"]),
}


@pytest.mark.parametrize("mode", list(FIRST_BLOCK_PRE))
def test_recurrent_dropout_drops_the_same_units_at_every_step(mode: str) -> None:
    # A hand-built layer whose first gate block sees 1 + (m * h_prev), where m is the dropout mask:
    # weight_ih's first block is the identity and x is all ones, weight_hh's first block is the
    # identity, and everything else is zero except biases of 1 on the other blocks, which keep h > 0.
    # Then m_t = (pre_t - 1) / h_{t-1} can be read back at each step t.
    Hd, Bd, Td = 64, 4, 5
    layer = rnnkit_layer(mode, input_size=Hd, hidden_size=Hd, recurrent_dropout=0.5)
    with torch.no_grad():
        for p in layer.parameters():
            p.zero_()
        layer.get_parameter("weight_ih_l0")[:Hd] = torch.eye(Hd)
        layer.get_parameter("weight_hh_l0")[:Hd] = torch.eye(Hd)
        layer.get_parameter("bias_ih_l0")[Hd:] = 1.0
    torch.manual_seed(0)
    x = torch.ones(Bd, Td, Hd, dtype=torch.float64)
    h0 = torch.ones(1, Bd, Hd, dtype=torch.float64)
    rec = layer.record(x.transpose(0, 1), (h0, h0) if mode == "lstm" else h0)
    steps = rec.steps[0][0]
    h_prev = torch.cat([h0[0].unsqueeze(1), steps["h"][:, :-1]], dim=1)  # (B, T, H)
    assert (h_prev > 0).all()
    masks = (FIRST_BLOCK_PRE[mode](steps) - 1) / h_prev  # (B, T, H)
    kept = masks > 0.5
    torch.testing.assert_close(masks, kept.double() * 2.0)  # inverted dropout: kept units are scaled by 1/0.5
    assert (kept == kept[:, :1]).all(), "the mask changed between steps"
    assert 0.3 < kept.double().mean() < 0.7  # about half the units are dropped
    assert not (kept[0] == kept[1]).all(), "every sequence should draw its own mask"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("mode", MODES)
def test_recurrent_dropout_does_nothing_in_eval_mode(mode: str, fast: bool) -> None:
    theirs = twins(mode, num_layers=2, bidirectional=True)[1]
    ours = rnnkit_layer(mode, fast=fast, num_layers=2, bidirectional=True, recurrent_dropout=0.5)
    ours.load_state_dict(theirs.state_dict())
    x = randn(T, B, I, seed=9)
    ours.train()
    torch.manual_seed(0)
    first, second = ours(x)[0], ours(x)[0]
    assert not torch.allclose(first, theirs(x)[0])
    assert not torch.allclose(first, second)
    ours.eval()
    assert_results_equal(run(ours, x, kind="dense"), run(theirs, x, kind="dense"))


# ---- record() ----------------------------------------------------------------------------------


def manual_step(mode: str, x: Tensor, h: Tensor, c: Tensor | None,
                w: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor, Tensor | None]:
    """One step written out with torch ops: the gates, the new h and (LSTM) the new c."""
    gi = x @ w["weight_ih"].T + w["bias_ih"]
    gh = h @ w["weight_hh"].T + w["bias_hh"]
    if mode == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        assert c is not None
        c = f * c + i * g
        h = o * c.tanh()
        if "weight_hr" in w:
            h = h @ w["weight_hr"].T
        return {"i": i, "f": f, "g": g, "o": o, "h": h, "c": c}, h, c
    if mode == "gru":
        (i_r, i_z, i_n), (h_r, h_z, h_n) = gi.chunk(3, dim=-1), gh.chunk(3, dim=-1)
        r, z = (i_r + h_r).sigmoid(), (i_z + h_z).sigmoid()
        n = (i_n + r * h_n).tanh()
        h = (1 - z) * n + z * h
        return {"r": r, "z": z, "n": n, "h": h}, h, None
    a = gi + gh
    h = a.tanh() if mode == "rnn_tanh" else a.relu()
    return {"a": a, "h": h}, h, None


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("variant", ["lstm", "lstm_proj", "gru", "rnn_tanh", "rnn_relu"])
def test_record_matches_a_manual_recomputation(variant: str, batch_first: bool) -> None:
    mode = "lstm" if variant == "lstm_proj" else variant
    layer = rnnkit_layer(mode, num_layers=2, bidirectional=True, batch_first=batch_first,
                         proj_size=P if variant == "lstm_proj" else 0)
    x = randn(B, T, I, seed=11)  # batch-first here; transposed for a time-major layer
    hx = initial_state(layer)
    rec = layer.record(x if batch_first else x.transpose(0, 1), hx, lengths=LENGTHS)

    # record's output and final state are forward()'s
    out, state = layer(x if batch_first else x.transpose(0, 1), hx, lengths=LENGTHS)
    torch.testing.assert_close(rec.output, out if batch_first else out.transpose(0, 1))
    torch.testing.assert_close(rec.h_n, state[0] if mode == "lstm" else state)
    if mode == "lstm":
        torch.testing.assert_close(rec.c_n, state[1])
    else:
        assert rec.c_n is None

    # each sequence alone, each direction stepped by hand over its real steps only, stored in input order
    h0, c0 = hx if isinstance(hx, tuple) else (hx, None)  # a tuple for the LSTM
    for b, length in enumerate(LENGTHS):
        layer_input = x[b, :length]  # (length, I)
        for k, d, s in directions(layer):
            w = {n: getattr(layer, n + s) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
                 if hasattr(layer, n + s)}
            h = h0[k * 2 + d, b]
            c = None if c0 is None else c0[k * 2 + d, b]
            expected: dict[str, list[Tensor]] = {}
            for t in reversed(range(length)) if d else range(length):
                gates, h, c = manual_step(mode, layer_input[t], h, c, w)
                for name, value in gates.items():
                    expected.setdefault(name, [torch.empty(0)] * length)[t] = value
            recorded = rec.steps[k][d]
            assert set(recorded) == set(expected)
            for name, values in expected.items():
                torch.testing.assert_close(recorded[name][b, :length], torch.stack(values), msg=prefixed(name))
            if d == 1:  # next layer's input: both directions' h in input order
                layer_input = torch.cat([rec.steps[k][0]["h"][b, :length], rec.steps[k][1]["h"][b, :length]], dim=1)


# ---- unbatched input ---------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("variant", ["lstm", "lstm_proj", "gru", "rnn_tanh", "rnn_relu"])
def test_unbatched_input_works_like_torch(variant: str, with_hx: bool, fast: bool) -> None:
    mode = "lstm" if variant == "lstm_proj" else variant
    options: dict[str, Any] = {"num_layers": 2, "bidirectional": True, "batch_first": True}
    if variant == "lstm_proj":
        options["proj_size"] = P
    ours, theirs = twins(mode, fast=fast, **options)
    x = randn(T, I, seed=12)  # (T, I): one sequence, whatever batch_first says
    hx: Any = None
    if with_hx:
        state = initial_state(theirs)
        hx = tuple(s[:, 0] for s in state) if isinstance(state, tuple) else state[:, 0]  # (L*D, H)
    expected = run(theirs, x, hx)
    assert expected["output"].shape[:1] == (T,)
    assert_results_equal(run(ours, x, hx), expected)


def test_lstm_layer_and_cell_agree() -> None:
    # the layer's loop and the cell module share lstm_step; a one-step sequence is one cell call
    layer = rnnkit.LSTM(I, H, dtype=torch.float64)
    cell = rnnkit.LSTMCell(I, H, dtype=torch.float64)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = randn(1, B, I, seed=13)
    out, (h_n, c_n) = layer(x)
    h, c = cell(x[0])
    torch.testing.assert_close(out[0], h)
    torch.testing.assert_close(c_n[0], c)
