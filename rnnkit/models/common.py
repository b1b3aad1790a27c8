"""What the five configurations share: the recurrent layer by name, the input layer, masks and checks.

Shape legend: B batch, T time, F input features, E embedding size, H hidden size,
D directions, L layers, V vocabulary, C outputs (classes or regression targets).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ArgumentTypeError, ArgumentValueError, check_size
from rnnkit.layers import LAYERS, RecurrentBase, checks
from rnnkit.utils.config import option

# A recurrent state as the core layers return it: h_n, or (h_n, c_n) for an LSTM; each (L*D, B, H).
State = Any

TASKS = ("classification", "regression")

# the recurrent layer's options, declared alike by every configuration: name -> (default, help)
RECURRENT_OPTIONS = {
    # 1.0: start out remembering (Jozefowicz et al., 2015; Keras's default): PyTorch's initialisation, 0, leaves the
    # gate half-closed and long gaps unlearnt
    "forget_bias": (1.0, "initial forget-gate bias of an LSTM (ignored for rnn/gru; None: PyTorch's initialisation)"),
    # off: the fused kernels stay usable
    "recurrent_dropout": (0.0, "dropout on the recurrent state, one mask per sequence (slower: reference loop)"),
    # off: plain cells train fine at these sizes
    "layer_norm": (False, "layer-normalised LSTM cell (cell='lstm' only; slower: reference loop)"),
}


def recurrent_option(name: str) -> Any:
    """The config field ``name`` of RECURRENT_OPTIONS, with its default and help text."""
    return option(*RECURRENT_OPTIONS[name])


def make_recurrent(
    name: str, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
    dropout: float = 0.0, bidirectional: bool = False, recurrent_dropout: float = 0.0, layer_norm: bool = False,
    forget_bias: float | None = None,
) -> RecurrentBase:
    """A batch-first core layer (rnnkit.LSTM/GRU/RNN) chosen by cell name.

    recurrent_dropout and layer_norm take the core's reference loop (slower than the fused kernels).
    forget_bias applies to an LSTM only (GRU and Elman cells have no forget gate) and is ignored for them.
    """
    if cell not in LAYERS:
        raise ArgumentValueError(f"{name}: unknown cell {cell!r}; expected one of {sorted(LAYERS)}.")
    if layer_norm and cell != "lstm":
        raise ArgumentValueError(f"{name}: layer_norm needs cell='lstm', got cell={cell!r}.")
    # dropout between layers only exists with two or more layers; the core warns otherwise
    between = dropout if num_layers > 1 else 0.0
    extra: dict[str, Any] = {"layer_norm": True} if layer_norm else {}
    if cell == "lstm" and forget_bias is not None:
        extra["forget_bias"] = forget_bias
    return LAYERS[cell](input_size, hidden_size, num_layers, batch_first=True, dropout=between,
                        bidirectional=bidirectional, recurrent_dropout=recurrent_dropout, **extra)


def check_config(name: str, config: Any, **values: Any) -> None:
    """Every field of the config of the type its annotation says, then the ranges of ``values``:
    positive sizes, a probability in [0, 1) for dropout, a task and cell from the allowed names."""
    check_field_types(name, config)
    for key, value in values.items():
        if key in ("dropout", "recurrent_dropout"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ArgumentTypeError(f"{name}: {key} must be in [0, 1), got {value!r} ({type(value).__name__}).")
            if not 0.0 <= value < 1.0:
                raise ArgumentValueError(f"{name}: {key} must be in [0, 1), got {value!r}.")
        elif key == "cell":
            if value not in LAYERS:
                raise ArgumentValueError(f"{name}: unknown cell {value!r}; expected one of {sorted(LAYERS)}.")
        elif key == "task":
            if value not in TASKS:
                raise ArgumentValueError(f"{name}: task must be one of {TASKS}, got {value!r}.")
        elif value is not None:
            check_size(name, key, value)


def check_field_types(name: str, config: Any) -> None:
    """Each field holds what its annotation says: an int is an int (not a bool, nor 64.0), a bool is True
    or False (not "no", which Python reads as true), a float is an int or a float, a str a str.
    Strict on purpose: the config goes into checkpoints as it is."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, hint = getattr(config, f.name), hints[f.name]
        union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        allowed = typing.get_args(hint) if union else (hint,)
        if not any(_holds(value, t) for t in allowed):
            expected = " or ".join(_TYPE_NAMES.get(t, getattr(t, "__name__", str(t))) for t in allowed)
            raise ArgumentTypeError(f"{name}: {f.name} must be {expected}, got {value!r} ({type(value).__name__}).")


_TYPE_NAMES: dict[Any,
                  str] = {int: "an int", bool: "True or False", float: "a number", str: "a string", type(None): "None"}


def _holds(value: Any, kind: Any) -> bool:
    if kind is type(None):
        return value is None
    if kind is float:  # a JSON 1 for 1.0 is fine
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


class InputLayer(nn.Module):
    """Token ids through an embedding, or real-valued features passed through as they are.

    With ``vocab_size`` set, inputs are integer ids in [0, V) and come out as E=input_size
    vectors; without it, inputs are already vectors whose last dimension must be F=input_size.
    """

    def __init__(self, name: str, vocab_size: int | None, input_size: int) -> None:
        super().__init__()
        self.name, self.vocab_size, self.input_size = name, vocab_size, input_size
        self.embedding = nn.Embedding(vocab_size, input_size) if vocab_size is not None else None

    def check(self, x: Any, what: str, rank_without_features: int) -> None:
        """Raise a clear error unless x is ids of rank r (with an embedding) or features of rank r+1."""
        name = self.name
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}.")
        layout = {1: "(B,)", 2: "(B, T)"}[rank_without_features]
        if self.embedding is not None:
            if x.dtype.is_floating_point or x.dtype == torch.bool or x.dtype.is_complex:
                raise TypeError(
                    f"{name}: {what} must be integer token ids {layout} because vocab_size={self.vocab_size}, "
                    f"got dtype {x.dtype}. For real-valued features set vocab_size=None."
                )
            if x.dim() != rank_without_features:
                raise ValueError(f"{name}: expected {what} of token ids with shape {layout}, got {tuple(x.shape)}.")
            # num_embeddings: vocab_size
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.embedding.num_embeddings):
                raise ValueError(
                    f"{name}: {what} ids must be in [0, vocab_size={self.vocab_size}), "
                    f"got min {int(x.min())}, max {int(x.max())}."
                )
        else:
            feat = layout[:-1] + f", F={self.input_size})"
            if not x.is_floating_point():
                raise TypeError(
                    f"{name}: {what} must be real-valued features {feat} because vocab_size is None, "
                    f"got dtype {x.dtype}. For token ids set vocab_size."
                )
            if x.dim() != rank_without_features + 1 or x.size(-1) != self.input_size:
                raise ValueError(f"{name}: expected {what} of shape {feat}, got {tuple(x.shape)}.")
        if 0 in tuple(x.shape[:rank_without_features]):
            raise ValueError(f"{name}: {what} is empty, shape {tuple(x.shape)}; need at least one element per axis.")

    def forward(self, x: Tensor) -> Tensor:
        return self.embedding(x) if self.embedding is not None else x  # (..., E or F)


def check_lengths(name: str, lengths: Any, batch: int, steps: int, what: str = "lengths") -> Tensor:
    """Lengths as an int64 tensor (B,) with every entry in [1, T]; all T when None (the layers' one check)."""
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.long)
    return checks.check_lengths(name, lengths, batch, steps, what)


def length_mask(lengths: Tensor, steps: int, device: torch.device | None = None) -> Tensor:
    """mask[b, t] = t < lengths[b]: True on real steps, False on padding. (B, T) bool."""
    return (torch.arange(steps).unsqueeze(0) < lengths.cpu().unsqueeze(1)).to(device)


def final_states(state: State, num_layers: int, num_directions: int) -> Tensor:
    """The top layer's final hidden state, directions concatenated: (L*D, B, H) -> (B, D*H)."""
    h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
    top = h_n[-num_directions:]  # (D, B, H)
    return top.transpose(0, 1).reshape(h_n.size(1), -1)  # (B, D*H)


def select_state(state: State, index: Tensor) -> State:
    """Pick batch rows of a recurrent state, e.g. to expand it over beams: (L*D, B, H) -> (L*D, N, H)."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


def head_loss(name: str, task: str, output: Tensor, targets: Any) -> Tensor:
    """Cross-entropy for classification (targets (B,) ids), mean squared error for regression (targets (B, C))."""
    B, C = output.shape
    if not isinstance(targets, Tensor):
        raise TypeError(f"{name}: targets must be a torch.Tensor, got {type(targets).__name__}.")
    if task == "classification":
        if targets.shape != (B,) or targets.is_floating_point():
            raise ValueError(
                f"{name}: expected classification targets of shape ({B},) with integer class ids, "
                f"got shape {tuple(targets.shape)} and dtype {targets.dtype}."
            )
        if int(targets.min()) < 0 or int(targets.max()) >= C:
            raise ValueError(f"{name}: class ids must be in [0, {C}), got min {int(targets.min())}, max "
                             f"{int(targets.max())}.")
        return F.cross_entropy(output, targets)
    if C == 1 and targets.shape == (B,):
        targets = targets.unsqueeze(1)  # one regression target per sequence may come as (B,)
    if targets.shape != (B, C) or not targets.is_floating_point():
        raise ValueError(
            f"{name}: expected real-valued regression targets of shape ({B}, {C}), "
            f"got shape {tuple(targets.shape)} and dtype {targets.dtype}."
        )
    return F.mse_loss(output, targets)
