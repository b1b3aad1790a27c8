"""Video captioning model: a small CNN reads each frame as ten digit slots, an LSTM encodes the
frames, an LSTM decoder writes the sentence attending over the frames (S2VT's encoder-decoder
over frames, Venugopalan et al., 2015, with Yao et al., 2015's soft temporal attention).

    x_t = [f_t ; f_t - f_{t-1} ; f_{t+1} - f_t]     a frame and what changed on either side (zero at the ends)
    v_t = slots(CNN(x_t))                           ten digit slots per frame, (B, T, 10 * SLOT)   (slots.py)
    m_1..m_T, h_0 = BiLSTM(v_1..v_T)                rnnkit.models.Seq2Seq's encoder, padded frames masked
    s_k = LSTM(emb(y_{k-1}), s_{k-1})               the decoder, one word at a time
    alpha_k = softmax_t(score(s_k, m_t)),  c_k = sum_t alpha_kt m_t     attention over frames
    p(y_k | y_<k, clip) = softmax(W_o tanh(W_a [s_k; c_k]))

The decoder is the Seq2Seq the caption recipe uses over image regions; here its source is
the sequence of frames, with each clip's length, so the attention never looks at padding.
The difference channels carry the motion (the temporal stream of two-stream networks,
Simonyan & Zisserman, 2014, in its simplest form).

As in S2VT (an ImageNet CNN) and Yao et al. (a 3-D CNN trained for action recognition), the
frame CNN is trained first on its own task and then kept fixed, its vectors computed once per
clip: ``slots.SlotTagger`` says, on an 8x8 grid, where each digit's centre is, which digit it
is, what it is doing and how large it is, from the clip scripts; a frame's vector is the ten
digit slots read off that grid (which digit is where and doing what, not one pooled vector).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models import Seq2Seq, Seq2SeqConfig
from rnnkit.models.common import length_mask
from rnnkit.recipes.captioning import caption_ids
from rnnkit.recipes.text import pad_batch
from rnnkit.recipes.video.clips import CANVAS as FRAME  # frames are FRAME x FRAME grey images
from rnnkit.recipes.video.slots import CLIP_FEATURES, FEATURES, SlotEncoder, clip_context, clip_slots


def frame_vectors(encoder: SlotEncoder, frames: Tensor, lengths: Tensor) -> Tensor:
    """(B, T, F): the encoder's vector of each real frame of each clip (B, T, 64, 64), zero past its length."""
    B, T = frames.shape[:2]
    real = length_mask(lengths, T, frames.device)  # (B, T) bool
    vectors = encoder(clip_context(frames, lengths)[real])  # (N, F), N = real frames: the CNN skips the padding
    out = vectors.new_zeros(B, T, vectors.size(1))  # (B, T, F)
    out[real] = vectors
    return out


class VideoCaptioner(nn.Module):
    """Frames in, a sentence out, with the ``forward(inputs, lengths, targets, target_lengths) -> (logits, loss)``
    contract.

    Shapes:
        inputs: frames (B, T, 64, 64) float in [0, 1], or the frame vectors (B, T, F) the CNN made of them
        (cached when the CNN is kept fixed); padded past each clip's length. lengths (B,) frames per clip.
        targets (B, K) word ids ending with eos; target_lengths (B,).
    """

    def __init__(self, vocab_size: int, bos_id: int, eos_id: int, channels: int = 32, embed_size: int = 32,
                 hidden_size: int = 128, attention: str = "additive", max_length: int = 40,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.frames = SlotEncoder(channels)
        self.decoder = Seq2Seq(Seq2SeqConfig(
            vocab_size=vocab_size, input_size=CLIP_FEATURES, embed_size=embed_size, hidden_size=hidden_size,
            attention=attention, bos_id=bos_id, eos_id=eos_id, max_length=max_length, dropout=dropout))

    def features(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """Frame vectors (B, T, F), zero past each clip's length: the CNN's on frames (run on real frames only), or
        ``inputs`` as they are."""
        if not inputs.is_floating_point() or inputs.dim() not in (3, 4):
            raise ValueError(f"VideoCaptioner: expected float frames (B, T, {FRAME}, {FRAME}) or frame vectors (B, T, "
                             f"F), got {tuple(inputs.shape)} {inputs.dtype}.")
        B, T = inputs.shape[:2]
        if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
            raise ValueError(f"VideoCaptioner: lengths must be (B,) = ({B},) frame counts in 1..{T}, got "
                             f"{lengths.tolist()}.")
        real = length_mask(lengths, T, inputs.device)  # (B, T) bool
        if inputs.dim() == 3:
            if inputs.size(2) != FEATURES:
                raise ValueError(f"VideoCaptioner: frame vectors must have {FEATURES} features (ten digit slots), "
                                 f"got {inputs.size(2)}.")
            return inputs * real.unsqueeze(2)
        if inputs.shape[2:] != (FRAME, FRAME):
            raise ValueError(f"VideoCaptioner: expected frames of {FRAME}x{FRAME} pixels, got "
                             f"{tuple(inputs.shape[2:])}.")
        return frame_vectors(self.frames, inputs, lengths)

    def forward(self, inputs: Tensor, lengths: Tensor, targets: Tensor | None = None,
                target_lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.decoder(self.clip_features(inputs, lengths), targets, lengths=lengths,
                            target_lengths=target_lengths)

    def clip_features(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """What the encoder reads (B, T, CLIP_FEATURES): the clip's two likeliest digits in each frame
        (``slots.clip_slots``)."""
        return clip_slots(self.features(inputs, lengths), lengths)

    @torch.no_grad()
    def caption(self, inputs: Tensor, lengths: Tensor, beam: int = 1) -> list[list[int]]:
        """Word ids of one caption per clip (without the end token): greedy, or beam search if beam > 1."""
        self.eval()
        return caption_ids(self.decoder, self.clip_features(inputs, lengths), beam, lengths)

    @torch.no_grad()
    def attention(self, inputs: Tensor, lengths: Tensor, ids: list[list[int]]) -> list[Tensor]:
        """The attention over frames while writing ``ids`` (one caption per clip): (words + 1, T_i) each, rows summing
        to 1.

        Row k is the step that writes word k; the last row writes the end token.
        """
        self.eval()
        d = self.decoder
        encoded = d.encode(self.clip_features(inputs, lengths), lengths)
        previous, steps = pad_batch([[d.config.bos_id, *words] for words in ids], d.config.eos_id)  # (B, K+1), (B,)
        _, weights, _ = d.decode(encoded, previous.to(inputs.device), steps)  # (B, K+1, T)
        if weights is None:
            raise ValueError("VideoCaptioner: this model was built without attention (attention='none').")
        return [weights[b, : int(steps[b]), : int(lengths[b])] for b in range(len(ids))]  # (K_b + 1, T_b) each
