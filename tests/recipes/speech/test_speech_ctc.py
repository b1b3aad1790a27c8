"""CTC decoding against brute force over every alignment of small lattices, and the CTC loss against it too."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

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
