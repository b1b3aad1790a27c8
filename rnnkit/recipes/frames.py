"""Frame-level transforms of real-valued sequences (T, F), shared by the recipes that read series or
audio frames: first differences (velocity from position) and stacking consecutive frames (a
recurrent layer then takes ``stack`` times fewer steps, each seeing a short stretch at once).

    d_1 = 0,  d_t = x_t - x_{t-1}                              first differences, per channel   (1)
    s_k = [x_{(k-1)S+1}, ..., x_{kS}]                         S frames side by side             (2)
"""

from __future__ import annotations

import torch
from torch import Tensor


def first_differences(frames: Tensor) -> Tensor:
    """(T, F) -> (T, F): x_t - x_{t-1}, and 0 at the first step (1)."""
    return torch.diff(frames, dim=0, prepend=frames[:1])  # (T, F)


def stack_frames(frames: Tensor, stack: int) -> Tensor:
    """(T, F) -> (ceil(T/stack), stack*F): each step the next ``stack`` frames side by side (2); the last
    group is padded by repeating the last frame, so no frame is dropped and a short sequence keeps one step."""
    if stack < 1:
        raise ValueError(f"stack_frames: stack must be a positive number of frames, got {stack}.")
    T = frames.shape[0]
    pad = (-T) % stack
    if pad:
        frames = torch.cat([frames, frames[-1:].expand(pad, -1)])
    return frames.reshape(-1, stack * frames.shape[1])  # (ceil(T/stack), stack*F)
