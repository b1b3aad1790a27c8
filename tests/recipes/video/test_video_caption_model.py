"""Video captioner: frames in context, attention over frames (sums to 1, never on padding), cached vectors = frames."""

from __future__ import annotations

import pytest
import torch

from rnnkit.recipes.video.captioner import VideoCaptioner, frame_vectors
from rnnkit.recipes.video.slots import FEATURES, SlotEncoder, SlotTagger, frame_context


@pytest.fixture
def model(one_thread):
    torch.manual_seed(0)
    return VideoCaptioner(vocab_size=12, bos_id=1, eos_id=2, channels=8, embed_size=8, hidden_size=16).eval()


def test_frame_context_by_hand():
    frames = torch.zeros(1, 3, 64, 64)
    frames[0, 0, 0, 0], frames[0, 1, 0, 0], frames[0, 2, 0, 0] = 0.2, 0.5, 0.4
    context = frame_context(frames)  # (1, 3, 3, 64, 64)
    assert context.shape == (1, 3, 3, 64, 64)
    # pixel (0, 0): frame, change into it, change out of it; zero change before the first and after the last
    torch.testing.assert_close(context[0, :, :, 0, 0],
                               torch.tensor([[0.2, 0.0, 0.3], [0.5, 0.3, -0.1], [0.4, -0.1, 0.0]]))
    assert context[..., 1:, :].abs().sum() == 0


def test_attention_over_frames_sums_to_one_and_skips_padding(model):
    frames = torch.rand(2, 6, 64, 64)
    lengths = torch.tensor([6, 4])
    encoded = model.decoder.encode(model.clip_features(frames, lengths), lengths)
    _, weights, _ = model.decoder.decode(encoded, torch.tensor([[1, 5, 6], [1, 7, 8]]))
    assert weights is not None
    assert weights.shape == (2, 3, 6)  # (B, words, frames)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[1, :, 4:] == 0)  # the second clip has 4 frames: none of the attention goes past them
    assert torch.all(weights[1, :, :4] > 0)
    # the attention() helper gives each clip its own frames, one row per word written plus the end
    rows = model.attention(frames, lengths, [[5, 6], [7]])
    assert [tuple(r.shape) for r in rows] == [(3, 6), (2, 4)]
    torch.testing.assert_close(rows[1].sum(-1), torch.ones(2))


def test_what_lies_past_a_clip_changes_nothing(model):
    frames = torch.rand(2, 6, 64, 64)
    lengths = torch.tensor([6, 4])
    targets = torch.tensor([[5, 6, 2], [7, 2, 0]])
    logits, _ = model(frames, lengths, targets, torch.tensor([3, 2]))
    other = frames.clone()
    other[1, 4:] = torch.rand(2, 64, 64)  # new padding frames for the short clip
    logits_other, _ = model(other, lengths, targets, torch.tensor([3, 2]))
    torch.testing.assert_close(logits[1], logits_other[1])
    # and the short clip alone, unpadded, reads the same
    alone, _ = model(frames[1:, :4], lengths[1:], targets[1:, :2], torch.tensor([2]))
    torch.testing.assert_close(alone[0], logits[1, :2], atol=1e-5, rtol=1e-5)


def test_cached_frame_vectors_give_the_same_captions_as_frames(model):
    frames = torch.rand(3, 5, 64, 64)
    lengths = torch.tensor([5, 3, 4])
    vectors = frame_vectors(model.frames, frames, lengths)  # (B, T, F), as the recipe caches them
    assert torch.all(vectors[1, 3:] == 0)
    targets = torch.tensor([[5, 6, 2], [7, 2, 0], [3, 4, 2]])
    a, loss_a = model(frames, lengths, targets, torch.tensor([3, 2, 3]))
    b, loss_b = model(vectors, lengths, targets, torch.tensor([3, 2, 3]))
    torch.testing.assert_close(a, b)
    assert model.caption(frames, lengths) == model.caption(vectors, lengths)
    assert model.caption(frames, lengths, beam=3) == model.caption(vectors, lengths, beam=3)


def test_errors_name_the_shape(model):
    with pytest.raises(ValueError, match=r"frames of 64x64 pixels, got \(32, 32\)"):
        model(torch.rand(1, 4, 32, 32), torch.tensor([4]))
    with pytest.raises(ValueError, match=r"lengths must be \(B,\) = \(1,\) frame counts in 1\.\.4"):
        model(torch.rand(1, 4, 64, 64), torch.tensor([5]))
    with pytest.raises(ValueError, match=f"frame vectors must have {FEATURES} features .ten digit slots., got 9"):
        model(torch.rand(1, 4, 9), torch.tensor([4]))


def test_slot_tagger_contract(one_thread):
    tagger = SlotTagger(SlotEncoder(8))
    classes = torch.zeros(4, 64, dtype=torch.long)
    classes[:, 9] = 4
    actions = torch.full((4, 64), -100)
    actions[:, 9] = 2
    slots, loss = tagger(torch.rand(4, 3, 64, 64), classes, actions, torch.rand(4, 64))
    assert slots.shape == (4, 10, FEATURES // 10)
    assert loss is not None
    assert loss.requires_grad
