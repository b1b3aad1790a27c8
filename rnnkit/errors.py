"""rnnkit's exception classes, and the argument checks every constructor shares.

rnnkit has always raised ValueError or TypeError with a message that says what was wrong and
how to fix it. torch.nn raises RuntimeError for some of the same mistakes (a state of the wrong
shape), TypeError or ValueError for others, and not always the one rnnkit chose. Each class
below subclasses both, so that ``except ValueError`` written against rnnkit and
``except RuntimeError`` written against torch.nn both keep catching the same mistake.
``tests/layers/test_torch_error_parity.py`` runs every case through both libraries.

torch.nn sometimes fails with an AttributeError or IndexError (a list where a tensor belongs,
one tensor where a pair belongs). Those are accidents of its code, and both classes mean
something to Python itself (``getattr`` with a default, ``hasattr`` and the old iteration
protocol swallow them), so rnnkit raises a TypeError there instead.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

import torch


class ArgumentTypeError(TypeError, ValueError):
    """A constructor argument of the wrong type: a float or string size, a non-bool flag, a string dropout.

    torch.nn: TypeError (ValueError for a string dropout). rnnkit before: ValueError, and nothing for the flags.
    """


class ArgumentValueError(ValueError, RuntimeError):
    """A constructor argument of the right type but out of range: a size below one, dropout outside [0, 1).

    torch.nn: ValueError in the layers; RuntimeError in the cells, where a negative size reaches
    torch.empty and an unknown nonlinearity the first forward call.
    """


class ShapeError(ValueError, RuntimeError):
    """A tensor whose shape does not fit: input features, a state's layers, batch or hidden size.

    torch.nn: RuntimeError (ValueError for the rank of an input). rnnkit before: ValueError.
    """


class DtypeError(TypeError, ValueError, RuntimeError):
    """A tensor whose dtype does not fit the parameters: integer input, float64 input to a float32 layer.

    torch.nn: ValueError for a layer's input, RuntimeError for a state or a cell's input. rnnkit before: TypeError.
    """


class StateTypeError(TypeError, RuntimeError):
    """hx that is not what the module takes: one tensor for an LSTM's pair, a pair for a GRU's tensor.

    torch.nn: TypeError or RuntimeError ("lstm expects two hidden states"). rnnkit before: TypeError.
    """


def check_flag(name: str, arg: str, value: Any) -> None:
    """A switch must be a bool: any non-empty string, "False" included, is true to Python."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(
            f"{name}: {arg} must be True or False, got {value!r} ({type(value).__name__}), "
            f"which Python would read as {_truth(value)}."
        )


def check_size(name: str, arg: str, value: Any, minimum: int = 1) -> int:
    """A size is an integer (int, numpy.int64, a 0-d integer tensor), never a bool, and at least ``minimum``."""
    if isinstance(value, bool) or not is_integer(value):
        raise ArgumentTypeError(f"{name}: {arg} must be {_at_least(minimum)}, got {value!r} ({type(value).__name__}).")
    size = operator.index(value)
    if size < minimum:
        raise ArgumentValueError(f"{name}: {arg} must be {_at_least(minimum)}, got {value!r}.")
    return size


def check_probability(name: str, arg: str, value: Any, meaning: str) -> float:
    """A dropout probability: a real number in [0, 1). One would zero everything, silently."""
    message = f"{name}: {arg} must be a number in [0, 1), got {value!r}. It is {meaning}."
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(message)
    if not 0.0 <= float(value) < 1.0:  # nan fails this too
        raise ArgumentValueError(message)
    return float(value)


def check_dtype(name: str, dtype: Any) -> None:
    """Parameters need gradients, so a floating-point (or complex) dtype, or None for the default."""
    if dtype is None:
        return
    if not isinstance(dtype, torch.dtype):
        raise ArgumentTypeError(f"{name}: dtype must be a torch.dtype such as torch.float32, got {dtype!r}.")
    if not (dtype.is_floating_point or dtype.is_complex):
        raise ArgumentValueError(
            f"{name}: dtype must be floating-point (the parameters are trained by gradient), got {dtype}. "
            "Integer inputs go through torch.nn.Embedding first."
        )


def is_integer(value: Any) -> bool:
    """True for anything Python accepts as an index: int, numpy.int64, a 0-d integer tensor (and bool)."""
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _at_least(minimum: int) -> str:
    return "a positive integer" if minimum == 1 else f"an integer >= {minimum}"


def _truth(value: Any) -> str:
    try:
        return str(bool(value))
    except Exception:  # e.g. a tensor of several elements
        return "an error"
