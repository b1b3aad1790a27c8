"""Every mistake at the layers' public boundary is a ValueError or TypeError that names the layer,
says what it received and what it expected, and (where there is one) how to fix it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence

import rnnkit

B, T, I, H = 2, 4, 3, 5


def x3(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.zeros(*shape, dtype=dtype)


def raises(error: type[Exception], call: Callable[[], Any], *fragments: str) -> str:
    """Run call, expect error, and check that the message holds every fragment (taken literally)."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ---- input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [rnnkit.LSTM, rnnkit.GRU, rnnkit.RNN])
@pytest.mark.parametrize("shape", [(T, B, I, 1), (I,)])
def test_wrong_input_rank(cls: type[nn.Module], shape: tuple[int, ...]) -> None:
    name = cls.__name__
    raises(ValueError, lambda: cls(I, H)(x3(*shape)), f"{name}:", "rank 3 (T, B, I)", "rank 2 (T, I)",
           f"got rank {len(shape)}", str(shape))
    raises(ValueError, lambda: cls(I, H, batch_first=True)(x3(*shape)), "rank 3 (B, T, I)")


def test_wrong_input_size() -> None:
    message = raises(ValueError, lambda: rnnkit.LSTM(7, H)(x3(T, B, I)), "LSTM:", "input_size=7", "got shape (4, 2, 3)",
                     "(T, B, I) expected")
    assert "Dimension" not in message  # no size matches anywhere: nothing to hint at
    raises(ValueError, lambda: rnnkit.GRU(7, H)(x3(T, I)), "GRU:", "input_size=7", "got shape (4, 3)",
           "(T, I) expected")


def test_features_not_last_gets_a_transpose_hint() -> None:
    # a channels-first (B, I, T) tensor: the layer sees input_size at dimension 1
    raises(
        ValueError, lambda: rnnkit.LSTM(7, H, batch_first=True)(x3(B, 7, T)),
        "got shape (2, 7, 4)", "Dimension 1 has size 7", "the features must be the last dimension", "(B, T, I)",
    )


def test_time_major_input_to_a_batch_first_layer_is_caught_by_lengths_and_hx() -> None:
    # (T, B, I) and (B, T, I) both end in I, so the input alone cannot tell; lengths and hx (one per sequence) can
    layer = rnnkit.GRU(I, H, batch_first=True)
    time_major = x3(T, B, I)
    raises(ValueError, lambda: layer(time_major, lengths=[3, 4]), "expected lengths of shape (4,)", "got (2,)",
           "time-major")
    raises(ValueError, lambda: layer(time_major, x3(1, B, H)), "expected h_0 of shape (1, 4, 5)", "got (1, 2, 5)",
           "time-major")
    raises(ValueError, lambda: rnnkit.GRU(I, H)(x3(B, T, I), x3(1, B, H)), "expected h_0 of shape (1, 4, 5)",
           "time-major")


def test_integer_token_ids_suggest_an_embedding() -> None:
    tokens = torch.zeros(B, T, dtype=torch.long)
    raises(TypeError, lambda: rnnkit.LSTM(I, H, batch_first=True)(tokens), "LSTM:", "floating-point", "torch.int64",
           "torch.nn.Embedding")
    packed = pack_sequence([torch.zeros(3, I, dtype=torch.long)])
    raises(TypeError, lambda: rnnkit.GRU(I, H)(packed), "GRU:", "torch.int64")


def test_input_dtype_must_match_the_parameters() -> None:
    layer = rnnkit.GRU(I, H, dtype=torch.float64)
    raises(TypeError, lambda: layer(x3(T, B, I)), "GRU:", "torch.float32", "torch.float64", "layer.to(torch.float32)")


def test_input_must_be_a_tensor_and_not_empty() -> None:
    raises(TypeError, lambda: rnnkit.RNN(I, H)([[0.0] * I] * T), "RNN:", "torch.Tensor or PackedSequence", "got list")
    raises(ValueError, lambda: rnnkit.RNN(I, H)(x3(0, B, I)), "RNN:", "empty", "(0, 2, 3)")
    raises(ValueError, lambda: rnnkit.RNN(I, H)(x3(0, I)), "RNN:", "empty", "(0, 3)")


# ---- hx ----------------------------------------------------------------------------------------


def test_hx_of_the_wrong_shape() -> None:
    layer = rnnkit.GRU(I, H, num_layers=2)
    raises(ValueError, lambda: layer(x3(T, B, I), x3(1, B, H)), "GRU:", "expected h_0 of shape (2, 2, 5)",
           "got (1, 2, 5)", "num_layers * num_directions")
    raises(ValueError, lambda: layer(x3(T, B, I), x3(B, H)), "expected h_0 of shape (2, 2, 5)", "got (2, 5)")
    # unbatched
    raises(ValueError, lambda: layer(x3(T, I), x3(2, B, H)), "expected h_0 of shape (2, 5)", "got (2, 2, 5)")
    lstm = rnnkit.LSTM(I, H, proj_size=2, bidirectional=True)
    raises(ValueError, lambda: lstm(x3(T, B, I), (x3(2, B, H), x3(2, B, H))), "LSTM:",
           "expected h_0 of shape (2, 2, 2)", "got (2, 2, 5)")
    raises(ValueError, lambda: lstm(x3(T, B, I), (x3(2, B, 2), x3(2, B, 2))), "expected c_0 of shape (2, 2, 5)",
           "got (2, 2, 2)")


def test_hx_of_the_wrong_type() -> None:
    h0 = x3(1, B, H)
    raises(TypeError, lambda: rnnkit.LSTM(I, H)(x3(T, B, I), h0), "LSTM:", "pair (h_0, c_0)", "got Tensor")
    raises(TypeError, lambda: rnnkit.LSTM(I, H)(x3(T, B, I), (h0, h0, h0)), "LSTM:", "pair (h_0, c_0)", "got tuple")
    raises(TypeError, lambda: rnnkit.GRU(I, H)(x3(T, B, I), (h0, h0)), "GRU:", "one tensor h_0", "got a tuple")
    raises(TypeError, lambda: rnnkit.LSTM(I, H)(x3(T, B, I), (h0, [[0.0]])), "LSTM:", "c_0 must be a torch.Tensor",
           "got list")
    raises(TypeError, lambda: rnnkit.RNN(I, H)(x3(T, B, I), h0.double()), "RNN:", "h_0 has dtype torch.float64",
           "input has torch.float32")


# ---- lengths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lengths", "error", "fragments"),
    [
        ([5, 2], ValueError, ("every entry of lengths must be in [1, T=4]", "max 5", "pad the input")),
        ([0, 2], ValueError, ("every entry of lengths must be in [1, T=4]", "min 0", "Drop empty sequences")),
        ([1, 2, 3], ValueError, ("expected lengths of shape (2,)", "got (3,)")),
        ([[1, 2]], ValueError, ("expected lengths of shape (2,)", "got (1, 2)")),
        (torch.tensor([2.0, 3.0]), TypeError, ("lengths must be integers", "torch.float32")),
        (torch.tensor([True, True]), TypeError, ("lengths must be integers", "torch.bool")),
        ("ab", TypeError, ("lengths must be a 1-D integer tensor or a list of ints", "'ab'")),
    ],
)
def test_bad_lengths(lengths: Any, error: type[Exception], fragments: tuple[str, ...]) -> None:
    raises(error, lambda: rnnkit.LSTM(I, H)(x3(T, B, I), lengths=lengths), "LSTM:", *fragments)


def test_lengths_need_a_batch_and_no_packed_sequence() -> None:
    raises(ValueError, lambda: rnnkit.GRU(I, H)(x3(T, I), lengths=[2]), "GRU:", "lengths need a batch", "(4, 3)")
    packed = pack_sequence([x3(3, I), x3(2, I)])
    raises(ValueError, lambda: rnnkit.GRU(I, H)(packed, lengths=[3, 2]), "GRU:",
           "PackedSequence carries its own lengths")
    raises(TypeError, lambda: rnnkit.GRU(I, H).record(cast(Any, packed)), "GRU.record:", "padded tensor and lengths")


# ---- constructor -------------------------------------------------------------------------------


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5, "0.1", True])
@pytest.mark.parametrize("arg", ["dropout", "recurrent_dropout"])
def test_dropout_outside_zero_one(arg: str, dropout: Any) -> None:
    raises(ValueError, lambda: rnnkit.LSTM(I, H, num_layers=2, **{arg: dropout}), "LSTM:",
           f"{arg} must be a number in [0, 1)", f"got {dropout!r}")


def test_dropout_with_one_layer_warns() -> None:
    with pytest.warns(UserWarning, match=re.escape("dropout=0.5 has no effect with num_layers=1")):
        rnnkit.GRU(I, H, dropout=0.5)


def test_unknown_nonlinearity() -> None:
    raises(ValueError, lambda: rnnkit.RNN(I, H, nonlinearity="sigmoid"), "RNN:", "'tanh' or 'relu'", "got 'sigmoid'")
    raises(ValueError, lambda: rnnkit.RNNCell(I, H, nonlinearity="sigmoid"), "RNNCell:", "'sigmoid'",
           "['relu', 'tanh']")


@pytest.mark.parametrize("cls", [rnnkit.GRU, rnnkit.RNN])
def test_lstm_only_options(cls: type[nn.Module]) -> None:
    name = cls.__name__
    raises(ValueError, lambda: cls(I, H, proj_size=2), f"{name}:", "proj_size is available for LSTM only",
           "got proj_size=2")
    raises(ValueError, lambda: cls(I, H, layer_norm=True), f"{name}:", "layer_norm is available for LSTM only")
    with pytest.raises(TypeError):
        cls(I, H, forget_bias=1.0)  # not an argument of theirs at all


@pytest.mark.parametrize("proj_size", [-1, H, H + 1, True, 1.5])
def test_lstm_proj_size_range(proj_size: Any) -> None:
    raises(ValueError, lambda: rnnkit.LSTM(I, H, proj_size=proj_size), "LSTM:",
           "proj_size must be 0 (no projection) or in [1, hidden_size=5)", f"got {proj_size!r}")


@pytest.mark.parametrize("arg", ["input_size", "hidden_size", "num_layers"])
@pytest.mark.parametrize("value", [0, -2, 2.0, True])
def test_sizes_must_be_positive_integers(arg: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"input_size": I, "hidden_size": H, "num_layers": 1, arg: value}
    raises(ValueError, lambda: rnnkit.GRU(**kwargs), "GRU:", f"{arg} must be a positive integer", f"got {value!r}")


def test_forget_bias_needs_a_bias() -> None:
    raises(ValueError, lambda: rnnkit.LSTM(I, H, 1, False, forget_bias=1.0), "LSTM:", "forget_bias=1.0", "bias=False")


# ---- conversion --------------------------------------------------------------------------------


def test_conversion_errors() -> None:
    raises(ValueError, lambda: rnnkit.to_torch(rnnkit.LSTM(I, H, layer_norm=True)), "to_torch:", "layer_norm=True",
           "no torch.nn equivalent")
    raises(ValueError, lambda: rnnkit.to_torch(rnnkit.GRU(I, H, recurrent_dropout=0.2)), "to_torch:",
           "recurrent_dropout=0.2", "set it to 0.0")
    raises(TypeError, lambda: rnnkit.from_torch(cast(Any, nn.Linear(I, H))), "from_torch:", "torch.nn.LSTM, GRU or RNN",
           "got Linear")
    raises(TypeError, lambda: rnnkit.to_torch(cast(Any, nn.GRU(I, H))), "to_torch:", "an rnnkit LSTM, GRU or RNN",
           "got GRU")


# ---- strict types (issue 15): what torch.nn refuses, and rnnkit's own options -----------------------


@pytest.mark.parametrize("arg", ["bias", "batch_first", "bidirectional", "layer_norm", "fast"])
@pytest.mark.parametrize("value", ["False", 0, 1, None])
def test_switches_must_be_bools(arg: str, value: Any) -> None:
    # LSTM(10, 20, batch_first="False") used to build a batch-first layer: any non-empty string is true
    message = raises(TypeError, lambda: rnnkit.LSTM(I, H, **{arg: value}), "LSTM:", f"{arg} must be True or False",
                     f"got {value!r}")
    assert f"which Python would read as {bool(value)}" in message


def test_forget_bias_must_be_a_number() -> None:
    raises(TypeError, lambda: rnnkit.LSTM(I, H, forget_bias=cast(Any, "1.0")),
           "LSTM: forget_bias must be a number or None, got '1.0'")
    raises(TypeError, lambda: rnnkit.LSTM(I, H, forget_bias=True), "got True")
    assert rnnkit.LSTM(I, H, forget_bias=cast(Any, np.float32(1.0))).get_parameter("bias_ih_l0")[H:2 * H].eq(1.0).all()


def test_integer_types_are_stored_as_int() -> None:
    # what the annotations say is int and float: numpy scalars and a 0-d tensor, accepted and converted at run time
    layer = rnnkit.GRU(cast(Any, np.int64(I)), cast(Any, torch.tensor(H)), cast(Any, np.int32(2)),
                       dropout=cast(Any, np.float32(0.5)))
    assert [type(v)
            for v in (layer.input_size, layer.hidden_size, layer.num_layers, layer.dropout)] == [int, int, int, float]
    assert isinstance(rnnkit.to_torch(layer), nn.GRU)  # torch.nn itself wants plain ints
    cell = rnnkit.LSTMCell(cast(Any, np.int64(I)), cast(Any, np.int64(H)))
    assert (type(cell.input_size), type(cell.hidden_size)) == (int, int)


def test_dtype_of_the_parameters() -> None:
    raises(TypeError, lambda: rnnkit.LSTM(I, H, dtype=cast(Any, "float32")), "LSTM: dtype must be a torch.dtype",
           "'float32'")
    raises(RuntimeError, lambda: rnnkit.GRU(I, H, dtype=torch.int64), "GRU: dtype must be floating-point",
           "torch.int64")


@pytest.mark.parametrize("cls", [rnnkit.LSTM, rnnkit.GRU, rnnkit.RNN])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("fast", [True, False])
def test_an_empty_batch_gives_empty_outputs_as_in_torch(cls: type[nn.Module], train: bool, fast: bool) -> None:
    """B = 0 is accepted by torch.nn; here it takes the reference loop (the fused kernels split the work by B)."""
    layer = cls(I, H, num_layers=2, bidirectional=True, batch_first=True, fast=fast)
    peer = getattr(nn, cls.__name__)(I, H, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.zeros(0, T, I, requires_grad=train)
    out, state = layer(x, lengths=[])
    want, want_state = peer(x)
    assert out.shape == want.shape == (0, T, 2 * H)
    h_n, want_h = (state[0], want_state[0]) if isinstance(state, tuple) else (state, want_state)
    assert h_n.shape == want_h.shape == (4, 0, H)
    if train:
        out.sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() == 0 for p in layer.parameters())


def test_cell_constructor_errors() -> None:
    raises(TypeError, lambda: rnnkit.LSTMCell(I, cast(Any, 2.0)),
           "LSTMCell: hidden_size must be an integer >= 0, got 2.0 (float)")
    raises(RuntimeError, lambda: rnnkit.GRUCell(-1, H), "GRUCell: input_size must be an integer >= 0, got -1")
    raises(ValueError, lambda: rnnkit.GRUCell(-1, H), "GRUCell:")  # as before the class was also a RuntimeError
    raises(TypeError, lambda: rnnkit.RNNCell(I, H, bias=cast(Any, "False")),
           "RNNCell: bias must be True or False, got 'False'")
    assert rnnkit.RNNCell(0, 0)(torch.zeros(B, 0)).shape == (B, 0)  # zero sizes are fine, as in torch.nn


def test_cell_dtype_errors() -> None:
    cell = rnnkit.GRUCell(I, H)
    raises(TypeError, lambda: cell(x3(B, I, dtype=torch.float64)), "GRUCell: input has dtype torch.float64",
           "torch.float32", "cell.to(torch.float64)")
    raises(RuntimeError, lambda: cell(x3(B, I), x3(B, H, dtype=torch.float64)), "GRUCell: hx has dtype torch.float64")
    lstm = rnnkit.LSTMCell(I, H)
    raises(TypeError, lambda: lstm(x3(B, I), (x3(B, H, dtype=torch.float64), x3(B, H))),
           "LSTMCell: h_0 has dtype torch.float64")
    raises(RuntimeError, lambda: lstm(x3(B, I), (x3(B, H),) * 3),
           "LSTMCell: hx must be a pair (h_0, c_0), got tuple of 3")


@pytest.mark.parametrize("lengths", [None, torch.tensor([T, 2])], ids=["dense", "lengths"])
def test_an_lstm_under_bf16_autocast_on_a_cpu_without_bf16_says_why(monkeypatch: pytest.MonkeyPatch,
                                                                     lengths: torch.Tensor | None) -> None:
    """torch.nn.LSTM fails there deep in oneDNN ("could not create a primitive descriptor"); rnnkit's LSTM raises
    the same exception type, saying what the CPU lacks and what to do. A GRU, which does not take oneDNN's bf16
    kernel, still runs."""
    import rnnkit.layers.fast.dispatch as dispatch

    monkeypatch.setattr(dispatch, "onednn_bf16", lambda: False)  # the AVX2 CPU, on any machine
    lstm = rnnkit.LSTM(I, H, batch_first=True)
    x = torch.randn(B, T, I, requires_grad=True)  # a backward follows: with lengths, the SEGMENTS path
    with torch.autocast("cpu", dtype=torch.bfloat16):
        raises(RuntimeError, lambda: lstm(x, lengths=lengths), "bf16", "oneDNN", "torch.nn.LSTM fails here too",
               "float32")
        rnnkit.GRU(I, H, batch_first=True)(x)
    assert lstm(x)[0].shape == (B, T, H)  # autocast off: float32, as asked
