"""The action recogniser: a small CNN reads each frame, a bidirectional LSTM reads the frames in order,
and two heads answer at once, per frame (many-to-many) and per clip (many-to-one).

    m_t = x_{t+1} - x_t   (the last frame: x_t - x_{t-1})     motion, for the labels say what happens from t to t+1
    f_t = CNN([x_t, m_t])                       (B, T, F)   the same CNN on every frame
    o_1..o_T = BiLSTM(f_1..f_T)                 (B, T, 2H)
    u_t = [o_t, f_t]                            (B, T, 2H+F) the frame's own features beside its context
    s_t(a) = max over cells c of (V r_tc)(a)    (B, T, A)   r_tc: the CNN's map at cell c of the 8x8 grid
    q_t = p(a in frame t) = sigmoid(W_f u_t + s_t + b_f)  (B, T, A)   one yes/no per action: a frame can show two
    p(clip = a) = softmax(W_c [mean_t u_t, mean_t q_t] + b_c)  (B, A)   the clip's main action

The clip head also reads mean_t q_t, the share of frames showing each action: the main
action is the one that fills the most frames, and that share says so directly.

s_t lets each place on the canvas vote for the action it sees (a max over positions, as in
multiple-instance learning): with two digits, each one's action has a place that says so,
where a single frame vector has to hold both at once.

One model with two heads, not two runs: both labels are read off the same script, from the
same frame features and the same recurrent states, so training one model costs half the CPU
of two. The loss is the per-frame binary cross-entropy summed over actions and averaged over
real frames, plus the clip's cross-entropy.

Measured while choosing (200 steps of 32 clips on the full task, one busy core): with
batch norm in the CNN and the heads on o_t alone, held-out per-frame accuracy was 36%;
the skip u_t = [o_t, f_t] brought the training loss down twice as fast but validation did
not follow (batch norm's running statistics lagged the fast-changing weights); group norm,
which normalises each frame on its own, reached 54% (90% on one-digit clips) in the same 200
steps, and a tiny left-or-right task that had sat at chance for 150 steps was learnt in 70;
the per-position votes s_t then took two-digit frames from 21% to 34% exactly right (54% ->
61% over all frames) in the same 200 steps. That head start did not last: after 9 epochs a
run without the votes and the clip head's frame shares was level with one with them (89.4% vs
88.9% per frame, 87.7% vs 85.0% per clip on validation); they stay because they cost little.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.common import length_mask, make_recurrent
from rnnkit.recipes.video.action_decoding import decode_sets
from rnnkit.recipes.video.clips import CANVAS


@dataclass(frozen=True)
class RecognizerConfig:
    """Sizes of the frame CNN and the LSTM over frames."""

    actions: int = 9  # A: the action classes
    channels: int = 32  # C: conv blocks of C/2, C, C channels (64x64 -> 16x16 -> 8x8 -> 8x8)
    feature_size: int = 128  # F: the frame vector the LSTM reads
    hidden_size: int = 96  # H: LSTM units per direction
    dropout: float = field(default=0.1)  # on the frame vectors and the LSTM outputs


class FrameCNN(nn.Module):
    """(N, 2, 64, 64) frame and motion -> (N, F): three conv-groupnorm-ReLU blocks and a linear layer.

    The first block cuts the frame into 4x4 patches (a stride-4 convolution): a third of the
    cost of a stride-2 5x5 stem, which took 2.8 ms per frame of training on one busy core, and
    no pixel is skipped. The linear layer reads the flattened 8x8 map (where things happen:
    which digit grows, whether it has reached the top) and its mean and maximum over positions
    (what happens, wherever: a move looks the same anywhere on the canvas).
    """

    def __init__(self, channels: int, feature_size: int) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            # (N, C/2, 16, 16): one vector per 4x4 patch
            nn.Conv2d(2, c // 2, 4, stride=4), nn.GroupNorm(4, c // 2), nn.ReLU(),
            nn.Conv2d(c // 2, c, 3, stride=2, padding=1), nn.GroupNorm(4, c), nn.ReLU(),  # (N, C, 8, 8)
            nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(4, c), nn.ReLU(),  # (N, C, 8, 8), each seeing 28x28 pixels
        )
        self.project = nn.Linear(c * 8 * 8 + 2 * c, feature_size)

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """The frame vectors (N, F) and the map they come from (N, C, 8, 8)."""
        maps = self.net(frames)  # (N, C, 8, 8)
        pooled = torch.cat([maps.mean((2, 3)), maps.amax((2, 3))], dim=1)  # (N, 2C): what happens, wherever it happens
        return torch.relu(self.project(torch.cat([maps.flatten(1), pooled], dim=1))), maps  # (N, F), (N, C, 8, 8)


def with_motion(clips: Tensor, lengths: Tensor) -> Tensor:
    """(B, T, 64, 64) -> (B, T, 2, 64, 64): each frame beside its motion m_t = x_{t+1} - x_t (the last real frame: x_t
    - x_{t-1})."""
    B, T = clips.shape[:2]
    diffs = clips[:, 1:] - clips[:, :-1]  # (B, T-1, 64, 64): diffs[:, t] = x_{t+1} - x_t
    last = (lengths.to(clips.device) - 2).clamp(min=0).unsqueeze(1)  # (B, 1): the last difference inside each clip
    index = torch.minimum(torch.arange(T, device=clips.device).unsqueeze(0), last)  # (B, T)
    motion = diffs[torch.arange(B, device=clips.device).unsqueeze(1), index]  # (B, T, 64, 64)
    return torch.stack([clips, motion], dim=2)  # (B, T, 2, 64, 64)


class ActionRecognizer(nn.Module):
    """Per-frame and per-clip actions of a batch of clips, with the ``forward(..., targets) -> (output, loss)``
    contract.

    Shapes:
        clips: (B, T, 64, 64) float in [0, 1], zero past each length; lengths: (B,) int, each >= 2.
        frame_targets: (B, T, A) multi-hot; clip_targets: (B,) action ids.
    Returns:
        forward: ((frame logits (B, T, A), clip logits (B, A)), loss or None).
    """

    def __init__(self, config: RecognizerConfig) -> None:
        super().__init__()
        self.config = config
        self.cnn = FrameCNN(config.channels, config.feature_size)
        self.rnn = make_recurrent("ActionRecognizer", "lstm", config.feature_size, config.hidden_size,
                                  bidirectional=True, forget_bias=1.0)
        self.drop = nn.Dropout(config.dropout)
        self.frame_head = nn.Linear(2 * config.hidden_size + config.feature_size, config.actions)
        self.cell_votes = nn.Conv2d(config.channels, config.actions, 1)  # V: an action score at every cell of the map
        self.clip_head = nn.Linear(2 * config.hidden_size + config.feature_size + config.actions, config.actions)

    def forward(self, clips: Tensor, lengths: Tensor, frame_targets: Tensor | None = None,
                clip_targets: Tensor | None = None) -> tuple[tuple[Tensor, Tensor], Tensor | None]:
        if clips.dim() != 4 or clips.shape[2:] != (CANVAS, CANVAS) or not clips.is_floating_point():
            raise ValueError(f"ActionRecognizer: expected float clips (B, T, {CANVAS}, {CANVAS}), got "
                             f"{tuple(clips.shape)} {clips.dtype}.")
        B, T = clips.shape[:2]
        if lengths.shape != (B,) or int(lengths.min()) < 2 or int(lengths.max()) > T:
            raise ValueError(f"ActionRecognizer: lengths must be ({B},) values in [2, {T}], got {lengths.tolist()}.")
        x = with_motion(clips, lengths).flatten(0, 1)  # (B*T, 2, 64, 64)
        features, maps = self.cnn(x)  # (B*T, F), (B*T, C, 8, 8)
        votes = self.cell_votes(maps).amax((2, 3)).view(B, T, -1)  # (B, T, A): s_t, each action's best place
        features = self.drop(features.view(B, T, -1))  # (B, T, F)
        outputs, _ = self.rnn(features, lengths=lengths)  # (B, T, 2H)
        outputs = self.drop(torch.cat([outputs, features], dim=2))  # (B, T, 2H+F)
        mask = length_mask(lengths, T, clips.device)  # (B, T)
        frame_logits = self.frame_head(outputs) + votes  # (B, T, A)
        # (B, T, 2H+F+A), zero on padding
        per_clip = torch.cat([outputs, torch.sigmoid(frame_logits)], dim=2) * mask.unsqueeze(2)
        # (B, A), from the means over real frames
        clip_logits = self.clip_head(per_clip.sum(1) / lengths.to(outputs).unsqueeze(1))
        if frame_targets is None or clip_targets is None:
            return (frame_logits, clip_logits), None
        per_frame = F.binary_cross_entropy_with_logits(frame_logits, frame_targets, reduction="none").sum(2)  # (B, T)
        loss = per_frame[mask].mean() + F.cross_entropy(clip_logits, clip_targets)
        return (frame_logits, clip_logits), loss

    @torch.no_grad()
    def predict(self, clips: Tensor, lengths: Tensor, switch_penalty: float | None = 2.0) -> tuple[Tensor, Tensor]:
        """Per-frame action sets as multi-hot (B, T, A) bool and clip action ids (B,).

        The sets are the Viterbi path of ``action_decoding.decode_sets`` (one or two actions a frame, each
        change of set costing ``switch_penalty`` in log probability); None reads every action over 0.5
        on its own (the likeliest one if none is).
        """
        (frame_logits, clip_logits), _ = self(clips, lengths)
        mask = length_mask(lengths, clips.shape[1], clips.device)  # (B, T)
        if switch_penalty is not None:
            return decode_sets(frame_logits, mask, switch_penalty), clip_logits.argmax(1)
        sets = frame_logits > 0
        top = F.one_hot(frame_logits.argmax(2), frame_logits.shape[2]).bool()  # (B, T, A)
        sets = torch.where(sets.any(2, keepdim=True), sets, top)  # a frame always shows some action
        return sets & mask.unsqueeze(2), clip_logits.argmax(1)
