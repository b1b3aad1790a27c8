"""Video captioning model: a small CNN reads each frame, an LSTM encodes the frames, an LSTM
decoder writes the sentence attending over the frames (S2VT's encoder-decoder over frames,
Venugopalan et al., 2015, with Yao et al., 2015's soft temporal attention).

    x_t = [f_t ; f_t - f_{t-1} ; f_{t+1} - f_t]     a frame and what changed on either side (zero at the ends)
    v_t = relu(W flatten(CNN(x_t)))                 one vector per frame, (B, T, F)
    m_1..m_T, h_0 = BiLSTM(v_1..v_T)                rnnkit.models.Seq2Seq's encoder, padded frames masked
    s_k = LSTM(emb(y_{k-1}), s_{k-1})               the decoder, one word at a time
    alpha_k = softmax_t(score(s_k, m_t)),  c_k = sum_t alpha_kt m_t     attention over frames
    p(y_k | y_<k, clip) = softmax(W_o tanh(W_a [s_k; c_k]))

The decoder is the Seq2Seq the caption recipe uses over image regions; here its source is
the sequence of frames, with each clip's length, so the attention never looks at padding.
The difference channels carry the motion (the temporal stream of two-stream networks,
Simonyan & Zisserman, 2014, in its simplest form): a digit that moves, turns or grows shows
up in them as thin bright edges, which the CNN would otherwise have to compare across frames.

As in S2VT (an ImageNet CNN) and Yao et al. (a 3-D CNN trained for action recognition), the
frame CNN can be trained first on its own task and then kept fixed, its vectors computed once
per clip: ``FrameTagger`` says, for every digit 0-9, what it is doing in the frame (or that it
is absent), from the clip scripts' per-frame labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models import Seq2Seq, Seq2SeqConfig
from rnnkit.recipes.captioning import caption_ids
from rnnkit.recipes.text import pad_batch
from rnnkit.recipes.video.clips import CANVAS as FRAME  # frames are FRAME x FRAME grey images

CONTEXT = 3  # channels per frame: the frame, the change into it, the change out of it


def frame_context(frames: Tensor) -> Tensor:
    """(B, T, 64, 64) frames -> (B, T, 3, 64, 64): each frame, its change from the frame before and to the frame after.

    The first frame has no change into it and the last none out of it (zeros). Pass each clip
    unpadded, or padded with zeros and read only its real frames: the last real frame's change
    "out" then sees the padding. ``VideoCaptioner.features`` zeroes it.
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


class FrameEncoder(nn.Module):
    """(N, 3, 64, 64) frames in context -> (N, F) frame vectors.

    A 5x5 stride-2 convolution halves the frame at once (a 28-pixel digit is 14 pixels there,
    as large as the caption recipe's digits), then three conv-batchnorm-ReLU-pool blocks reach
    a 4x4 grid whose flattened map keeps where things are (a global pool would not say
    "moves left"). Batch norm because the training signal comes from far downstream.
    """

    def __init__(self, channels: int = 32, feature_size: int = 128) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(CONTEXT, c // 2, 5, stride=2, padding=2), nn.BatchNorm2d(c // 2), nn.ReLU(), nn.MaxPool2d(2),  # (N, C/2, 16, 16)
            nn.Conv2d(c // 2, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),  # (N, C, 8, 8)
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(), nn.MaxPool2d(2),  # (N, 2C, 4, 4)
        )
        self.project = nn.Linear(2 * c * 16 + 2 * c, feature_size)

    def forward(self, context: Tensor) -> Tensor:
        maps = self.net(context)  # (N, 2C, 4, 4)
        where = maps.flatten(1)  # (N, 2C*16): what is where
        what = maps.amax(dim=(2, 3))  # (N, 2C): what is anywhere, wherever it is
        return torch.relu(self.project(torch.cat([where, what], dim=1)))  # (N, F)


def frame_vectors(encoder: FrameEncoder, frames: Tensor, lengths: Tensor) -> Tensor:
    """(B, T, F): the encoder's vector of each real frame of each clip (B, T, 64, 64), zero past its length."""
    B, T = frames.shape[:2]
    real = torch.arange(T, device=frames.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T) bool
    vectors = encoder(clip_context(frames, lengths)[real])  # (N, F), N = real frames: the CNN skips the padding
    out = vectors.new_zeros(B, T, vectors.size(1))  # (B, T, F)
    out[real] = vectors
    return out


class FrameTagger(nn.Module):
    """The frame CNN's own task: which digits 0-9 are in the frame, and what each of them is doing.

    targets (N, 10): 0 for a digit not in the frame, else 1 + its action. Two heads, so that the
    nine absent digits of a frame do not drown the one or two present: a softmax over the ten
    digits whose target shares the probability among the present ones (as multi-label training
    with a softmax, Mahajan et al., 2018), and the present digits' actions:

        loss = -sum_d (present_d / n_present) log softmax(z)_d + CE(action logits of the present digits, their action)

    forward(context (N, 3, 64, 64), targets) -> (logits (N, 10, 1 + A): the digit's score then its action logits, loss).
    """

    def __init__(self, encoder: FrameEncoder, actions: int, feature_size: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.actions = actions
        self.head = nn.Linear(feature_size, 10 * (actions + 1))

    def forward(self, context: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        logits = self.head(self.encoder(context)).view(-1, 10, self.actions + 1)  # (N, 10, 1+A)
        if targets is None:
            return logits, None
        present = (targets > 0).float()  # (N, 10)
        share = present / present.sum(1, keepdim=True).clamp(min=1.0)  # (N, 10): 1, or 1/2 each for two digits
        loss = -(share * torch.log_softmax(logits[..., 0], dim=1)).sum(1).mean()
        if present.any():
            mask = targets > 0
            loss = loss + F.cross_entropy(logits[..., 1:][mask], targets[mask] - 1)
        return logits, loss


def tag(logits: Tensor) -> Tensor:
    """(..., 10, 1 + A) tagger logits -> (..., 10) labels as in the targets: 0 absent, else 1 + the action.

    A digit counts as present when it takes more than a quarter of the softmax (two present digits share it about evenly).
    """
    present = torch.softmax(logits[..., 0], dim=-1) > 0.25
    return torch.where(present, 1 + logits[..., 1:].argmax(-1), torch.zeros_like(present, dtype=torch.long))


class VideoCaptioner(nn.Module):
    """Frames in, a sentence out, with the ``forward(inputs, lengths, targets, target_lengths) -> (logits, loss)`` contract.

    Shapes:
        inputs: frames (B, T, 64, 64) float in [0, 1], or the frame vectors (B, T, F) the CNN made of them
        (cached when the CNN is kept fixed); padded past each clip's length. lengths (B,) frames per clip.
        targets (B, K) word ids ending with eos; target_lengths (B,).
    """

    def __init__(self, vocab_size: int, bos_id: int, eos_id: int, channels: int = 32, feature_size: int = 128,
                 embed_size: int = 32, hidden_size: int = 128, attention: str = "additive", max_length: int = 40) -> None:
        super().__init__()
        self.frames = FrameEncoder(channels, feature_size)
        self.decoder = Seq2Seq(Seq2SeqConfig(
            vocab_size=vocab_size, input_size=feature_size, embed_size=embed_size, hidden_size=hidden_size,
            attention=attention, bos_id=bos_id, eos_id=eos_id, max_length=max_length))

    def features(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """Frame vectors (B, T, F), zero past each clip's length: the CNN's on frames (run on real frames only), or ``inputs`` as they are."""
        if not inputs.is_floating_point() or inputs.dim() not in (3, 4):
            raise ValueError(f"VideoCaptioner: expected float frames (B, T, {FRAME}, {FRAME}) or frame vectors (B, T, F), "
                             f"got {tuple(inputs.shape)} {inputs.dtype}.")
        B, T = inputs.shape[:2]
        if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
            raise ValueError(f"VideoCaptioner: lengths must be (B,) = ({B},) frame counts in 1..{T}, got {lengths.tolist()}.")
        real = torch.arange(T, device=inputs.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T) bool
        if inputs.dim() == 3:
            F_ = self.frames.project.out_features
            if inputs.size(2) != F_:
                raise ValueError(f"VideoCaptioner: frame vectors must have {F_} features, got {inputs.size(2)}.")
            return inputs * real.unsqueeze(2)
        if inputs.shape[2:] != (FRAME, FRAME):
            raise ValueError(f"VideoCaptioner: expected frames of {FRAME}x{FRAME} pixels, got {tuple(inputs.shape[2:])}.")
        return frame_vectors(self.frames, inputs, lengths)

    def forward(self, inputs: Tensor, lengths: Tensor, targets: Tensor | None = None,
                target_lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.decoder(self.features(inputs, lengths), targets, lengths=lengths, target_lengths=target_lengths)

    @torch.no_grad()
    def caption(self, inputs: Tensor, lengths: Tensor, beam: int = 1) -> list[list[int]]:
        """Word ids of one caption per clip (without the end token): greedy, or beam search if beam > 1."""
        self.eval()
        return caption_ids(self.decoder, self.features(inputs, lengths), beam, lengths)

    @torch.no_grad()
    def attention(self, inputs: Tensor, lengths: Tensor, ids: list[list[int]]) -> list[Tensor]:
        """The attention over frames while writing ``ids`` (one caption per clip): (words + 1, T_i) each, rows summing to 1.

        Row k is the step that writes word k; the last row writes the end token.
        """
        self.eval()
        d = self.decoder
        encoded = d.encode(self.features(inputs, lengths), lengths)
        previous, steps = pad_batch([[d.config.bos_id, *words] for words in ids], d.config.eos_id)  # (B, K+1), (B,)
        _, weights, _ = d.decode(encoded, previous.to(inputs.device), steps)  # (B, K+1, T)
        if weights is None:
            raise ValueError("VideoCaptioner: this model was built without attention (attention='none').")
        return [weights[b, : int(steps[b]), : int(lengths[b])] for b in range(len(ids))]  # (K_b + 1, T_b) each
