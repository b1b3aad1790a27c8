"""Stacked minGRU and minLSTM layers (Feng et al., 2024): a parallel scan in training, a step for sampling.

The equations are in ``rnnkit.cells.min_rnn``. Every step is h_t = a_t * h_{t-1} + b_t with a_t, b_t
computed from the input alone, so a layer computes a and b for the whole sequence with one matrix
product and then every h_t with a scan (``rnnkit.layers.scan``): ``scan="parallel"``, the log-space
scan of the paper (log a, log b, then log-cumsum-exp), or ``scan="sequential"``, a loop of in-place
steps with a hand-written backward, which is the faster of the two on a CPU; ``"auto"`` (the default)
takes the sequential scan on the CPU and the parallel one elsewhere. The reference path
(``fast=False``) is the plain loop over time calling the cells' step functions under autograd, and
tests prove all three equal. ``step`` advances the stack by one time step (what sampling uses).

The constructor and forward follow ``rnnkit.GRU``: ``MinGRU(input_size, hidden_size, num_layers,
bias, batch_first, dropout)``, ``forward(input, hx=None, lengths=None) -> (output, h_n)``, parameters
``weight_ih_l{k}`` (G*H, I_k) and ``bias_ih_l{k}`` (there is no weight_hh: the gates never see h).
Unidirectional only (a reverse direction would be the same scan run backwards; nothing here needs it).

Shape legend: B batch, T time, I input size, H hidden size, L layers. Internally batch-first (B, T, ·):
the scan's cumulative ops run along dim 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit import errors
from rnnkit.cells.min_rnn import MIN_COEFFICIENTS, MIN_GATES, MIN_LOG_COEFFICIENTS, MIN_STEPS
from rnnkit.layers import checks
from rnnkit.layers.scan import log_space_scan, sequential_scan

SCANS = ("auto", "parallel", "sequential")


class MinRecurrentBase(nn.Module):
    """What MinGRU and MinLSTM share: parameters, checks, the scan path, the reference loop and ``step``."""

    mode: str = ""
    bidirectional = False  # the attributes code written for rnnkit.GRU reads
    proj_size = 0
    num_directions = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        fast: bool = True,
        scan: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if scan not in SCANS:
            raise errors.ArgumentValueError(f"{name}: scan must be one of {SCANS}, got {scan!r}.")
        input_size, hidden_size, num_layers, _, dropout, _ = checks.check_constructor(
            name, input_size, hidden_size, num_layers, dropout, 0, 0.0, dtype, bias=bias, batch_first=batch_first,
            fast=fast,
        )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.fast, self.scan = bias, batch_first, dropout, fast, scan
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        G = MIN_GATES[self.mode]
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(G * hidden_size, layer_in, **kw)))
            if bias:
                self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(G * hidden_size, **kw)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.Linear's initialisation, U(-1/sqrt(I_k), 1/sqrt(I_k)): the gates read the layer's input only."""
        with torch.no_grad():
            for layer in range(self.num_layers):
                w, b = self.layer_params(layer)
                bound = 1.0 / math.sqrt(w.size(1)) if w.size(1) > 0 else 0.0
                for p in (w, b):
                    if p is not None:
                        p.uniform_(-bound, bound)

    def layer_params(self, layer: int) -> tuple[Tensor, Tensor | None]:
        """weight_ih (G*H, I_k) and bias_ih (G*H,) (None without bias) of one layer (from 0)."""
        return getattr(self, f"weight_ih_l{layer}"), getattr(self, f"bias_ih_l{layer}", None)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for key, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("fast", True),
                             ("scan", "auto")):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        return s

    # ---- whole sequences -------------------------------------------------------------------------

    def forward(
        self, input: Tensor, hx: Tensor | None = None, lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Run the stack over a whole sequence.

        Args:
            input: (T, B, I), or (B, T, I) with batch_first, or (T, I) for one sequence.
            hx: initial state h_0 (L, B, H) ((L, H) for one sequence); zeros if None.
            lengths: (B,) true lengths of a padded batch; outputs past a length are zero and h_n is
                taken at each sequence's own last step.
        Returns:
            output in the input's layout, (·, ·, H), and h_n (L, B, H).
        """
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            raise TypeError(f"{name}: pass a padded tensor and lengths=..., not a PackedSequence.")
        weight = self.layer_params(0)[0]
        checks.check_input(name, input, self.input_size, self.batch_first, weight)
        unbatched = input.dim() == 2
        if unbatched and lengths is not None:
            raise ValueError(f"{name}: lengths need a batch; got one unbatched sequence of shape {tuple(input.shape)}.")
        x = input.unsqueeze(0) if unbatched else (input if self.batch_first else input.transpose(0, 1))  # (B, T, I)
        B, T = x.size(0), x.size(1)
        lens = None if lengths is None else checks.check_lengths(name, lengths, B, T)
        if lens is not None and bool((lens == T).all()):
            lens = None  # nothing is padded: skip the masking
        h0 = self._initial_state(hx, x, unbatched)  # (L, B, H)
        # (B, T, 1)
        alive = None if lens is None else (torch.arange(T).unsqueeze(0) < lens.unsqueeze(1)).unsqueeze(2).to(x.device)
        h_n = []
        layer_input = x
        for layer in range(self.num_layers):
            w, b = self.layer_params(layer)
            if not self.fast:
                h = self._loop(layer_input, h0[layer], w, b, alive)  # (B, T, H)
            elif self.scan == "parallel" or (self.scan == "auto" and x.device.type != "cpu"):
                h = log_space_scan(*MIN_LOG_COEFFICIENTS[self.mode](layer_input, w, b), h0[layer])  # (B, T, H)
            else:
                h = sequential_scan(*MIN_COEFFICIENTS[self.mode](layer_input, w, b), h0[layer])  # (B, T, H)
            if lens is None or alive is None:
                h_n.append(h[:, -1])
            else:
                # the state at each sequence's own last step; the scan is causal, so padding never leaks backwards
                h_n.append(h[torch.arange(B, device=h.device), (lens - 1).to(h.device)])  # (B, H)
                h = h * alive
            layer_input = h
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        out, state = layer_input, torch.stack(h_n)  # (B, T, H), (L, B, H)
        if unbatched:
            return out.squeeze(0), state.squeeze(1)
        return (out if self.batch_first else out.transpose(0, 1)), state

    def _loop(self, x: Tensor, h: Tensor, w: Tensor, b: Tensor | None, alive: Tensor | None) -> Tensor:
        """The reference path: one layer as a plain loop over time, x (B, T, I) -> h (B, T, H).

        A finished sequence keeps its last state (so h at its last step is what carries on)."""
        step = MIN_STEPS[self.mode]
        outputs = []
        for t in range(x.size(1)):
            h_new = step(x[:, t], h, w, b)  # (B, H)
            h = h_new if alive is None else torch.where(alive[:, t], h_new, h)
            outputs.append(h)
        return torch.stack(outputs, dim=1)

    def _initial_state(self, hx: Any, x: Tensor, unbatched: bool) -> Tensor:
        name, L, B, H = type(self).__name__, self.num_layers, x.size(0), self.hidden_size
        if hx is None:
            return x.new_zeros(L, B, H)
        if isinstance(hx, tuple | list):
            raise errors.StateTypeError(f"{name}: hx must be one tensor h_0 of shape (L, B, H) = ({L}, {B}, {H}), "
                                        f"got a {type(hx).__name__}; a min-cell's state is h alone (no c).")
        checks.check_state(name, "h_0", hx, (L, H) if unbatched else (L, B, H), x.transpose(0, 1))
        return hx.unsqueeze(1) if unbatched else hx

    # ---- one step at a time ----------------------------------------------------------------------

    def step(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Advance every layer by one step (eval semantics: no dropout). x (B, I), h (L, B, H) or None.

        Returns the top layer's output (B, H) and the new state (L, B, H)."""
        if h is None:
            h = x.new_zeros(self.num_layers, x.size(0), self.hidden_size)
        states = []
        for layer in range(self.num_layers):
            w, b = self.layer_params(layer)
            x = MIN_STEPS[self.mode](x, h[layer], w, b)  # (B, H): this layer's new state is the next one's input
            states.append(x)
        return x, torch.stack(states)


class MinGRU(MinRecurrentBase):
    """A stack of minGRU layers (``rnnkit.cells.min_rnn``, equations (1)-(3)), trained with a parallel scan."""

    mode = "mingru"


class MinLSTM(MinRecurrentBase):
    """A stack of minLSTM layers (``rnnkit.cells.min_rnn``, equations (4)-(8)), trained with a parallel scan."""

    mode = "minlstm"


class MinStepper:
    """Sampling from a MinGRU/MinLSTM one step at a time, with the interface of ``rnnkit.layers.stepper.Stepper``
    that ``rnnkit.lm.sample`` uses (``reset``, ``step``, ``state``).

    The Stepper rearranges the weights of an LSTM/GRU/RNN for one fused product per step; a min-cell has
    no recurrent product at all (its gates read x only), so calling the layer's own ``step`` is all there is.
    """

    def __init__(self, layer: MinRecurrentBase, batch_size: int = 1) -> None:
        if not isinstance(layer, MinRecurrentBase):
            raise TypeError(f"MinStepper: expected an rnnkit MinGRU or MinLSTM layer, got {type(layer).__name__}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"MinStepper: batch_size must be a positive integer, got {batch_size!r}.")
        self.layer, self.batch_size = layer, batch_size
        self.reset()

    def reset(self, hx: Tensor | tuple[Tensor, Tensor] | None = None) -> None:
        """Zero the state, or set it to h_0 (L, B, H) (a min-cell's state is h alone: a pair is refused)."""
        L, B, H = self.layer.num_layers, self.batch_size, self.layer.hidden_size
        weight = self.layer.layer_params(0)[0]
        if hx is None:
            self.h = torch.zeros(L, B, H, dtype=weight.dtype, device=weight.device)
            return
        if not isinstance(hx, Tensor) or tuple(hx.shape) != (L, B, H):
            got = tuple(hx.shape) if isinstance(hx, Tensor) else type(hx).__name__
            raise ValueError(f"MinStepper.reset: expected h_0 of shape (L, B, H) = {(L, B, H)}, got {got}.")
        self.h = hx.detach().clone()

    @property
    def state(self) -> Tensor:
        """The current state h (L, B, H), a copy."""
        return self.h.clone()

    @torch.no_grad()
    def step(self, x: Tensor) -> Tensor:
        """Advance by one step on x (B, I); return the top layer's output (B, H)."""
        if not isinstance(x, Tensor) or tuple(x.shape) != (self.batch_size, self.layer.input_size):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError("MinStepper.step: expected x of shape (B, I) = "
                             f"{(self.batch_size, self.layer.input_size)}, "
                             f"got {got}. Pass one time step; for a whole sequence call the layer itself.")
        y, self.h = self.layer.step(x, self.h)
        return y
