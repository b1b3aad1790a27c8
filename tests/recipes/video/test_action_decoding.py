"""Per-frame action sets by Viterbi with a price on each change: against brute force over every path, and by hand."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnkit.recipes.video.action_decoding import action_sets, decode_sets, set_scores


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_the_sets_are_every_single_action_and_every_pair():
    sets = action_sets(4)
    assert sets.shape == (4 + 6, 4)
    assert sorted(tuple(int(a) for a in row.nonzero()) for row in sets) == sorted(
        [(a,) for a in range(4)] + list(itertools.combinations(range(4), 2)))


def test_set_scores_are_independent_per_action_log_probabilities():
    logits = torch.tensor([[[1.5, -0.5, 0.2]]])  # (1, 1, 3)
    scores = set_scores(logits, action_sets(3))[0, 0]
    by_hand = [log_sigmoid(1.5) + log_sigmoid(0.5) + log_sigmoid(-0.2),  # {0}: 0 in, 1 and 2 out
               log_sigmoid(-1.5) + log_sigmoid(-0.5) + log_sigmoid(-0.2),  # {1}
               log_sigmoid(-1.5) + log_sigmoid(0.5) + log_sigmoid(0.2),  # {2}
               log_sigmoid(1.5) + log_sigmoid(-0.5) + log_sigmoid(-0.2),  # {0, 1}
               log_sigmoid(1.5) + log_sigmoid(0.5) + log_sigmoid(0.2),  # {0, 2}
               log_sigmoid(-1.5) + log_sigmoid(-0.5) + log_sigmoid(0.2)]  # {1, 2}
    torch.testing.assert_close(scores, torch.tensor(by_hand), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("penalty", [0.0, 0.7, 3.0])
def test_viterbi_finds_the_best_path_that_brute_force_finds(penalty: float):
    g = torch.Generator().manual_seed(3)
    logits = 2 * torch.randn(2, 4, 3, generator=g)  # (B, T, A): 6 sets, 6^4 paths per clip
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    sets = action_sets(3)
    emissions = set_scores(logits, sets)  # (B, T, K)
    decoded = decode_sets(logits, mask, penalty)
    for b in range(2):
        T = int(mask[b].sum())

        def total(path: tuple[int, ...], b: int = b) -> float:
            changes = sum(p != q for p, q in itertools.pairwise(path))
            return float(sum(emissions[b, t, k] for t, k in enumerate(path))) - penalty * changes

        best = max(itertools.product(range(len(sets)), repeat=T), key=total)
        assert decoded[b, :T].tolist() == sets[list(best)].tolist()
        assert not decoded[b, T:].any()  # nothing past the clip's end


def test_a_one_frame_flicker_is_smoothed_away_only_when_changes_cost():
    # action 0 in every frame, but frame 2 reads action 1 a little more likely than action 0
    logits = torch.full((1, 5, 3), -4.0)
    logits[0, :, 0] = 4.0
    logits[0, 2] = torch.tensor([-0.5, 0.5, -4.0])
    mask = torch.ones(1, 5, dtype=torch.bool)
    free = decode_sets(logits, mask, 0.0)[0].int().argmax(1).tolist()
    cheap = decode_sets(logits, mask, 0.4)[0].int().argmax(1).tolist()
    smooth = decode_sets(logits, mask, 2.0)[0].int().argmax(1).tolist()
    # reading {1} rather than {0} at frame 2 gains (log sig(0.5) - log sig(-0.5)) * 2 = 1.0 and costs two changes
    assert free == [0, 0, 1, 0, 0]  # each frame on its own
    assert cheap == [0, 0, 1, 0, 0]  # 2 * 0.4 < 1.0: the flicker stays
    assert smooth == [0, 0, 0, 0, 0]  # 2 * 2.0 > 1.0: smoothed away
    with pytest.raises(ValueError, match="switch_penalty must be >= 0"):
        decode_sets(logits, mask, -1.0)
