"""The cells and step functions: against torch.nn's cells, against values worked by hand, and gradcheck."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import pytest
import torch
from support import ln_lstm_by_hand, prefixed, randn
from torch import Tensor, nn

import rnnkit
from rnnkit.cells import CELLS, gru_step, ln_lstm_step, lstm_step, rnn_step

pytestmark = pytest.mark.usefixtures("one_thread")

I, H = 4, 5  # gradcheck's tiny sizes, with B = 2 below
CELL_PAIRS = [
    (rnnkit.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    (rnnkit.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    (rnnkit.LSTMCell, nn.LSTMCell, {}),
    (rnnkit.GRUCell, nn.GRUCell, {}),
]


def cell_twins(ours_cls: type[nn.Module], theirs_cls: type[nn.Module], **options: Any) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    theirs = theirs_cls(I, H, dtype=torch.float64, **options)
    ours = ours_cls(I, H, dtype=torch.float64, **options)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def cell_forward_backward(cell: nn.Module, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None) -> dict[str, Tensor]:
    """Outputs and every gradient of a fixed random weighting of the outputs."""
    x = x.clone().requires_grad_()
    hx_in: Any = None
    if isinstance(hx, tuple):
        hx_in = tuple(s.clone().requires_grad_() for s in hx)
    elif hx is not None:
        hx_in = hx.clone().requires_grad_()
    out = cell(x, hx_in)
    outs = tuple(out) if isinstance(out, tuple) else (out,)
    sum((o * randn(*o.shape, seed=k)).sum() for k, o in enumerate(outs)).backward()
    result = {f"out{k}": o.detach() for k, o in enumerate(outs)}
    result["grad_x"] = x.grad
    for k, s in enumerate(hx_in if isinstance(hx_in, tuple) else (hx_in,) if hx_in is not None else ()):
        result[f"grad_hx{k}"] = s.grad
    result.update({f"grad_{n}": p.grad for n, p in cell.named_parameters()})
    return result


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("pair", CELL_PAIRS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_cell_matches_torch(pair: tuple[Any, Any, dict[str, Any]], with_hx: bool, batched: bool, bias: bool) -> None:
    ours_cls, theirs_cls, options = pair
    ours, theirs = cell_twins(ours_cls, theirs_cls, bias=bias, **options)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    lead = (2,) if batched else ()  # torch.nn cells also take one unbatched example (I,)
    x = randn(*lead, I, seed=1)
    hx: Any = None
    if with_hx:
        hx = randn(*lead, H, seed=2)
        if theirs_cls is nn.LSTMCell:
            hx = (hx, randn(*lead, H, seed=3))
    expected = cell_forward_backward(theirs, x, hx)
    actual = cell_forward_backward(ours, x, hx)
    assert actual.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], msg=prefixed(key))


def test_lstm_cell_returns_a_named_state() -> None:
    h, c = rnnkit.LSTMCell(I, H)(torch.zeros(2, I))
    state = rnnkit.LSTMCell(I, H)(torch.zeros(2, I))
    assert isinstance(state, rnnkit.LSTMState)
    assert state.h.shape == state.c.shape == h.shape == c.shape == (2, H)


def test_cells_factory_names_every_cell() -> None:
    assert {"rnn": rnnkit.RNNCell, "lstm": rnnkit.LSTMCell, "gru": rnnkit.GRUCell} == CELLS


@pytest.mark.parametrize(
    ("call", "error", "fragments"),
    [
        (lambda: rnnkit.LSTMCell(I, H)(torch.zeros(2, 3)), ValueError, ("LSTMCell:", "(B, 4) or (4,)", "got (2, 3)")),
        (lambda: rnnkit.GRUCell(I, H)(torch.zeros(3, 2, I)), ValueError,
         ("GRUCell:", "got (3, 2, 4)", "use the layers")),
        (lambda: rnnkit.RNNCell(I, H)(torch.zeros(2, I, dtype=torch.long)), TypeError,
         ("RNNCell:", "torch.int64", "Embedding")),
        (lambda: rnnkit.LSTMCell(I, H)(torch.zeros(2, I), torch.zeros(2, H)), TypeError,
         ("LSTMCell:", "pair (h_0, c_0)", "got Tensor")),
        (lambda: rnnkit.LSTMCell(I, H)(torch.zeros(2, I), (torch.zeros(2, H), torch.zeros(2, 3))), ValueError,
         ("expected c_0 of shape (2, 5)", "got (2, 3)")),
        (lambda: rnnkit.GRUCell(I, H)(torch.zeros(2, I), torch.zeros(H)), ValueError,
         ("expected hx of shape (2, 5)", "input (2, 4)", "got (5,)")),
        (lambda: rnnkit.RNNCell(I, H)(torch.zeros(I), [0.0] * H), TypeError,
         ("RNNCell:", "hx must be a torch.Tensor", "got list")),
    ],
)
def test_cell_errors(call: Any, error: type[Exception], fragments: tuple[str, ...]) -> None:
    with pytest.raises(error) as info:
        call()
    assert all(f in str(info.value) for f in fragments), str(info.value)


# ---- values worked by hand: H = I = 1, so every matrix is one number ---------------------------


def one(value: float) -> Tensor:
    return torch.tensor([[value]], dtype=torch.float64)  # (1, 1)


def test_rnn_step_by_hand() -> None:
    # h = tanh(w_ih x + b_ih + w_hh h_prev + b_hh) = tanh(0.5 * 2 + 0.1 + (-1) * 0.3 + 0.2) = tanh(1.0)
    h = rnn_step(one(2.0), one(0.3), one(0.5), one(-1.0), torch.tensor([0.1]).double(), torch.tensor([0.2]).double())
    torch.testing.assert_close(h, one(math.tanh(1.0)))
    # relu clips the negative pre-activation -1.0 + 0.5 = -0.5 to zero
    h = rnn_step(one(1.0), one(1.0), one(-1.0), one(0.5), nonlinearity="relu")
    torch.testing.assert_close(h, one(0.0))


def test_lstm_step_by_hand() -> None:
    # weight_ih = [1, 2, 3, -1] (gates i, f, g, o), weight_hh = 0, no bias, x = 1, c_prev = 0.5:
    # i = s(1), f = s(2), g = tanh(3), o = s(-1); c = f * 0.5 + i * g; h = o * tanh(c)
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    c = s(2) * 0.5 + s(1) * math.tanh(3)
    h = s(-1) * math.tanh(c)
    w_ih = torch.tensor([[1.0], [2.0], [3.0], [-1.0]], dtype=torch.float64)  # (4H, I)
    record: dict[str, Tensor] = {}
    state = lstm_step(one(1.0), one(0.7), one(0.5), w_ih, torch.zeros(4, 1, dtype=torch.float64), record=record)
    torch.testing.assert_close(state.c, one(c))
    torch.testing.assert_close(state.h, one(h))
    torch.testing.assert_close(torch.cat([record[k] for k in "ifgo"], 1),
                               torch.tensor([[s(1), s(2), math.tanh(3), s(-1)]]).double())
    # a projection multiplies h by weight_hr (P, H) = 2
    projected = lstm_step(one(1.0), one(0.7), one(0.5), w_ih, torch.zeros(4, 1, dtype=torch.float64),
                          weight_hr=one(2.0))
    torch.testing.assert_close(projected.h, one(2 * h))


def test_gru_step_by_hand() -> None:
    # weight_ih = [1, -1, 0.5] (gates r, z, n), weight_hh = [0, 0, 2], b_hh = [0, 0, 1], x = 1, h_prev = 0.4:
    # r = s(1), z = s(-1), n = tanh(0.5 + r * (2 * 0.4 + 1)), h = (1 - z) * n + z * 0.4
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    n = math.tanh(0.5 + s(1) * 1.8)
    h = (1 - s(-1)) * n + s(-1) * 0.4
    w_ih = torch.tensor([[1.0], [-1.0], [0.5]], dtype=torch.float64)
    w_hh = torch.tensor([[0.0], [0.0], [2.0]], dtype=torch.float64)
    b_hh = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    record: dict[str, Tensor] = {}
    out = gru_step(one(1.0), one(0.4), w_ih, w_hh, None, b_hh, record=record)
    torch.testing.assert_close(out, one(h))
    torch.testing.assert_close(record["n"], one(n))
    # the recurrent mask zeroes h_prev inside the matrix multiply only: n = tanh(0.5 + r * 1), carry z * 0.4 kept
    masked = gru_step(one(1.0), one(0.4), w_ih, w_hh, None, b_hh, recurrent_mask=one(0.0))
    torch.testing.assert_close(masked, one((1 - s(-1)) * math.tanh(0.5 + s(1)) + s(-1) * 0.4))


@pytest.mark.parametrize("projection", [False, True])
def test_ln_lstm_step_matches_the_equations(projection: bool) -> None:
    P = 2 if projection else H
    x, h_prev, c_prev = randn(2, I, seed=1), randn(2, P, seed=2), randn(2, H, seed=3)
    w_ih, w_hh, b = randn(4 * H, I, seed=4), randn(4 * H, P, seed=5), randn(4 * H, seed=6)
    ln = [randn(n, seed=10 + k) for k, n in enumerate((4 * H, 4 * H, 4 * H, 4 * H, H, H))]
    w_hr = randn(P, H, seed=20) if projection else None
    h, c = ln_lstm_by_hand(x, h_prev, c_prev, w_ih, w_hh, b, ln, w_hr)
    state = ln_lstm_step(x, h_prev, c_prev, w_ih, w_hh, b, (ln[0], ln[1]), (ln[2], ln[3]), (ln[4], ln[5]),
                         weight_hr=w_hr)
    torch.testing.assert_close(state.c, c)
    torch.testing.assert_close(state.h, h)


# ---- gradcheck on every step function (float64, B=2, I=4, H=5) --------------------------------


def leaf(*shape: int, seed: int) -> Tensor:
    return randn(*shape, seed=seed).requires_grad_()


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_step_gradcheck(nonlinearity: str) -> None:
    args = (leaf(2, I, seed=1), leaf(2, H, seed=2), leaf(H, I, seed=3), leaf(H, H, seed=4), leaf(H, seed=5),
            leaf(H, seed=6))
    assert torch.autograd.gradcheck(partial(rnn_step, nonlinearity=nonlinearity), args)


@pytest.mark.parametrize("projection", [False, True])
def test_lstm_step_gradcheck(projection: bool) -> None:
    P = 3 if projection else H
    args = [leaf(2, I, seed=1), leaf(2, P, seed=2), leaf(2, H, seed=3), leaf(4 * H, I, seed=4), leaf(4 * H, P, seed=5)]
    args += [leaf(4 * H, seed=6), leaf(4 * H, seed=7)] + ([leaf(P, H, seed=8)] if projection else [])
    assert torch.autograd.gradcheck(lambda *a: tuple(lstm_step(*a)), tuple(args))


def test_gru_step_gradcheck() -> None:
    args: tuple[Tensor, ...] = (leaf(2, I, seed=1), leaf(2, H, seed=2), leaf(3 * H, I, seed=3), leaf(3 * H, H, seed=4))
    args += (leaf(3 * H, seed=5), leaf(3 * H, seed=6))
    mask = (torch.rand(2, H, generator=torch.Generator().manual_seed(0)) > 0.5).double() * 2
    assert torch.autograd.gradcheck(lambda *a: gru_step(*a), args)
    assert torch.autograd.gradcheck(partial(gru_step, recurrent_mask=mask), args)


def test_ln_lstm_step_gradcheck() -> None:
    x, h, c, w_ih, w_hh = leaf(2, I,
                               seed=1), leaf(2, H,
                                             seed=2), leaf(2, H, seed=3), leaf(4 * H, I, seed=4), leaf(4 * H, H, seed=5)
    b = leaf(4 * H, seed=6)
    ln = [leaf(n, seed=10 + k) for k, n in enumerate((4 * H, 4 * H, 4 * H, 4 * H, H, H))]

    def f(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor, *ln: Tensor) -> tuple[Tensor, ...]:
        return tuple(ln_lstm_step(x, h, c, w_ih, w_hh, b, (ln[0], ln[1]), (ln[2], ln[3]), (ln[4], ln[5])))

    assert torch.autograd.gradcheck(f, (x, h, c, w_ih, w_hh, b, *ln))
