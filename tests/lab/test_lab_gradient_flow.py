"""Gradient norms from the lab equal a direct autograd computation with torch.nn's own cells."""

from typing import Any, cast

import matplotlib.image
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.lab.gradient_flow import (
    GradientFlowConfig,
    gradient_flow,
    plot_gradient_flow,
    state_gradients,
    write_curves,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


TORCH_CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}
LAYERS = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "rnn": rnnkit.RNN}


def reference_norms(layer, x, readout):
    """Unroll torch.nn cells with the layer's weights, keep every h_t (and c_t), backprop, take norms."""
    B, T, _ = x.shape
    cells = []
    for k in range(layer.num_layers):
        cell = TORCH_CELLS["lstm" if layer.mode == "lstm" else "gru" if layer.mode == "gru" else "rnn"](
            layer.input_size if k == 0 else layer.hidden_size, layer.hidden_size).double()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(layer, f"{name}_l{k}").data)
        cells.append(cell)
    H = layer.hidden_size
    h = [x.new_zeros(B, H) for _ in cells]
    c = [x.new_zeros(B, H) for _ in cells]
    hs, cs, top = [], [], []
    for t in range(T):
        inp = x[:, t]
        for k, cell in enumerate(cells):
            if layer.mode == "lstm":
                h[k], c[k] = cell(inp, (h[k], c[k]))
                c[k].retain_grad()
                cs.append((k, t, c[k]))
            else:
                h[k] = cell(inp, h[k])
            h[k].retain_grad()
            hs.append((k, t, h[k]))
            inp = h[k]
        top.append(inp)
    readout(torch.stack(top, dim=1)).backward()
    out = {"h": torch.zeros(layer.num_layers, B, T)}
    for k, t, v in hs:
        out["h"][k, :, t] = v.grad.norm(dim=1)
    if cs:
        out["c"] = torch.zeros(layer.num_layers, B, T)
        for k, t, v in cs:
            out["c"][k, :, t] = v.grad.norm(dim=1)
    return out


@pytest.mark.parametrize(("cell", "num_layers"), [("lstm", 1), ("lstm", 2), ("gru", 2), ("rnn", 1)])
def test_state_gradients_equal_direct_autograd(cell, num_layers):
    torch.manual_seed(0)
    layer = LAYERS[cell](3, 5, num_layers, batch_first=True).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    w = torch.randn(5, dtype=torch.float64)

    def readout(out):  # a loss read at the last step only, like the adding problem's
        return ((out[:, -1] @ w) ** 2).sum()

    got = state_gradients(layer, x, readout)
    want = reference_norms(layer, x, readout)
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name].double())


def test_last_step_gradient_is_the_readout_weight():
    """Worked by hand: L = sum_b w . h_T[b] gives dL/dh_T[b] = w, so its norm is ||w|| for every sequence."""
    layer = rnnkit.GRU(2, 4, batch_first=True).double()
    w = torch.tensor([3.0, 0.0, 4.0, 0.0], dtype=torch.float64)
    norms = state_gradients(layer, torch.randn(3, 5, 2, dtype=torch.float64), lambda out: (out[:, -1] @ w).sum())["h"]
    torch.testing.assert_close(norms[0, :, -1], torch.full((3,), 5.0, dtype=torch.float64))


def test_time_major_layer_and_bad_inputs():
    torch.manual_seed(1)
    layer = rnnkit.RNN(2, 3).double()  # time-major: x is (T, B, I)
    x = torch.randn(4, 2, 2, dtype=torch.float64)
    got = state_gradients(layer, x, lambda out: out[:, -1].sum())["h"]
    want = reference_norms(layer, x.transpose(0, 1), lambda out: out[:, -1].sum())["h"].double()
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="bidirectional"):
        state_gradients(rnnkit.LSTM(2, 3, bidirectional=True), torch.randn(4, 2, 2), lambda o: o.sum())
    with pytest.raises(TypeError, match="expected an rnnkit LSTM, GRU or RNN, got LSTM"):
        state_gradients(cast(Any, nn.LSTM(2, 3)), torch.randn(4, 2, 2), lambda o: o.sum())


def test_gradient_flow_writes_curves_and_plot(tmp_path):
    config = GradientFlowConfig(cells="rnn,lstm", length=12, hidden_size=8, batch_size=4, train_steps="0,3")
    curves = gradient_flow(config)
    assert [(c.cell, c.trained_steps) for c in curves] == [("rnn", 0), ("rnn", 3), ("lstm", 0), ("lstm", 3)]
    assert all(len(c.mean_log_norm) == 12 for c in curves)
    write_curves(curves, tmp_path / "flow.csv")
    assert len((tmp_path / "flow.csv").read_text().splitlines()) == 1 + 4 * 12
    plot_gradient_flow(curves, "adding", tmp_path / "flow.png")
    image = matplotlib.image.imread(tmp_path / "flow.png")
    assert image.shape[0] > 100
    assert image.shape[1] > 400


def test_gradient_flow_command(tmp_path, capsys):
    import argparse

    from rnnkit.lab import commands

    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lab", "gradient-flow", "--cells", "gru", "--length", "5", "--hidden-size", "4",
                              "--batch-size", "2", "--train-steps", "0", "--threads", "0", "--out", str(tmp_path)])
    assert args.run(args) == 0
    assert "gru after 0 steps" in capsys.readouterr().out
    assert (tmp_path / "gradient_flow.png").exists()
    assert (tmp_path / "gradient_flow.csv").exists()
