"""Padding, lengths and direction: the bookkeeping around a loop over time.

Everything here works time-major, (T, B, ·): a step reads the contiguous slab x[t].
"""

from __future__ import annotations

import torch
from torch import Tensor


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence within its own length; the padding stays where it is.

    x (T, B, ·) -> (T, B, ·). The map is its own inverse, so the same call puts the
    output of a reverse-direction pass back in input order.
    """
    if lengths is None:
        return x.flip(0)
    T = x.size(0)
    t = torch.arange(T).unsqueeze(1)  # (T, 1)
    lens = lengths.unsqueeze(0)  # (1, B)
    index = torch.where(t < lens, lens - 1 - t, t).to(x.device)  # (T, B)
    return x.gather(0, index.unsqueeze(2).expand_as(x))


def step_mask(lengths: Tensor | None, T: int, device: torch.device) -> Tensor | None:
    """alive[t, b] = t < lengths[b], shaped (T, B, 1) to broadcast over features."""
    if lengths is None:
        return None
    return (torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)).unsqueeze(2).to(device)
