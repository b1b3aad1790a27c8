"""minGRU and minLSTM steps: the log-space coefficients against the step, the activation g, gradcheck, the cells."""

from __future__ import annotations

import math

import pytest
import torch
from support import randn

from rnnkit.cells import MIN_CELLS, MinGRUCell, MinLSTMCell, mingru_step, minlstm_step
from rnnkit.cells.min_rnn import MIN_COEFFICIENTS, MIN_LOG_COEFFICIENTS, MIN_STEPS, g, log_g
from rnnkit.errors import ShapeError

pytestmark = pytest.mark.usefixtures("one_thread")

B, I, H = 2, 4, 5  # gradcheck's tiny sizes
GATES = {"mingru": 2, "minlstm": 3}


def weights(mode: str, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return randn(GATES[mode] * H, I, seed=seed), randn(GATES[mode] * H, seed=seed + 1)


def test_g_is_positive_continuous_and_log_g_is_its_log():
    x = torch.linspace(-30, 30, 2001, dtype=torch.float64)
    assert bool((g(x) > 0).all())
    assert g(torch.zeros(1, dtype=torch.float64)).item() == 0.5  # sigmoid(0) = 0 + 1/2: the two pieces meet at 0
    torch.testing.assert_close(log_g(x), torch.log(g(x)))
    torch.testing.assert_close(g(torch.tensor([2.0])), torch.tensor([2.5]))  # linear above 0
    torch.testing.assert_close(g(torch.tensor([-2.0])), torch.sigmoid(torch.tensor([-2.0])))


@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
def test_log_coefficients_give_the_step(mode):
    # h = a * h_prev + b with (log a, log b) from (10)/(11) must be the step (3)/(8), for any h_prev
    w, b = weights(mode)
    x, h_prev = randn(B, I, seed=3) * 3, randn(B, H, seed=4)
    log_a, log_b = MIN_LOG_COEFFICIENTS[mode](x, w, b)
    torch.testing.assert_close(log_a.exp() * h_prev + log_b.exp(), MIN_STEPS[mode](x, h_prev, w, b))
    assert bool((log_a < 0).all())  # 0 < a < 1: the state decays towards the candidates
    a, b_ = MIN_COEFFICIENTS[mode](x, w, b)  # the same in linear space (what the sequential scan takes)
    torch.testing.assert_close(a, log_a.exp())
    torch.testing.assert_close(b_, log_b.exp())


def test_minlstm_gates_are_normalised():
    w, b = weights("minlstm")
    record: dict[str, torch.Tensor] = {}
    minlstm_step(randn(B, I, seed=5), randn(B, H, seed=6), w, b, record)
    torch.testing.assert_close(record["f"] + record["i"], torch.ones(B, H, dtype=torch.float64))  # (7)


def test_mingru_by_hand():
    # H = 1, I = 1, weight_ih = [[0], [1]] (z's row reads nothing), no bias: z = sigmoid(0) = 1/2,
    # h~ = g(x); with x = 2, h_prev = 1: h = (1 - 1/2) * 1 + 1/2 * (2 + 1/2) = 1.75
    w = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    h = mingru_step(torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64), w)
    assert h.item() == pytest.approx(1.75)


@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
def test_step_and_log_coefficients_gradcheck(mode):
    w, b = (t.requires_grad_() for t in weights(mode))
    x, h_prev = randn(B, I, seed=7).requires_grad_(), randn(B, H, seed=8).requires_grad_()
    assert torch.autograd.gradcheck(MIN_STEPS[mode], (x, h_prev, w, b))
    assert torch.autograd.gradcheck(MIN_LOG_COEFFICIENTS[mode], (x, w, b))
    assert torch.autograd.gradcheck(MIN_COEFFICIENTS[mode], (x, w, b))


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
def test_cell_module_batched_and_unbatched(cls):
    torch.manual_seed(0)
    cell = cls(I, H, dtype=torch.float64)
    x, h = randn(B, I, seed=9), randn(B, H, seed=10)
    step = mingru_step if cls is MinGRUCell else minlstm_step
    torch.testing.assert_close(cell(x, h), step(x, h, cell.weight_ih, cell.bias_ih))
    torch.testing.assert_close(cell(x[0], h[0]), cell(x, h)[0])
    torch.testing.assert_close(cell(x), cell(x, torch.zeros(B, H, dtype=torch.float64)))
    bound = 1 / math.sqrt(I)  # nn.Linear's initialisation: the gates read x only
    assert float(cell.weight_ih.detach().abs().max()) <= bound
    assert MIN_CELLS[cls.mode] is cls
    assert cls(I, H, bias=False).bias_ih is None


def test_cell_says_what_input_it_expected():
    with pytest.raises(ShapeError, match=r"MinGRUCell: expected input of shape \(B, 4\)"):
        MinGRUCell(I, H)(torch.zeros(2, 3))
