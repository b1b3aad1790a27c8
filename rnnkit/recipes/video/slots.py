"""The frame encoder of the video captioner: which digit is where in a frame, and what it is doing.

A caption names each digit and its actions, so a frame's vector is laid out as ten digit
**slots**, one per digit 0-9 in the order the canonical caption names them. A small fully
convolutional CNN looks at the frame in context (the frame and its changes on either side)
and answers at every cell c of an 8x8 grid (8x8 pixels each), as a one-stage detector does
(YOLO, Redmon et al., 2016; CenterNet, Zhou et al., 2019):

    z_c   = class logits over {background, 0..9}: whose centre lies in cell c        (N, 64, 11)
    a_c   = action logits of the digit centred there (ACTIONS order)                  (N, 64, A)
    s_c   = its size / 32 px                                                          (N, 64)

and the slot of digit d reads the grid where d is, with spatial attention over the cells
(soft attention over a CNN grid, as Xu et al., 2015, here with the attention fixed by d):

    w_cd  = softmax_c(z_cd)                              where digit d is                      (N, 64, 10)
    p_d   = max_c softmax(z_c)_d                         digit d is in the frame               (N, 10)
    slot_d = [p_d, sum_c w_cd softmax(a_c), sum_c w_cd (x_c, y_c), sum_c w_cd s_c]   (N, 10, 1 + A + 3)

(x_c, y_c) is the cell's centre in [0, 1]. The targets come from the script that made the clip
(``grid_targets``: each digit's pose gives its cell, its segment the action).

What the captioner reads (``clip_slots``): the clip's two likeliest digits, by presence averaged
over its frames, P_d = mean_t p_td, in increasing order (the order the caption names them), and
in every frame each one's identity, P_d and slot:

    u_t = [onehot(d_1), P_d1, slot_td1, onehot(d_2), P_d2, slot_td2],   d_1 < d_2     (B, T, 2 * (10 + 1 + SLOT))

So the same weights read the first digit's actions whichever digit it is (ten slots side by
side would each have to be learnt from the tenth of the clips that show that digit), and a
one-digit clip says so by a low P_d2.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.common import length_mask
from rnnkit.recipes.video.clips import ACTIONS, CANVAS, Script

CONTEXT = 3  # channels per frame: the frame, the change into it, the change out of it
GRID = 8  # cells per side of the grid the CNN answers on
CELL = CANVAS // GRID  # pixels per cell side
SIZE_SCALE = 32.0  # sizes are regressed as size / 32 px (SIZE_RANGE is 14-32)
DIGITS = 10
SLOT = 1 + len(ACTIONS) + 3  # presence, action probabilities, x, y, size
FEATURES = DIGITS * SLOT  # a frame's vector: ten slots
PER_DIGIT = DIGITS + 1 + SLOT  # one of a clip's two digits in a frame: which digit, how sure, its slot
CLIP_FEATURES = 2 * PER_DIGIT  # what the captioner reads of a frame: the clip's two likeliest digits
IGNORE = -100  # action target of cells where no digit is centred (F.cross_entropy's ignore_index)


def frame_context(frames: Tensor) -> Tensor:
    """(B, T, 64, 64) frames -> (B, T, 3, 64, 64): each frame, its change from the frame before and to the frame after.

    The first frame has no change into it and the last none out of it (zeros). Pass each clip
    unpadded, or padded with zeros and read only its real frames: the last real frame's change
    "out" then sees the padding; ``clip_context`` zeroes it.
    """
    zero = torch.zeros_like(frames[:, :1])  # (B, 1, 64, 64)
    into = torch.cat([zero, frames[:, 1:] - frames[:, :-1]], dim=1)  # (B, T, 64, 64): f_t - f_{t-1}
    out = torch.cat([frames[:, 1:] - frames[:, :-1], zero], dim=1)  # (B, T, 64, 64): f_{t+1} - f_t
    return torch.stack([frames, into, out], dim=2)  # (B, T, 3, 64, 64)


def clip_context(frames: Tensor, lengths: Tensor) -> Tensor:
    """``frame_context`` of a padded batch, with the change out of each clip's last frame set to zero."""
    context = frame_context(frames)  # (B, T, 3, 64, 64)
    last = (lengths - 1).clamp(min=0)  # (B,)
    context[torch.arange(len(lengths)), last, 2] = 0.0  # no frame follows the last: nothing changes out of it
    return context


def cell_of(x: float, y: float) -> int:
    """The grid cell (row-major, 0..63) holding the point (x, y) in pixels from the top-left corner."""
    col = min(max(int(x // CELL), 0), GRID - 1)
    row = min(max(int(y // CELL), 0), GRID - 1)
    return row * GRID + col


def grid_targets(script: Script, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame t's targets on the grid: classes (64,) (0 background, 1 + digit at its centre's cell), actions (64,)
    (ACTIONS index there, IGNORE elsewhere) and sizes (64,) (size / 32 there, 0 elsewhere)."""
    if not 0 <= t < script.frames:
        raise ValueError(f"grid_targets: frame {t} is outside the script's {script.frames} frames.")
    classes = np.zeros(GRID * GRID, dtype=np.int64)
    actions = np.full(GRID * GRID, IGNORE, dtype=np.int64)
    sizes = np.zeros(GRID * GRID, dtype=np.float32)
    for actor in script.actors:
        if not actor.poses:
            raise ValueError(f"grid_targets: digit {actor.digit} has no poses; make scripts with clips.make_script.")
        pose = actor.poses[t]
        c = cell_of(pose.x, pose.y)
        classes[c], actions[c], sizes[c] = 1 + actor.digit, ACTIONS.index(actor.actions()[t]), pose.size / SIZE_SCALE
    return classes, actions, sizes


def _cell_centres() -> Tensor:
    """(64, 2) the centre (x, y) of each cell, in [0, 1]."""
    centre = (torch.arange(GRID, dtype=torch.float32) + 0.5) / GRID
    rows, cols = torch.meshgrid(centre, centre, indexing="ij")
    return torch.stack([cols.flatten(), rows.flatten()], dim=1)


class SlotEncoder(nn.Module):
    """(N, 3, 64, 64) frames in context -> (N, 130) frame vectors: ten digit slots (see the module docstring).

    The CNN: a 5x5 stride-2 convolution (32x32), then conv blocks down to the 8x8 grid and two
    more at 8x8, the last dilated, so that each cell sees about 70 pixels: a whole digit,
    however large or turned. Batch norm, whose statistics ``recalibrate`` recomputes before the
    vectors are cached.
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        c = channels

        def block(cin: int, cout: int, dilation: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation), nn.BatchNorm2d(cout), nn.ReLU()]

        self.net = nn.Sequential(
            nn.Conv2d(CONTEXT, c // 2, 5, stride=2, padding=2), nn.BatchNorm2d(c // 2), nn.ReLU(),  # (N, C/2, 32, 32)
            *block(c // 2, c), nn.MaxPool2d(2),  # (N, C, 16, 16)
            *block(c, 2 * c), nn.MaxPool2d(2),  # (N, 2C, 8, 8)
            *block(2 * c, 2 * c), *block(2 * c, 2 * c, dilation=2),  # (N, 2C, 8, 8)
        )
        self.head = nn.Conv2d(2 * c, 1 + DIGITS + len(ACTIONS) + 1, 1)  # per cell: class, action and size
        self.centres: Tensor
        self.register_buffer("centres", _cell_centres(), persistent=False)

    def grid(self, context: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per cell: class logits (N, 64, 11), action logits (N, 64, A), size (N, 64)."""
        out = self.head(self.net(context)).flatten(2).transpose(1, 2)  # (N, 64, 11 + A + 1)
        return out[..., : 1 + DIGITS], out[..., 1 + DIGITS : -1], out[..., -1]

    def slots(self, classes: Tensor, actions: Tensor, sizes: Tensor) -> Tensor:
        """The ten slots (N, 10, SLOT) read off the grid's answers."""
        w = torch.softmax(classes[..., 1:], dim=1)  # (N, 64, 10): w_cd, where digit d is
        present = torch.softmax(classes, dim=2)[..., 1:].amax(dim=1)  # (N, 10): p_d
        what = w.transpose(1, 2) @ torch.softmax(actions, dim=2)  # (N, 10, A)
        where = w.transpose(1, 2) @ self.centres  # (N, 10, 2)
        size = (w * sizes.unsqueeze(2)).sum(1)  # (N, 10)
        return torch.cat([present.unsqueeze(2), what, where, size.unsqueeze(2)], dim=2)  # (N, 10, SLOT)

    def forward(self, context: Tensor) -> Tensor:
        return self.slots(*self.grid(context)).flatten(1)  # (N, 10 * SLOT)


class SlotTagger(nn.Module):
    """The frame encoder's own task, trained before captioning: the grid targets of ``grid_targets``.

        loss = CE(z_c, class_c) averaged over background cells + the same over digit cells
               + CE(a_c, action_c) + (s_c - size_c)^2, both over digit cells

    Background and digit cells are averaged apart so that the one or two digit cells of a frame
    weigh as much as its sixty-odd empty ones.
    forward(context (N, 3, 64, 64), classes (N, 64), actions (N, 64), sizes (N, 64)) -> (slots (N, 10, SLOT), loss).
    """

    def __init__(self, encoder: SlotEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, context: Tensor, classes: Tensor | None = None, actions: Tensor | None = None,
                sizes: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        z, a, s = self.encoder.grid(context)  # (N, 64, 11), (N, 64, A), (N, 64)
        slots = self.encoder.slots(z, a, s)  # (N, 10, SLOT)
        if classes is None or actions is None or sizes is None:
            return slots, None
        ce = F.cross_entropy(z.flatten(0, 1), classes.flatten(), reduction="none").view_as(classes)  # (N, 64)
        digit = classes > 0  # (N, 64)
        loss = ce[~digit].mean() + ce[digit].mean() if digit.any() else ce.mean()
        if digit.any():
            loss = loss + F.cross_entropy(a[digit], actions[digit]) + F.mse_loss(s[digit], sizes[digit])
        return slots, loss


def present_digits(slots: Tensor) -> Tensor:
    """(..., 10, SLOT) slots -> (..., 10) bool: the digits the encoder says are in the frame (p_d > 0.5)."""
    return slots[..., 0] > 0.5


def slot_actions(slots: Tensor) -> Tensor:
    """(..., 10, SLOT) slots -> (..., 10) the likeliest action (ACTIONS index) of each digit's slot."""
    return slots[..., 1 : 1 + len(ACTIONS)].argmax(-1)


def clip_slots(vectors: Tensor, lengths: Tensor) -> Tensor:
    """(B, T, 10 * SLOT) frame vectors, zero past each clip's length -> (B, T, CLIP_FEATURES): the clip's two likeliest
    digits in increasing order, in each frame (see the module docstring); zero past each length."""
    B, T = vectors.shape[:2]
    slots = vectors.view(B, T, DIGITS, SLOT)  # (B, T, 10, SLOT)
    real = length_mask(lengths, T, vectors.device).to(vectors)  # (B, T), 1 on real frames
    clip_presence = (slots[..., 0] * real.unsqueeze(2)).sum(1) / lengths.to(vectors).unsqueeze(1)  # (B, 10): P_d
    digits = clip_presence.topk(2, dim=1).indices.sort(dim=1).values  # (B, 2): d_1 < d_2
    parts = []
    for k in range(2):
        d = digits[:, k]  # (B,)
        which = F.one_hot(d, DIGITS).to(vectors)  # (B, 10)
        sure = clip_presence.gather(1, d.unsqueeze(1))  # (B, 1)
        slot = slots[torch.arange(B, device=vectors.device), :, d]  # (B, T, SLOT)
        parts.append(torch.cat([torch.cat([which, sure], 1).unsqueeze(1).expand(B, T, DIGITS + 1), slot], 2))
    return torch.cat(parts, dim=2) * real.unsqueeze(2)  # (B, T, CLIP_FEATURES)
