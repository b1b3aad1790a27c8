"""Argument checks for the recurrent layers: every message says what was received, what was
expected and how to fix it, so that a mistake never surfaces as a traceback from inside a kernel."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit import errors

_TIME_MAJOR_HINT = " Did you pass time-major input to a batch_first layer (or the other way round)?"


def check_constructor(
    name: str, input_size: Any, hidden_size: Any, num_layers: Any, dropout: Any, proj_size: Any,
    recurrent_dropout: Any = 0.0, dtype: Any = None, **flags: Any,
) -> tuple[int, int, int, int, float, float]:
    """Check every constructor argument; return the sizes as ints and the probabilities as floats.

    ``flags`` are the switches (bias, batch_first, bidirectional, ...), each of which must be a bool.
    """
    for arg, value in flags.items():
        errors.check_flag(name, arg, value)
    sizes = [errors.check_size(name, arg, value) for arg, value in
             (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers))]
    probabilities = [errors.check_probability(name, arg, value, meaning) for arg, value, meaning in (
        ("dropout", dropout, "the probability of zeroing each output of a layer (except the last)"),
        ("recurrent_dropout", recurrent_dropout,
         "the probability of zeroing each unit of h_prev, one mask per sequence"),
    )]
    hidden = sizes[1]
    projection = f"{name}: proj_size must be 0 (no projection) or in [1, hidden_size={hidden}), got {proj_size!r}."
    if isinstance(proj_size, bool) or not errors.is_integer(proj_size):
        raise errors.ArgumentTypeError(projection)
    if not 0 <= operator.index(proj_size) < hidden:
        raise errors.ArgumentValueError(projection)
    errors.check_dtype(name, dtype)
    return sizes[0], sizes[1], sizes[2], operator.index(proj_size), probabilities[0], probabilities[1]


def check_input(name: str, x: Tensor, input_size: int, batch_first: bool, weight: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected input to be a torch.Tensor or PackedSequence, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise errors.DtypeError(
            f"{name}: expected a floating-point input, got dtype {x.dtype}. "
            "Convert it with .float(), or embed integer token ids first (torch.nn.Embedding)."
        )
    layout = "(B, T, I)" if batch_first else "(T, B, I)"
    if x.dim() not in (2, 3):
        raise errors.ShapeError(
            f"{name}: expected input of rank 3 {layout} or rank 2 (T, I) for one sequence, "
            f"got rank {x.dim()} with shape {tuple(x.shape)}."
        )
    if x.size(-1) != input_size:
        layout = layout if x.dim() == 3 else "(T, I)"
        # (B, T, I) and (T, B, I) both end in I, so a size found earlier means the features are not last
        hint = (
            f" Dimension {tuple(x.shape).index(input_size)} has size {input_size}: the features must be the last "
            f"dimension, so transpose the input to {layout}."
            if input_size in tuple(x.shape[:-1])
            else ""
        )
        raise errors.ShapeError(
            f"{name}: expected input with last dimension input_size={input_size}, "
            f"got shape {tuple(x.shape)} ({layout} expected).{hint}"
        )
    # an empty batch (B = 0) gives empty outputs, as in torch.nn; an empty sequence has no last state to return
    if x.size(1 if batch_first and x.dim() == 3 else 0) == 0:
        raise errors.ShapeError(f"{name}: got an empty sequence (T = 0), shape {tuple(x.shape)}; need T >= 1.")
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):  # autocast converts by itself
        raise errors.DtypeError(
            f"{name}: input has dtype {x.dtype} but the layer's parameters have {weight.dtype}; "
            f"convert one of them, e.g. input.to({weight.dtype}) or layer.to({x.dtype})."
        )


def check_lengths(name: str, lengths: Tensor | Sequence[int], batch: int, steps: int, what: str = "lengths") -> Tensor:
    """Turn ``lengths`` into a CPU int64 tensor of shape (B,) with every entry in [1, T]; ``what`` names it in
    errors."""
    try:
        t = torch.as_tensor(lengths)
        t = t.long() if t.numel() == 0 else t  # [] for an empty batch comes out float32
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name}: {what} must be a 1-D integer tensor or a list of ints, got {lengths!r}.") from None
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"{name}: {what} must be integers, got dtype {t.dtype}.")
    t = t.to(device="cpu", dtype=torch.int64)
    if t.dim() != 1 or t.numel() != batch:
        hint = _TIME_MAJOR_HINT if t.dim() == 1 and t.numel() == steps else ""
        raise ValueError(f"{name}: expected {what} of shape ({batch},), one per sequence, got {tuple(t.shape)}.{hint}")
    if t.numel() and (int(t.min()) < 1 or int(t.max()) > steps):
        raise ValueError(
            f"{name}: every entry of {what} must be in [1, T={steps}], got min {int(t.min())}, max {int(t.max())}. "
            "Drop empty sequences from the batch, and pad the input to the longest length."
        )
    return t


def check_state(name: str, what: str, state: Tensor, expected: tuple[int, ...], like: Tensor) -> None:
    if not isinstance(state, Tensor):
        raise errors.StateTypeError(f"{name}: {what} must be a torch.Tensor, got {type(state).__name__}.")
    if tuple(state.shape) != expected:
        # like is the input, time-major (T, B, I): a state sized by T instead of B means the layouts were mixed up
        swapped = state.dim() == 3 and len(expected) == 3 and state.size(1) == like.size(0) != like.size(1)
        raise errors.ShapeError(
            f"{name}: expected {what} of shape {expected} (num_layers * num_directions, B, H), "
            f"got {tuple(state.shape)}.{_TIME_MAJOR_HINT if swapped else ''}"
        )
    if state.dtype != like.dtype:
        raise errors.DtypeError(f"{name}: {what} has dtype {state.dtype} but the input has {like.dtype}; make them "
                                "match.")
