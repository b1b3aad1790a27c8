"""Frame transforms shared by the series and audio recipes, on hand-worked sequences."""

from __future__ import annotations

import pytest
import torch

from rnnkit.recipes.frames import first_differences, stack_frames


def test_first_differences_start_at_zero():
    x = torch.tensor([[1.0, 10.0], [3.0, 10.0], [2.0, 14.0]])  # (T=3, F=2)
    assert first_differences(x).tolist() == [[0.0, 0.0], [2.0, 0.0], [-1.0, 4.0]]


def test_stack_frames_groups_in_order_and_repeats_the_last_frame():
    x = torch.tensor([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0], [4.0, -4.0], [5.0, -5.0]])  # (5, 2)
    assert stack_frames(x, 2).tolist() == [[1.0, -1.0, 2.0, -2.0], [3.0, -3.0, 4.0, -4.0], [5.0, -5.0, 5.0, -5.0]]
    assert stack_frames(x, 5).tolist() == [x.flatten().tolist()]
    assert stack_frames(x[:1], 3).tolist() == [[1.0, -1.0] * 3]  # one frame still makes one step
    assert torch.equal(stack_frames(x, 1), x)
    with pytest.raises(ValueError, match="stack must be a positive number of frames, got 0"):
        stack_frames(x, 0)
