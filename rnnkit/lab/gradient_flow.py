"""Gradient flow through time: how much the loss at the end still "hears" each earlier step.

For a recurrent stack, a loss L computed from its outputs, and every step t, we measure

    g_t = || dL / dh_t ||        (the total derivative, through every later step)

per sequence. Backpropagation through time multiplies g by the step Jacobian dh_t/dh_{t-1}
once per step back; for an Elman RNN that is diag(1 - h^2) W_hh, whose norm is usually
below one, so g_t shrinks geometrically with T - t (Bengio, Simard & Frasconi, 1994;
Pascanu, Mikolov & Bengio, 2013). The LSTM's cell state has dc_t/dc_{t-1} = f_t, which a
forget gate near 1 keeps close to the identity: that is what the plot makes visible.

The stack is stepped one time step at a time through the layers' own reference path
(``run_direction``), so each h_t is a tensor of the graph that autograd can differentiate
against; nothing of the cells' math is written again here.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.lab.long_term import parse_cells, parse_ints
from rnnkit.lab.model import ProbeModel
from rnnkit.lab.problems import TASKS, make_task
from rnnkit.layers import RecurrentBase
from rnnkit.layers.reference import run_direction
from rnnkit.utils.config import option
from rnnkit.utils.plotting import new_figure
from rnnkit.utils.training import check_clip


def state_gradients(
    layer: RecurrentBase, x: Tensor, loss_fn: Callable[[Tensor], Tensor],
    hx: Tensor | tuple[Tensor, Tensor] | None = None,
) -> dict[str, Tensor]:
    """Per-sequence norms of dL/dh_t (and dL/dc_t for an LSTM) at every step of every layer.

    Args:
        layer: a unidirectional rnnkit LSTM, GRU or RNN (dropout between layers is not applied).
        x: input, (B, T, I) with batch_first, else (T, B, I).
        loss_fn: maps the stack's output (B, T, H_out) to a scalar loss L.
        hx: initial state as the layer takes it; zeros if None.
    Returns:
        {"h": (L, B, T), "c": (L, B, T) for an LSTM}: the 2-norm over units of each gradient.
    """
    name = type(layer).__name__
    if not isinstance(layer, RecurrentBase):
        raise TypeError(f"state_gradients: expected an rnnkit LSTM, GRU or RNN, got {name}.")
    if layer.bidirectional:
        raise ValueError(f"state_gradients: {name} is bidirectional; the flow back from the end is defined "
                         "for one direction only. Pass a unidirectional layer.")
    if x.dim() != 3:
        raise ValueError(f"state_gradients: expected a batched input of 3 dimensions, got shape {tuple(x.shape)}.")
    xs = x.transpose(0, 1) if layer.batch_first else x  # (T, B, I)
    T, B, L = xs.size(0), xs.size(1), layer.num_layers
    H, H_out = layer.hidden_size, layer.proj_size or layer.hidden_size
    is_lstm = layer.mode == "lstm"
    if hx is None:
        h = [xs.new_zeros(B, H_out) for _ in range(L)]
        c: list[Tensor | None] = [xs.new_zeros(B, H) if is_lstm else None for _ in range(L)]
    else:
        h0, c0 = hx if isinstance(hx, tuple) else (hx, None)
        h = list(h0.unbind(0))
        c = list(c0.unbind(0)) if c0 is not None else [None] * L
    params = [layer.direction_params(k, 0) for k in range(L)]
    hs: list[list[Tensor]] = [[] for _ in range(L)]  # hs[layer][t] is h_t, (B, H_out)
    cs: list[list[Tensor]] = [[] for _ in range(L)]
    outputs = []
    for t in range(T):
        step_input = xs[t : t + 1]  # (1, B, I)
        for k in range(L):
            out, h[k], c[k] = run_direction(layer.mode, step_input, h[k], c[k], params[k])  # out (1, B, H_out)
            hs[k].append(h[k])
            c_k = c[k]
            if c_k is not None:
                cs[k].append(c_k)
            step_input = out
        outputs.append(step_input[0])
    output = torch.stack(outputs, dim=1)  # (B, T, H_out)
    loss = loss_fn(output)
    wrt = [s for per_layer in hs for s in per_layer] + [s for per_layer in cs for s in per_layer]
    grads = torch.autograd.grad(loss, wrt, allow_unused=True, materialize_grads=True)
    norms = torch.stack([g.norm(dim=1) for g in grads]).detach()  # (L*T or 2*L*T, B)
    result = {"h": norms[: L * T].view(L, T, B).transpose(1, 2)}  # (L, B, T)
    if is_lstm:
        result["c"] = norms[L * T :].view(L, T, B).transpose(1, 2)  # (L, B, T)
    return result


@dataclass(frozen=True)
class GradientFlowConfig:
    task: str = option("adding", "adding, copy or recall", choices=sorted(TASKS))
    cells: str = option("rnn,lstm,gru", "comma-separated cells to compare")
    length: int = option(100, "gap length T of the probe sequences")
    hidden_size: int = option(32, "hidden units H")  # as in `lab long-term`
    batch_size: int = option(64, "sequences per training step, and in the probe batch the norms are averaged over")
    train_steps: str = option("0,1000", "comma-separated training steps after which to measure")
    lr: float = option(1e-2, "Adam learning rate for the training steps")  # as in `lab long-term`
    clip: float = option(1.0, "gradient-norm clipping threshold (0 = off)")
    forget_bias: float = option(1.0, "LSTM forget-gate bias at init")
    seed: int = option(0, "seed for init, training data and the probe batch")
    threads: int = option(1, "torch threads (0: torch's default)")  # as in `lab long-term`
    out: str = option("lab-gradient-flow", "output directory")


@dataclass
class FlowCurve:
    cell: str
    trained_steps: int
    mean_log_norm: list[float]  # (T,) mean over the batch of log10 ||dL/dh_t||
    final_loss: float  # the task loss on the probe batch when measured


def gradient_flow(config: GradientFlowConfig) -> list[FlowCurve]:
    """For each cell and each checkpoint in ``train_steps``: log10 ||dL/dh_t|| on one fixed probe batch."""
    cells = parse_cells(config.cells)
    checkpoints = sorted(set(parse_ints("train-steps", config.train_steps)))
    check_clip(config.clip, "gradient-flow")
    task = make_task(config.task, config.length)
    probe_x, probe_y = task.sample(config.batch_size, torch.Generator().manual_seed(10_000 + config.seed))
    curves = []
    for cell in cells:
        torch.manual_seed(config.seed)
        model = ProbeModel(task, cell, config.hidden_size, config.forget_bias)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        data, done = torch.Generator().manual_seed(config.seed), 0
        for target in checkpoints:
            for _ in range(target - done):
                model.learn(optimizer, config.batch_size, data, config.clip)
            done = target
            model.eval()
            norms = probe_gradients(model, probe_x, probe_y)  # (B, T)
            with torch.no_grad():
                _, final = model(probe_x, probe_y)
            model.train()
            mean_log = norms.clamp_min(1e-30).log10().mean(0)  # (T,)
            curves.append(FlowCurve(cell, target, mean_log.tolist(), float(final)))
    return curves


def probe_gradients(model: ProbeModel, x: Tensor, y: Tensor) -> Tensor:
    """||dL_b/dh_t|| (B, T) at the probe model's top layer, L_b being sequence b's own task loss."""

    def loss_fn(output: Tensor) -> Tensor:
        # the task loss is a batch mean; times B, each sequence's gradient is that of its own loss
        return model.loss(model.head(output), y) * len(y)

    return state_gradients(model.rnn, model.encode(x), loss_fn)["h"][-1]


def plot_gradient_flow(curves: list[FlowCurve], task_name: str, path: str | Path) -> None:
    """One panel per training checkpoint: log-scale ||dL/dh_t|| against t, one line per cell."""
    checkpoints = sorted({c.trained_steps for c in curves})
    fig = new_figure((5.0 * len(checkpoints), 3.8))
    axes = fig.subplots(1, len(checkpoints), squeeze=False)
    for ax, steps in zip(axes[0], checkpoints, strict=True):
        for c in (c for c in curves if c.trained_steps == steps):
            values = [10.0 ** v for v in c.mean_log_norm]
            ax.plot(range(1, len(values) + 1), values, label=f"{c.cell} (task loss {c.final_loss:.2g})")
        ax.set_yscale("log")
        ax.set_xlabel("time step t (the loss is read after the last step)")
        ax.set_ylabel("geometric mean of ||dL/dh_t||")
        ax.set_title("at initialisation" if steps == 0 else f"after {steps} training steps")
        ax.legend(fontsize=8)
    fig.suptitle(f"Gradient flow through time, {task_name} problem, T = {len(curves[0].mean_log_norm)}")
    fig.tight_layout()
    fig.savefig(path)


def write_curves(curves: list[FlowCurve], path: str | Path) -> None:
    """One row per (cell, training steps, t): log10 of the geometric-mean gradient norm."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cell", "trained_steps", "t", "log10_grad_norm", "final_loss"])
        for c in curves:
            for t, v in enumerate(c.mean_log_norm, start=1):
                writer.writerow([c.cell, c.trained_steps, t, f"{v:.4f}", f"{c.final_loss:.5f}"])
