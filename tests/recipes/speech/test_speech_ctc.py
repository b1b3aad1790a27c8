"""CTC decoding against brute force over every alignment of small lattices, and the CTC loss against it too; the
forward recursion against both, and the string-level combination of several models against brute force."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from rnnkit.recipes.speech import ctc
from rnnkit.recipes.speech.ctc import collapse, decode, greedy, prefix_beam_search


def brute_force(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """p(y | x) of every labelling y, summing prod_t p_t(a_t) over all V^T alignments a."""
    T, V = log_probs.shape
    probs = log_probs.double().exp()
    total: dict[tuple[int, ...], float] = defaultdict(float)
    for a in itertools.product(range(V), repeat=T):
        total[tuple(collapse(list(a)))] += math.prod(float(probs[t, a[t]]) for t in range(T))
    return dict(total)


def lattice(T: int, V: int, seed: int) -> torch.Tensor:
    return torch.log_softmax(torch.randn(T, V, generator=torch.Generator().manual_seed(seed)) * 2, dim=-1)


def test_collapse_by_hand():
    assert collapse([0, 3, 3, 0, 3, 9, 9]) == [3, 3, 9]
    assert collapse([0, 0, 0]) == []
    assert collapse([2, 2, 2, 1, 1]) == [2, 1]


@pytest.mark.parametrize("seed", range(6))
def test_wide_prefix_beam_is_exact(seed: int):
    lp = lattice(5, 3, seed)  # 243 alignments
    exact = brute_force(lp)
    beams = prefix_beam_search(lp, beam=len(exact))
    assert len(beams) == len(exact)
    for prefix, logp in beams:
        assert math.exp(logp) == pytest.approx(exact[prefix], rel=1e-9)
    assert sum(exact.values()) == pytest.approx(1.0)
    assert beams[0][0] == max(exact, key=exact.__getitem__)


def test_beam_finds_the_best_labelling_where_greedy_does_not():
    # two frames; p(blank) = 0.6 on each frame, p(label 1) = 0.4. The best alignment is "- -" (0.36, empty),
    # but labelling "1" collects "1 -", "- 1", "1 1": 0.24 + 0.24 + 0.16 = 0.64.
    lp = torch.log(torch.tensor([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy(lp) == []
    best, logp = prefix_beam_search(lp, beam=4)[0]
    assert best == (1,)
    assert math.exp(logp) == pytest.approx(0.64)
    assert decode(lp, beam=4) == [1]
    assert decode(lp, beam=1) == []


@pytest.mark.parametrize("seed", range(3))
def test_ctc_loss_matches_brute_force(seed: int):
    lp = lattice(4, 4, seed)
    exact = brute_force(lp)
    for target in [(1,), (2, 2), (1, 3), (3, 1, 2)]:
        loss = torch.nn.functional.ctc_loss(lp.unsqueeze(1), torch.tensor([target]), torch.tensor([4]),
                                            torch.tensor([len(target)]), reduction="sum")
        assert float(loss) == pytest.approx(-math.log(exact[target]), rel=1e-5)


def ctc_loss(lp: torch.Tensor, target: tuple[int, ...]) -> float:
    """-log p(y | x) by torch.nn.functional.ctc_loss, in float64 (inf for a labelling too long for the frames)."""
    return float(torch.nn.functional.ctc_loss(lp.double().unsqueeze(1), torch.tensor([list(target) or [0]]),
                                              torch.tensor([lp.shape[0]]), torch.tensor([len(target)]),
                                              reduction="sum"))


@pytest.mark.parametrize("seed", range(4))
def test_forward_recursion_matches_ctc_loss(seed: int):
    lp = lattice(30, 6, seed)
    g = torch.Generator().manual_seed(100 + seed)
    # lengths 0..12 side by side (padded to the longest), repeats (a blank between them is forced) and runs of one
    # label; 16 labels of one kind need 31 frames > 30, so the last is impossible
    ys = [tuple(int(c) for c in torch.randint(1, 6, (n,), generator=g)) for n in range(13)]
    ys += [(2, 2, 2, 3, 3), (4,) * 10, (1,) * 16]
    got = ctc.log_likelihoods(lp, ys)
    assert got.dtype == torch.float64
    assert got.shape == (len(ys),)
    for y, value in zip(ys, got.tolist(), strict=True):
        assert -value == pytest.approx(ctc_loss(lp, y), rel=1e-9, abs=1e-9), y
    assert got[-1] == -math.inf
    # the empty labelling has one alignment, the blank at every frame
    assert ctc.log_likelihoods(lp[:, :3], [()]).item() == pytest.approx(float(lp[:, 0].sum()))


@pytest.mark.parametrize("seed", range(3))
def test_forward_recursion_matches_brute_force(seed: int):
    lp = lattice(5, 3, seed)
    exact = brute_force(lp)
    ys = list(exact)
    for y, value in zip(ys, ctc.log_likelihoods(lp, ys).tolist(), strict=True):
        assert math.exp(value) == pytest.approx(exact[y], rel=1e-9)


def test_forward_recursion_refuses_bad_labels():
    with pytest.raises(ValueError, match="labelling 1 is \\[3, 0\\]"):
        ctc.log_likelihoods(lattice(4, 4, 0), [(1,), (3, 0)])
    with pytest.raises(ValueError, match="labelling 0 is \\[4\\]"):
        ctc.log_likelihoods(lattice(4, 4, 0), [(4,)])
    with pytest.raises(ValueError, match="expected \\(T, V\\)"):
        ctc.log_likelihoods(lattice(4, 4, 0)[None], [(1,)])


def test_rescoring_one_model_over_every_string_finds_the_best_labelling():
    for seed in range(4):
        lp = lattice(5, 3, seed)
        exact = brute_force(lp)
        every = [y for n in range(6) for y in itertools.product((1, 2), repeat=n)]  # all 63 strings up to length 5
        ranked = ctc.rescore([lp], every)
        assert ranked[0][0] == max(exact, key=exact.__getitem__)
        assert math.exp(ranked[0][1]) == pytest.approx(max(exact.values()), rel=1e-9)
        assert len(ranked) == len(every)


def test_string_combination_is_the_argmax_of_the_summed_likelihoods_over_the_candidates():
    differs = 0
    for seed in range(12):
        members = [lattice(5, 3, 10 * seed + m) for m in range(3)]
        exact = [brute_force(lp) for lp in members]
        for beam, n_best in [(1, 1), (4, 2), (6, 4)]:
            pool = {y for lp in members for y in ctc.candidates(lp, beam, n_best)}
            assert len(pool) <= 3 * n_best
            want = max(pool, key=lambda y: sum(math.log(e[y]) for e in exact))
            got = ctc.decode_strings(members, beam, n_best)
            assert tuple(got) == want
            differs += want != tuple(decode(members[0], beam))
    assert differs > 0  # the pick is not just the first member's
    # each member alone: its own best labelling among its candidates (the beam's best with a wide beam)
    lp = lattice(5, 3, 7)
    assert ctc.decode_strings([lp], beam=64, n_best=64) == decode(lp, beam=64)
    with pytest.raises(ValueError, match="no members"):
        ctc.decode_strings([])


def test_candidates_are_the_greedy_or_the_beams_best():
    lp = lattice(6, 4, 3)
    assert ctc.candidates(lp, beam=1) == [tuple(greedy(lp))]
    assert ctc.candidates(lp, beam=8, n_best=3) == [y for y, _ in prefix_beam_search(lp, 8)[:3]]
