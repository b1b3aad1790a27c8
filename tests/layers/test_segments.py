"""An LSTM with lengths in training runs the dense kernel segment by segment (rnnkit.layers.fast.segments)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from support import parameter_grads
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit.layers.fast import Path, choose, dispatch, segments


def test_segments_cut_time_at_every_distinct_length() -> None:
    lengths = torch.tensor([9, 9, 6, 6, 2])  # sorted longest first
    assert segments.segments(lengths) == [(0, 2, 5), (2, 6, 4), (6, 9, 2)]
    assert segments.segments(torch.tensor([4, 4])) == [(0, 4, 2)]


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("proj_size", [0, 3])
def test_lstm_with_lengths_in_training_takes_the_segments_and_equals_torch_nn(
    monkeypatch: pytest.MonkeyPatch, bidirectional: bool, proj_size: int
) -> None:
    calls = []
    original = dispatch.lstm_by_segments

    def counted(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(dispatch, "lstm_by_segments", counted)
    torch.manual_seed(0)
    kw: dict[str, Any] = {"bidirectional": bidirectional, "proj_size": proj_size, "dtype": torch.float64}
    ours, peer = rnnkit.LSTM(4, 5, 2, **kw), torch.nn.LSTM(4, 5, 2, **kw)
    ours.load_state_dict(peer.state_dict())
    x = torch.randn(8, 6, 4, dtype=torch.float64)
    lengths = torch.tensor([3, 8, 1, 8, 5, 3])  # unsorted, repeated, one at full length, one of a single step
    D, P = (2 if bidirectional else 1), (proj_size or 5)
    h0, c0 = torch.randn(2 * D, 6, P, dtype=torch.float64), torch.randn(2 * D, 6, 5, dtype=torch.float64)
    results = []
    for run in ("ours", "peer"):
        xr = x.clone().requires_grad_()
        if run == "ours":
            y, (h, c) = ours(xr, (h0, c0), lengths=lengths)
        else:
            yp, (h, c) = peer(pack_padded_sequence(xr, lengths, enforce_sorted=False), (h0, c0))
            y, _ = pad_packed_sequence(yp, total_length=8)
        (y.pow(2).sum() + h.sum() + c.pow(2).sum()).backward()
        layer = ours if run == "ours" else peer
        assert xr.grad is not None
        results.append([y, h, c, xr.grad, *parameter_grads(layer)])
    assert calls == [1]
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


def test_inference_with_lengths_keeps_torchs_packed_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "lstm_by_segments", lambda *a: pytest.fail("segments used without gradients"))
    layer = rnnkit.LSTM(3, 4)
    with torch.no_grad():
        y, _ = layer(torch.randn(5, 2, 3), lengths=torch.tensor([5, 2]))
    assert torch.equal(y[2:, 1], torch.zeros(3, 4))


def test_short_batches_with_many_distinct_lengths_stay_on_the_packed_kernel() -> None:
    lstm, gru = rnnkit.LSTM(2, 3), rnnkit.GRU(2, 3)
    x, h0 = torch.zeros(6, 6, 2), torch.zeros(1, 6, 3)
    few, many = torch.tensor([6, 6, 3, 3, 1, 1]), torch.tensor([1, 2, 3, 4, 5, 6])
    assert choose.candidates(lstm, x, h0, many) == [Path.TORCH, Path.SEGMENTS]  # 6 distinct > 6 // 2
    assert choose.candidates(lstm, x, h0, few) == [Path.SEGMENTS, Path.TORCH]  # 3 distinct
    assert choose.candidates(lstm, torch.zeros(64, 6, 2), h0, torch.arange(59, 65))[0] is Path.SEGMENTS  # long enough
    assert Path.SEGMENTS not in choose.candidates(gru, x, h0, few)
    with torch.no_grad():
        assert choose.candidates(lstm, x, h0, few) == [Path.TORCH]
