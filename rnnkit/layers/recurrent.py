"""Multi-layer, optionally bidirectional recurrent layers: drop-ins for torch.nn.LSTM/GRU/RNN.

Same constructor, same forward signature, same parameter names (``weight_ih_l0``,
``bias_hh_l1_reverse``, ...), so a ``torch.nn`` state dict loads as it is. Beyond
``torch.nn``: padded input with a ``lengths`` tensor, recurrent (variational) dropout,
forget-gate bias initialisation, a layer-normalised LSTM, and ``record()``, which returns
every step's gates and states.

Shape legend: B batch, T time, I input size, H hidden size, P projection size,
D directions (1 or 2), L layers. Internally everything runs time-major (T, B, ·), so that
a step reads one contiguous slab; ``batch_first`` only changes what the caller sees.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit import errors
from rnnkit.layers import checks
from rnnkit.layers.fast import Path, Stack, choose_path, run_path
from rnnkit.layers.reference import DirectionParams, run_direction
from rnnkit.layers.sequence import reverse_padded

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


@dataclass
class Recording:
    """Everything a forward pass computed, step by step (from ``record()``).

    ``steps[layer][direction]`` maps a name (gates i, f, g, o or r, z, n; the Elman
    pre-activation a; states h and c) to a (B, T, H) tensor in input time order. One
    unbatched (T, I) sequence comes back as a batch of one.
    """

    output: Tensor  # (B, T, D*H_out), batch-first whatever the layer's batch_first
    h_n: Tensor  # (L*D, B, H_out)
    c_n: Tensor | None  # (L*D, B, H) for an LSTM
    steps: list[list[dict[str, Tensor]]] = field(default_factory=list)


# what forward returns: output, h_n or (h_n, c_n)
Output = tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]


class Prepared(NamedTuple):
    """A call's input brought to the one layout the paths take, and the way back (``_prepare``)."""

    x: Tensor  # (T, B, I), time-major, batched
    h0: Tensor  # (L*D, B, H_out)
    c0: Tensor | None  # (L*D, B, H) for an LSTM
    lengths: Tensor | None  # (B,), or None when no row is padded
    restore: Callable[[Tensor, Tensor, Tensor | None], Output]  # (out (T, B, ·), h_n, c_n) -> the caller's layout


class RecurrentBase(nn.Module):
    """What LSTM, GRU and RNN share: parameters, checks, and the two paths over time."""

    mode: str = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        recurrent_dropout: float = 0.0,
        layer_norm: bool = False,
        fast: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if self.mode != "lstm":
            _no_option(name, proj_size=proj_size, layer_norm=layer_norm)
        input_size, hidden_size, num_layers, proj_size, dropout, recurrent_dropout = checks.check_constructor(
            name, input_size, hidden_size, num_layers, dropout, proj_size, recurrent_dropout, dtype,
            bias=bias, batch_first=batch_first, bidirectional=bidirectional, layer_norm=layer_norm, fast=fast,
        )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout={dropout} has no effect with num_layers=1; it applies between layers. "
                "For dropout on the recurrent connection use recurrent_dropout.",
                stacklevel=2,
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.recurrent_dropout, self.layer_norm, self.fast = recurrent_dropout, layer_norm, fast
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        G, H, D = GATES[self.mode], hidden_size, self.num_directions
        H_out = proj_size or hidden_size
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else H_out * D
            for suffix in ("", "_reverse")[:D]:
                s = f"_l{layer}{suffix}"
                self.register_parameter("weight_ih" + s, nn.Parameter(torch.empty(G * H, layer_in, **kw)))
                self.register_parameter("weight_hh" + s, nn.Parameter(torch.empty(G * H, H_out, **kw)))
                if bias:
                    self.register_parameter("bias_ih" + s, nn.Parameter(torch.empty(G * H, **kw)))
                    self.register_parameter("bias_hh" + s, nn.Parameter(torch.empty(G * H, **kw)))
                if proj_size:
                    self.register_parameter("weight_hr" + s, nn.Parameter(torch.empty(proj_size, H, **kw)))
                if layer_norm:
                    for part, size in (("ih", G * H), ("hh", G * H), ("c", H)):
                        self.register_parameter(f"ln_{part}_weight{s}", nn.Parameter(torch.ones(size, **kw)))
                        self.register_parameter(f"ln_{part}_bias{s}", nn.Parameter(torch.zeros(size, **kw)))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        """D: 2 for a bidirectional layer, else 1."""
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias from U(-1/sqrt(H), 1/sqrt(H)); layer-norm gains 1, shifts
        0."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.startswith("ln_"):
                    p.fill_(1.0 if "_weight" in name else 0.0)
                else:
                    p.uniform_(-bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for key, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False),
                             ("proj_size", 0), ("recurrent_dropout", 0.0), ("layer_norm", False)):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        return s

    # ---- parameters by layer and direction -------------------------------------------------

    def direction_params(self, layer: int, direction: int) -> DirectionParams:
        """The weights and biases of one layer (from 0) and direction (0 forward, 1 reverse), by their PyTorch names."""
        s = f"_l{layer}" + ("_reverse" if direction else "")
        get: Any = lambda n: getattr(self, n + s, None)  # noqa: E731
        ln = None
        if self.layer_norm:
            ln = tuple(getattr(self, f"ln_{part}_{kind}{s}") for part in ("ih", "hh", "c")
                       for kind in ("weight", "bias"))
        return DirectionParams(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr"), ln)

    def flat_weights(self) -> list[Tensor]:
        """The parameter list in the order PyTorch's fused kernels expect."""
        out: list[Tensor] = []
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                p = self.direction_params(layer, d)
                out += [p.weight_ih, p.weight_hh]
                out += [p.bias_ih, p.bias_hh] if p.bias_ih is not None and p.bias_hh is not None else []
                out += [p.weight_hr] if p.weight_hr is not None else []
        return out

    # ---- forward ---------------------------------------------------------------------------

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> Output:
        """Run the stack over a whole sequence.

        Args:
            input: (T, B, I), or (B, T, I) with batch_first, or (T, I) for one sequence, or a PackedSequence.
            hx: initial state, (L*D, B, H_out) (for an LSTM a pair (h_0, c_0), c_0 being (L*D, B, H)); zeros if None.
            lengths: (B,) true lengths of a padded batch; outputs past a length are zero and the
                final state is taken at each sequence's own last step.
        Returns:
            output in the input's layout with D*H_out features, and h_n (an LSTM: (h_n, c_n)).
        """
        x, h0, c0, lens, restore = self._prepare(input, hx, lengths)
        stack = Stack.of(self)
        plan = choose_path(self, x, h0, lens, weights=stack.weights)  # which kernel runs: rnnkit/layers/fast/choose.py
        if plan.path is Path.REFERENCE:
            out, h_n, c_n = self._reference(x, h0, c0, lens, None)
        else:
            out, h_n, c_n = run_path(plan, stack, x, h0, c0, lens)
        return restore(out, h_n, c_n)

    def record(
        self,
        input: Tensor,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> Recording:
        """Run the reference path and keep every step's gates and states (see ``Recording``)."""
        if isinstance(input, PackedSequence):
            raise TypeError(f"{type(self).__name__}.record: pass a padded tensor and lengths, not a PackedSequence.")
        x, h0, c0, lens, _ = self._prepare(input, hx, lengths)
        traces: list[list[dict[str, Tensor]]] = []
        out, h_n, c_n = self._reference(x, h0, c0, lens, traces)
        return Recording(out.transpose(0, 1), h_n, c_n, traces)

    def _reference(
        self, x: Tensor, h0: Tensor, c0: Tensor | None, lengths: Tensor | None,
        traces: list[list[dict[str, Tensor]]] | None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The whole stack as nested loops: layers, then directions, then time (in run_direction)."""
        h_n, c_n = [], []
        layer_input = x  # (T, B, I)
        for layer in range(self.num_layers):
            outputs = []
            layer_traces: list[dict[str, Tensor]] = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                seq = reverse_padded(layer_input, lengths) if d else layer_input
                trace: dict[str, list[Tensor]] | None = {} if traces is not None else None
                out, h, c = run_direction(
                    self.mode, seq, h0[k], None if c0 is None else c0[k], self.direction_params(layer, d),
                    lengths, self._recurrent_mask(h0[k]), trace,
                )
                outputs.append(reverse_padded(out, lengths) if d else out)  # (T, B, H_out)
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
                if trace is not None:
                    stacked = {n: torch.stack(v) for n, v in trace.items()}  # (T, B, H) each
                    if d:
                        stacked = {n: reverse_padded(v, lengths) for n, v in stacked.items()}
                    layer_traces.append({n: v.transpose(0, 1) for n, v in stacked.items()})
            if traces is not None:
                traces.append(layer_traces)
            layer_input = torch.cat(outputs, dim=2)  # (T, B, D*H_out)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, torch.stack(h_n), (torch.stack(c_n) if c_n else None)

    def _recurrent_mask(self, h: Tensor) -> Tensor | None:
        """One dropout mask per sequence, reused at every step (variational dropout)."""
        if not (self.recurrent_dropout and self.training):
            return None
        keep = 1.0 - self.recurrent_dropout
        return torch.bernoulli(torch.full_like(h, keep)) / keep

    def _prepare(
        self, input: Tensor | PackedSequence, hx: Tensor | tuple[Tensor, Tensor] | None,
        lengths: Tensor | Sequence[int] | None,
    ) -> Prepared:
        """Check everything, bring the input to (T, B, I), and return a function that undoes it."""
        name = type(self).__name__
        packed: PackedSequence | None = None
        packed_lengths = torch.empty(0, dtype=torch.long)  # a PackedSequence's own lengths, to pack the output alike
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(f"{name}: a PackedSequence carries its own lengths; do not also pass lengths.")
            packed = input
            x, packed_lengths = pad_packed_sequence(packed)  # (T, B, I) in the caller's original order
            lengths = packed_lengths
        else:
            x = input
        checks.check_input(name, x, self.input_size, self.batch_first and packed is None,
                           self.direction_params(0, 0).weight_ih)
        unbatched = x.dim() == 2
        if unbatched:
            if lengths is not None:
                raise ValueError(f"{name}: lengths need a batch; got one unbatched sequence of shape {tuple(x.shape)}.")
            x = x.unsqueeze(1)
        elif self.batch_first and packed is None:
            x = x.transpose(0, 1)
        T, B = x.size(0), x.size(1)
        if lengths is not None:
            lengths = checks.check_lengths(name, lengths, B, T)
            if bool((lengths == T).all()):
                lengths = None  # nothing is padded: skip the masking
        h0, c0 = self._initial_state(hx, x, unbatched)

        def restore(out: Tensor, h_n: Tensor, c_n: Tensor | None) -> Output:
            result: Tensor | PackedSequence = out
            if unbatched:
                result, h_n = out.squeeze(1), h_n.squeeze(1)
                c_n = c_n.squeeze(1) if c_n is not None else None
            elif packed is not None:
                result = _repack(out, packed, packed_lengths)
            elif self.batch_first:
                result = out.transpose(0, 1)
            return result, ((h_n, c_n) if c_n is not None and self.mode == "lstm" else h_n)

        return Prepared(x, h0, c0, lengths, restore)

    def _initial_state(self, hx, x: Tensor, unbatched: bool) -> tuple[Tensor, Tensor | None]:
        name, B = type(self).__name__, x.size(1)
        LD, H, H_out = self.num_layers * self.num_directions, self.hidden_size, self.proj_size or self.hidden_size
        is_lstm = self.mode == "lstm"
        if hx is None:
            h0 = x.new_zeros(LD, B, H_out)
            return h0, (x.new_zeros(LD, B, H) if is_lstm else None)
        if is_lstm and not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise errors.StateTypeError(f"{name}: hx must be a pair (h_0, c_0) for an LSTM, got {_kind(hx)}.")
        if not is_lstm and isinstance(hx, tuple | list):
            raise errors.StateTypeError(f"{name}: hx must be one tensor h_0 of shape (L*D, B, H), got a "
                                        f"{type(hx).__name__}.")
        states = list(hx) if is_lstm else [hx]
        sizes = [H_out, H]
        for k, (what, s) in enumerate(zip(("h_0", "c_0"), states, strict=False)):
            expected = (LD, sizes[k]) if unbatched else (LD, B, sizes[k])
            checks.check_state(name, what, s, expected, x)
        if unbatched:
            states = [s.unsqueeze(1) for s in states]
        return states[0], (states[1] if is_lstm else None)


class LSTM(RecurrentBase):
    """A multi-layer LSTM, a drop-in for ``torch.nn.LSTM`` (see ``rnnkit.cells.lstm`` for the equations).

    Extra options: ``forget_bias`` sets the forget gate's total bias at initialisation
    (Jozefowicz et al., 2015, recommend 1.0: the cell starts out remembering),
    ``recurrent_dropout``, ``layer_norm``, and ``fast=False`` to force the reference loop.
    """

    mode = "lstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        recurrent_dropout: float = 0.0,
        layer_norm: bool = False,
        fast: bool = True,
        forget_bias: float | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if forget_bias is not None and (isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real)):
            raise errors.ArgumentTypeError(f"LSTM: forget_bias must be a number or None, got {forget_bias!r}.")
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
            recurrent_dropout, layer_norm, fast, device, dtype,
        )
        if forget_bias is not None and not self.bias:
            raise errors.ArgumentValueError(f"LSTM: forget_bias={forget_bias!r} needs a bias, but bias=False; drop one "
                                            "of the two.")

    def reset_parameters(self) -> None:
        """PyTorch's initialisation, then, when ``forget_bias`` is given, the forget-gate block of bias_ih set to it
        and that of bias_hh to 0."""
        super().reset_parameters()
        if self.forget_bias is None or not self.bias:
            return
        H = self.hidden_size
        with torch.no_grad():
            for name, p in self.named_parameters():
                # gates are i, f, g, o: the forget gate is the second block of H rows
                if name.startswith("bias_ih"):
                    p[H : 2 * H] = self.forget_bias
                elif name.startswith("bias_hh"):
                    p[H : 2 * H] = 0.0


class GRU(RecurrentBase):
    """A multi-layer GRU, a drop-in for ``torch.nn.GRU`` (see ``rnnkit.cells.gru`` for the equations)."""

    mode = "gru"


class RNN(RecurrentBase):
    """A multi-layer Elman RNN, a drop-in for ``torch.nn.RNN``: ``nonlinearity`` is "tanh" or "relu"."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        recurrent_dropout: float = 0.0,
        layer_norm: bool = False,
        fast: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise errors.ArgumentValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}.")
        self.nonlinearity = nonlinearity
        self.mode = f"rnn_{nonlinearity}"
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
            recurrent_dropout, layer_norm, fast, device, dtype,
        )


def _repack(out: Tensor, packed: PackedSequence, lengths: Tensor) -> PackedSequence:
    """Pack a padded output (T, B, ·) exactly like the input was packed (same order, same batch sizes)."""
    order = packed.sorted_indices
    if order is not None:
        out, lengths = out.index_select(1, order.to(out.device)), lengths[order.cpu()]
    data = pack_padded_sequence(out, lengths, enforce_sorted=True).data
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


def _no_option(name: str, **options: Any) -> None:
    for option, value in options.items():
        # proj_size=0 is accepted (torch.nn.GRU/RNN refuse it): it is what they have, and code that builds
        # any of the three layers from the same arguments keeps working
        if value:
            raise errors.ArgumentValueError(f"{name}: {option} is available for LSTM only, got {option}={value!r}.")


def _kind(hx: Any) -> str:
    """'Tensor', or 'tuple of 3' for a sequence: what a wrong hx actually was."""
    return f"{type(hx).__name__} of {len(hx)}" if isinstance(hx, tuple | list) else type(hx).__name__
