"""Padding, lengths and direction: the bookkeeping around a loop over time.

Everything here works time-major, (T, B, ·): a step reads the contiguous slab x[t].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
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


def run_stack(
    x: Tensor, lengths: Tensor | None, num_layers: int, bidirectional: bool, dropout: float, training: bool,
    direction: Callable[[int, Tensor], Tensor],
) -> Tensor:
    """Layers and directions around a one-direction kernel; returns the top layer's output (T, B, D*H).

    ``direction(k, seq)`` runs the k-th (layer, direction), k = layer * D + d, on seq (T, B, ·) and
    returns its output (T, B, H); a reverse direction gets each sequence reversed within its own
    length and its output is put back in order. Dropout goes between layers, in training only.
    """
    D = 2 if bidirectional else 1
    layer_input = x
    for layer in range(num_layers):
        outputs = []
        for d in range(D):
            seq = reverse_padded(layer_input, lengths) if d else layer_input
            out = direction(layer * D + d, seq)
            outputs.append(reverse_padded(out, lengths) if d else out)
        layer_input = outputs[0] if D == 1 else torch.cat(outputs, dim=2)
        if dropout and training and layer < num_layers - 1:
            layer_input = F.dropout(layer_input, dropout, True)
    return layer_input
