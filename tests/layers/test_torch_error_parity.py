"""rnnkit refuses what torch.nn refuses, with an exception of the class torch.nn raises.

Every case runs through torch.nn and through rnnkit (same class name, same arguments, same
call). Where torch.nn raises, rnnkit must raise an instance of that very class, from its own
checks (the message starts with the module's name); where torch.nn accepts, rnnkit must accept
and give outputs (or parameters) of the same shapes. The few cases where rnnkit deliberately
differs are in DIFFERENCES, each with its reason; the test pins down both sides of those too,
so that a change in torch.nn shows up here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_sequence

import rnnkit
from rnnkit import errors

I, H, B, T, P = 3, 5, 2, 4, 2
LAYERS = ("LSTM", "GRU", "RNN")
CELLS = ("LSTMCell", "GRUCell", "RNNCell")


def z(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.zeros(*shape, dtype=dtype)


@dataclass(frozen=True)
class Case:
    id: str
    cls: str  # the same name in torch.nn and rnnkit
    kwargs: dict[str, Any]
    call: Callable[[nn.Module], Any] | None = None  # None: the constructor alone


def _layer_state(cls: str, h: Any, c: Any = None) -> Any:
    """hx as the layer takes it: h for a GRU/RNN, (h, c) for an LSTM (c of the same shape unless given)."""
    if cls != "LSTM":
        return h
    return (h, c if c is not None else z(*h.shape[:-1], H))


def _cell_state(cls: str, h: Any) -> Any:
    """hx as the cell takes it: h, or (h, c) for an LSTMCell."""
    return (h, z(*h.shape)) if cls == "LSTMCell" else h


def constructor_cases() -> list[Case]:
    cases = []
    value: Any  # each loop below tries values of many types on purpose

    def add(cls: str, **kwargs: Any) -> None:
        args = {"input_size": I, "hidden_size": H, **kwargs}
        label = ", ".join(f"{k}={_show(v)}" for k, v in kwargs.items())
        cases.append(Case(f"{cls}({label})", cls, args))

    for cls in LAYERS:
        for arg in ("input_size", "hidden_size"):
            for value in (2.0, "3", None, -1, 0, True):
                add(cls, **{arg: value})
        for value in (0, -1, 2.0, "2", None, np.int64(2), 2):
            add(cls, num_layers=value)
        for arg in ("bias", "batch_first"):
            for value in ("False", "True", 0, 1, None, 1.0, np.bool_(True), True, False):
                add(cls, **{arg: value})
        for value in (-0.1, 1.5, "0.1", True, None, 0.5j, math.nan, torch.tensor(0.1), 0, 0.5, np.float64(0.2),
                      np.float32(0.2)):
            add(cls, num_layers=2, dropout=value)
        proj = (-1, H, H + 1, True, 1.5, "2", None, 2, np.int64(2), 0) if cls == "LSTM" else (2, -1, True, None, 0)
        for value in proj:
            add(cls, proj_size=value)
        for value in (torch.int64, torch.bool, "float32", torch.float64):
            add(cls, dtype=value)
        add(cls, device="nonsense")
        add(cls, num_layers=3, bidirectional=True, batch_first=True, bias=False, dropout=0.25)
    for value in ("sigmoid", None, "TANH", 1, "relu"):
        add("RNN", nonlinearity=value)
    for cls in CELLS:
        for arg in ("input_size", "hidden_size"):
            for value in (2.0, "3", None, -1, 0, np.int64(3), torch.tensor(3)):
                add(cls, **{arg: value})
        for value in (True, False):
            add(cls, bias=value)
        for value in (torch.int64, "float32", torch.float64):
            add(cls, dtype=value)
    add("RNNCell", nonlinearity="relu")
    return cases


def forward_cases() -> list[Case]:
    cases = []

    # Callable[..., Any]: the calls bind loop variables as lambda defaults (lambda m, hx=hx: ...), and mypy
    # cannot infer a lambda with defaults against Callable[[nn.Module], Any]; each is called with the module alone
    def add(label: str, cls: str, call: Callable[..., Any], **kwargs: Any) -> None:
        cases.append(Case(f"{cls} {label}", cls, {"input_size": I, "hidden_size": H, **kwargs}, call))

    for cls in LAYERS:
        def hx(h: Any, c: Any = None, cls: str = cls) -> Any:
            return _layer_state(cls, h, c)

        add("input of rank 4", cls, lambda m: m(z(T, B, I, 1)))
        add("input of rank 1", cls, lambda m: m(z(I)))
        add("input of rank 0", cls, lambda m: m(torch.tensor(1.0)))
        add("input features I+1", cls, lambda m: m(z(T, B, I + 1)))
        add("unbatched input features I+1", cls, lambda m: m(z(T, I + 1)))
        add("channels-first input (B, I, T)", cls, lambda m: m(z(B, I, T)), batch_first=True)
        for dtype in (torch.int64, torch.bool, torch.float64, torch.float16, torch.complex64):
            add(f"{dtype} input", cls, lambda m, dtype=dtype: m(z(T, B, I, dtype=dtype)))
        add("float32 input to a float64 layer", cls, lambda m: m(z(T, B, I)), dtype=torch.float64)
        add("empty sequence (T = 0)", cls, lambda m: m(z(0, B, I)))
        add("empty unbatched sequence", cls, lambda m: m(z(0, I)))
        add("empty sequence batch_first", cls, lambda m: m(z(B, 0, I)), batch_first=True)
        add("empty batch (B = 0)", cls, lambda m: m(z(T, 0, I)))
        add("empty batch (B = 0) with gradients", cls, lambda m: m(z(T, 0, I).requires_grad_()))
        add("empty batch (B = 0) batch_first, bidirectional", cls, lambda m: m(z(0, T, I)), batch_first=True,
            bidirectional=True)
        add("hx for 2 layers, layer has 1", cls, lambda m, hx=hx: m(z(T, B, I), hx(z(2, B, H))))
        add("hx for 1 layer, layer has 2", cls, lambda m, hx=hx: m(z(T, B, I), hx(z(1, B, H))), num_layers=2)
        add("hx batch B+1", cls, lambda m, hx=hx: m(z(T, B, I), hx(z(1, B + 1, H))))
        add("hx hidden H+1", cls, lambda m, hx=hx: m(z(T, B, I), hx(z(1, B, H + 1), z(1, B, H + 1))))
        add("hx 2-D with batched input", cls, lambda m, hx=hx: m(z(T, B, I), hx(z(B, H), z(B, H))))
        add("hx 3-D with unbatched input", cls, lambda m, hx=hx: m(z(T, I), hx(z(1, B, H), z(1, B, H))))
        add("hx 3-D with unbatched input, B=1", cls, lambda m, hx=hx: m(z(T, I), hx(z(1, 1, H), z(1, 1, H))))
        add("hx for one direction, layer has two", cls, lambda m, hx=hx: m(z(T, B, I), hx(z(1, B, H))),
            bidirectional=True)
        add("hx time-major batch to a batch_first layer", cls, lambda m, hx=hx: m(z(T, B, I), hx(z(1, B, H))),
            batch_first=True)
        for dtype in (torch.float64, torch.int64):
            add(f"hx of dtype {dtype}", cls, lambda m, hx=hx,
                dtype=dtype: m(z(T, B, I), hx(z(1, B, H, dtype=dtype), z(1, B, H, dtype=dtype))))
        add("hx batch with a PackedSequence", cls, lambda m,
            hx=hx: m(pack_sequence([z(3, I), z(2, I)]), hx(z(1, 3, H))))
        add("PackedSequence features I+1", cls, lambda m: m(pack_sequence([z(3, I + 1), z(2, I + 1)])))
        add("PackedSequence of 3-D steps", cls, lambda m: m(pack_sequence([z(3, I, 1), z(2, I, 1)])))
        for dtype in (torch.int64, torch.float64):
            add(f"PackedSequence of {dtype}", cls, lambda m,
                dtype=dtype: m(pack_sequence([z(3, I, dtype=dtype), z(2, I, dtype=dtype)])))
        add("PackedSequence unsorted with hx", cls, lambda m,
            hx=hx: m(pack_sequence([z(2, I), z(3, I)], enforce_sorted=False), hx(z(1, 2, H))))
        add("PackedSequence to a batch_first layer", cls, lambda m: m(pack_sequence([z(3, I), z(2, I)])),
            batch_first=True)
        add("2 layers, bidirectional, with hx", cls, lambda m, hx=hx: m(z(T, B, I), hx(z(4, B, H))), num_layers=2,
            bidirectional=True)
        add("unbatched with hx", cls, lambda m, hx=hx: m(z(T, I), hx(z(1, H), z(1, H))))
        add("batch_first with hx", cls, lambda m, hx=hx: m(z(B, T, I), hx(z(1, B, H))), batch_first=True)
        add("float64 layer and input", cls, lambda m, hx=hx: m(z(T, B, I, dtype=torch.float64)), dtype=torch.float64)
        add("explicit hx=None", cls, lambda m: m(z(T, B, I), None))
    add("hx one tensor (1, B, H)", "LSTM", lambda m: m(z(T, B, I), z(1, B, H)))
    add("hx one tensor (2, 1, B, H)", "LSTM", lambda m: m(z(T, B, I), z(2, 1, B, H)))
    add("hx a triple", "LSTM", lambda m: m(z(T, B, I), (z(1, B, H),) * 3))
    add("hx a 1-tuple", "LSTM", lambda m: m(z(T, B, I), (z(1, B, H),)))
    add("c_0 hidden H+1", "LSTM", lambda m: m(z(T, B, I), (z(1, B, H), z(1, B, H + 1))))
    add("c_0 batch B+1", "LSTM", lambda m: m(z(T, B, I), (z(1, B, H), z(1, B + 1, H))))
    add("c_0 of dtype float64", "LSTM", lambda m: m(z(T, B, I), (z(1, B, H), z(1, B, H, dtype=torch.float64))))
    add("c_0 2-D with batched input", "LSTM", lambda m: m(z(T, B, I), (z(1, B, H), z(B, H))))
    add("proj_size: h_0 of size H", "LSTM", lambda m: m(z(T, B, I), (z(1, B, H), z(1, B, H))), proj_size=P)
    add("proj_size: c_0 of size P", "LSTM", lambda m: m(z(T, B, I), (z(1, B, P), z(1, B, P))), proj_size=P)
    add("proj_size: right states", "LSTM", lambda m: m(z(T, B, I), (z(1, B, P), z(1, B, H))), proj_size=P)
    add("relu", "RNN", lambda m: m(z(T, B, I)), nonlinearity="relu")

    for cls in CELLS:
        def st(h: Any, cls: str = cls) -> Any:
            return _cell_state(cls, h)

        add("input of rank 3", cls, lambda m: m(z(B, 1, I)))
        add("input of rank 0", cls, lambda m: m(torch.tensor(1.0)))
        add("input features I+1", cls, lambda m: m(z(B, I + 1)))
        add("unbatched input features I+1", cls, lambda m: m(z(I + 1)))
        add("state hidden H+1", cls, lambda m, st=st: m(z(B, I), st(z(B, H + 1))))
        add("state batch B+1", cls, lambda m, st=st: m(z(B, I), st(z(B + 1, H))))
        add("state of rank 3", cls, lambda m, st=st: m(z(B, I), st(z(1, B, H))))
        add("unbatched input, batched state", cls, lambda m, st=st: m(z(I), st(z(B, H))))
        add("unbatched input, state (1, H)", cls, lambda m, st=st: m(z(I), st(z(1, H))))
        add("batched input, unbatched state", cls, lambda m, st=st: m(z(B, I), st(z(H))))
        add("input (1, I), unbatched state", cls, lambda m, st=st: m(z(1, I), st(z(H))))
        add("int64 input", cls, lambda m: m(z(B, I, dtype=torch.int64)))
        add("float64 input", cls, lambda m: m(z(B, I, dtype=torch.float64)))
        add("float32 input to a float64 cell", cls, lambda m: m(z(B, I)), dtype=torch.float64)
        add("state of dtype float64", cls, lambda m, st=st: m(z(B, I), st(z(B, H, dtype=torch.float64))))
        add("state of dtype int64", cls, lambda m, st=st: m(z(B, I), st(z(B, H, dtype=torch.int64))))
        add("empty batch", cls, lambda m: m(z(0, I)))
        add("with state", cls, lambda m, st=st: m(z(B, I), st(z(B, H))))
        add("unbatched with state", cls, lambda m, st=st: m(z(I), st(z(H))))
        add("hidden_size 0", cls, lambda m: m(z(B, I)), hidden_size=0)
        add("input_size 0", cls, lambda m: m(z(B, 0)), input_size=0)
        add("float64 cell and input", cls, lambda m: m(z(B, I, dtype=torch.float64)), dtype=torch.float64)
    add("hx one tensor (B, H)", "LSTMCell", lambda m: m(z(B, I), z(B, H)))
    add("hx one tensor (2, B, H)", "LSTMCell", lambda m: m(z(B, I), z(2, B, H)))
    add("hx a triple", "LSTMCell", lambda m: m(z(B, I), (z(B, H),) * 3))
    add("hx a 1-tuple", "LSTMCell", lambda m: m(z(B, I), (z(B, H),)))
    add("c_0 hidden H+1", "LSTMCell", lambda m: m(z(B, I), (z(B, H), z(B, H + 1))))
    add("c_0 of dtype float64 (promoted)", "LSTMCell", lambda m: m(z(B, I), (z(B, H), z(B, H, dtype=torch.float64))))
    for nonlinearity in ("sigmoid", None, 1):
        # torch.nn.RNNCell takes any nonlinearity and fails at the first call; rnnkit fails at construction
        add(f"nonlinearity={nonlinearity!r}, then a call", "RNNCell", lambda m: m(z(B, I)), nonlinearity=nonlinearity)
    return cases


@dataclass(frozen=True)
class Difference:
    torch: type[Exception] | None  # what torch.nn raises (exactly this class); None: it accepts
    rnnkit: type[Exception] | None  # what rnnkit raises (an instance of); None: it accepts
    why: str
    same_as: dict[str, Any] | None = None  # where rnnkit accepts: torch.nn arguments that build the same module


_BOOL = "torch.nn takes the truth value of anything here, so 'False' or 'no' silently builds the other module"
_ACCIDENT = ("torch.nn fails inside its own code with {}, a class that getattr/hasattr or old-style iteration would "
             "swallow")
_INTEGER = ("numpy.int64 or a 0-d integer tensor is an exact integer; torch.nn accepts it for num_layers and in the "
            "cells")
_SIZE = "a bool is not a size: LSTM(10, 20, True) means bias=True, not num_layers=1"


def difference_cases() -> list[tuple[Case, Difference]]:
    """Where rnnkit deliberately does not do what torch.nn does, and why."""
    out = []
    value: Any  # each loop below tries values of many types on purpose

    def add(cls: str, difference: Difference, call: Callable[[nn.Module], Any] | None = None, label: str = "",
            **kwargs: Any) -> None:
        args = {"input_size": I, "hidden_size": H, **kwargs}
        name = f"{cls} {label}" if label else f"{cls}({', '.join(f'{k}={_show(v)}' for k, v in kwargs.items())})"
        out.append((Case(name, cls, args, call), difference))

    for cls in LAYERS:
        for value in ("no", 0, 1, None):
            add(cls, Difference(None, TypeError, _BOOL), bidirectional=value)
        for arg in ("input_size", "hidden_size", "num_layers"):
            # torch.nn.RNN's one gate keeps the bool, and torch.empty refuses it
            if (cls, arg) != ("RNN", "hidden_size"):
                add(cls, Difference(None, TypeError, _SIZE), **dict[str, Any]({arg: True}))
        for arg in ("input_size", "hidden_size"):
            for value in (np.int64(3), torch.tensor(3)):
                add(cls, Difference(TypeError, None, _INTEGER, {"input_size": I, "hidden_size": H, arg: 3}),
                    **{arg: value})
        for value in (1.0, 1):
            add(cls,
                Difference(None, ValueError,
                           "dropout=1 zeroes everything between layers: training silently learns nothing"),
                           num_layers=2, dropout=value)
        add(cls, Difference(AttributeError, TypeError, _ACCIDENT.format("AttributeError")),
            lambda m: m([[0.0] * I] * T), "input a list")
    for cls in ("GRU", "RNN"):
        add(cls,
            Difference(ValueError, None,
                       "proj_size=0 is no projection, which is what a GRU or RNN has; code that builds "
                       "any of the three layers from the same arguments keeps working",
                       {"input_size": I, "hidden_size": H}), proj_size=0)
    for cls in CELLS:
        for arg in ("input_size", "hidden_size"):
            add(cls, Difference(None, TypeError, _SIZE), **dict[str, Any]({arg: True}))
        for value in ("False", 0, 1, None, np.bool_(True)):
            add(cls, Difference(None, TypeError, _BOOL), bias=value)
        add(cls, Difference(AttributeError, TypeError, _ACCIDENT.format("AttributeError")),
            lambda m: m([[0.0] * I] * B), "input a list")
    attribute = Difference(AttributeError, TypeError, _ACCIDENT.format("AttributeError"))
    index = Difference(IndexError, TypeError, _ACCIDENT.format("IndexError"))
    for cls in ("GRU", "RNN"):
        add(cls, attribute, lambda m: m(z(T, B, I), [[[0.0] * H] * B]), "hx a list")
        add(cls, attribute, lambda m: m(z(T, B, I), (z(1, B, H),)), "hx a 1-tuple")
        add(cls, attribute, lambda m: m(z(T, B, I), (z(1, B, H), z(1, B, H))), "hx a pair")
    for cls in ("GRUCell", "RNNCell"):
        add(cls, attribute, lambda m: m(z(B, I), [[0.0] * H] * B), "hx a list")
        add(cls, attribute, lambda m: m(z(B, I), (z(B, H),)), "hx a 1-tuple")
    add("LSTM", attribute, lambda m: m(z(T, B, I), (z(1, B, H), [[[0.0] * H] * B])), "c_0 a list")
    add("LSTM", index, lambda m: m(z(T, B, I), z(1, B, H)), "hx one tensor (1, B, H)")
    add("LSTM", index, lambda m: m(z(T, B, I), (z(1, B, H),)), "hx a 1-tuple")
    return out


def _show(value: Any) -> str:
    if isinstance(value, np.generic):
        return f"np.{type(value).__name__}({value.item()!r})"
    if isinstance(value, torch.Tensor):
        return f"tensor({value.item()!r})"
    return repr(value)


def _dedupe(cases: list[Case]) -> list[Case]:
    seen: dict[str, Case] = {}
    for case in cases:
        seen.setdefault(case.id, case)
    return list(seen.values())


DIFFERENCES = {case.id: (case, difference) for case, difference in difference_cases()}
PARITY = _dedupe([c for c in constructor_cases() + forward_cases() if c.id not in DIFFERENCES])


def outcome(library: Any, case: Case) -> tuple[BaseException | None, Any]:
    """Build the module from ``library`` (torch.nn or rnnkit) and call it; return (exception or None, result)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dropout with one layer, and torch's own notes
            module = getattr(library, case.cls)(**case.kwargs)
            if case.call is None:
                return None, [(name, tuple(p.shape), p.dtype) for name, p in module.named_parameters()]
            return None, _shapes(case.call(module))
    except Exception as error:
        return error, None


def _shapes(result: Any) -> Any:
    if isinstance(result, PackedSequence):
        return ("packed", tuple(result.data.shape), result.batch_sizes.tolist())
    if isinstance(result, torch.Tensor):
        return (tuple(result.shape), result.dtype)
    if isinstance(result, tuple | list):
        return [_shapes(r) for r in result]
    return result


@pytest.mark.parametrize("case", PARITY, ids=lambda c: c.id)
def test_rnnkit_raises_what_torch_raises(case: Case) -> None:
    torch_error, torch_result = outcome(nn, case)
    rnnkit_error, rnnkit_result = outcome(rnnkit, case)
    if torch_error is None:
        assert rnnkit_error is None, f"torch.nn accepts, rnnkit raises {rnnkit_error!r}"
        assert rnnkit_result == torch_result
        return
    assert rnnkit_error is not None, f"torch.nn raises {torch_error!r}, rnnkit accepts"
    assert isinstance(rnnkit_error,
                      type(torch_error)), (f"torch.nn raises {type(torch_error).__name__} ({torch_error}), rnnkit "
                                           f"{type(rnnkit_error).__name__} ({rnnkit_error})")
    # from rnnkit's own checks, with its message, not from a kernel; a bad device is torch's own business
    if case.kwargs.get("device") != "nonsense":
        assert str(rnnkit_error).startswith(f"{case.cls}:"), str(rnnkit_error)


@pytest.mark.parametrize("name", list(DIFFERENCES))
def test_documented_differences(name: str) -> None:
    case, expected = DIFFERENCES[name]
    torch_error, _ = outcome(nn, case)
    rnnkit_error, rnnkit_result = outcome(rnnkit, case)
    if expected.torch is None:
        assert torch_error is None, f"torch.nn now raises {torch_error!r}; the note was: {expected.why}"
    else:
        assert type(torch_error) is expected.torch, f"torch.nn now gives {torch_error!r}"
    if expected.rnnkit is None:  # rnnkit accepts where torch.nn refuses: it builds what a plain int would
        assert rnnkit_error is None, repr(rnnkit_error)
        assert expected.same_as is not None
        same_error, same_result = outcome(nn, Case(case.id, case.cls, expected.same_as, case.call))
        assert same_error is None
        assert rnnkit_result == same_result
    else:
        assert isinstance(rnnkit_error, expected.rnnkit), repr(rnnkit_error)
        assert str(rnnkit_error).startswith(f"{case.cls}:"), str(rnnkit_error)


def test_the_table_is_broad() -> None:
    """Counted for docs/reliability.md: every case is compared with torch.nn."""
    print(f"\n{len(PARITY)} cases where rnnkit matches torch.nn, {len(DIFFERENCES)} documented differences")
    assert {c.cls for c in PARITY} == set(LAYERS + CELLS)
    assert len({c.id for c in PARITY}) == len(PARITY)


def test_existing_except_clauses_keep_working() -> None:
    """The error classes are both what rnnkit raised before and what torch.nn raises."""
    assert issubclass(errors.ShapeError, ValueError)
    assert issubclass(errors.ShapeError, RuntimeError)
    assert issubclass(errors.DtypeError, TypeError)
    assert issubclass(errors.DtypeError, ValueError)
    assert issubclass(errors.ArgumentTypeError, TypeError)
    assert issubclass(errors.ArgumentTypeError, ValueError)
    with pytest.raises(ValueError, match="LSTM: expected h_0 of shape"):
        rnnkit.LSTM(I, H)(z(T, B, I), (z(2, B, H), z(2, B, H)))
    with pytest.raises(RuntimeError, match="LSTM: expected h_0 of shape"):
        rnnkit.LSTM(I, H)(z(T, B, I), (z(2, B, H), z(2, B, H)))
    with pytest.raises(TypeError,
                       match="batch_first must be True or False, got 'False' .str., which Python would read as True"):
        rnnkit.LSTM(10, 20, batch_first=cast(Any, "False"))
