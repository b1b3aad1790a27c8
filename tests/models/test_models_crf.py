"""The CRF against brute force: every tag path of a tiny input, enumerated."""

import itertools

import pytest
import torch

from rnnkit.models.crf import CRF


def brute_force(crf: CRF, emissions: torch.Tensor, n: int) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """log Z, the best path and its score for one sequence (T, K) truncated to length n, by enumeration."""
    K = emissions.size(1)
    scores = {}
    for path in itertools.product(range(K), repeat=n):
        s = crf.start[path[0]] + crf.end[path[-1]] + sum(emissions[t, path[t]] for t in range(n))
        s = s + sum(crf.transitions[path[t - 1], path[t]] for t in range(1, n))
        scores[path] = s
    values = torch.stack(list(scores.values()))
    best = max(scores, key=lambda p: scores[p].item())
    return torch.logsumexp(values, 0), list(best), scores[best]


@pytest.fixture
def setup() -> tuple[CRF, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    crf = CRF(3).double()
    with torch.no_grad():  # larger scores than the init, so that the best path is not trivially the argmax per token
        crf.transitions.copy_(torch.randn(3, 3, generator=g, dtype=torch.float64) * 2)
        crf.start.copy_(torch.randn(3, generator=g, dtype=torch.float64))
        crf.end.copy_(torch.randn(3, generator=g, dtype=torch.float64))
    emissions = torch.randn(4, 5, 3, generator=g, dtype=torch.float64)  # (B, T, K)
    lengths = torch.tensor([5, 3, 1, 4])
    mask = torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    return crf, emissions, lengths, mask


def test_log_partition_equals_enumeration(setup):
    crf, emissions, lengths, mask = setup
    log_z = crf.log_partition(emissions, mask)
    for b in range(4):
        expected, _, _ = brute_force(crf, emissions[b], int(lengths[b]))
        torch.testing.assert_close(log_z[b], expected)


def test_viterbi_equals_brute_force_argmax(setup):
    crf, emissions, lengths, mask = setup
    tags, scores = crf.viterbi(emissions, mask)
    for b in range(4):
        n = int(lengths[b])
        _, best, best_score = brute_force(crf, emissions[b], n)
        assert tags[b, :n].tolist() == best
        assert (tags[b, n:] == -1).all()
        torch.testing.assert_close(scores[b], best_score)
    # the Viterbi score is the score of the path it returns
    torch.testing.assert_close(crf.score(emissions, tags.clamp(min=0), mask), scores)


def test_nll_is_a_proper_distribution(setup):
    """exp(-nll) summed over all paths of a length-3 sequence is 1."""
    crf, emissions, _, _ = setup
    e, mask = emissions[:1, :3], torch.ones(1, 3, dtype=torch.bool)
    total = sum(torch.exp(-crf(e, torch.tensor([p]), mask)) for p in itertools.product(range(3), repeat=3))
    torch.testing.assert_close(total, torch.ones(1, dtype=torch.float64))


def test_padding_values_do_not_matter(setup):
    crf, emissions, lengths, mask = setup
    tags = torch.randint(0, 3, (4, 5), generator=torch.Generator().manual_seed(1))
    noisy = emissions.masked_fill(~mask.unsqueeze(2), 1e3)
    noisy_tags = tags.masked_fill(~mask, 2)
    torch.testing.assert_close(crf(noisy, noisy_tags, mask), crf(emissions, tags, mask))
    assert torch.equal(crf.viterbi(noisy, mask)[0], crf.viterbi(emissions, mask)[0])


def test_bad_num_tags():
    with pytest.raises(ValueError, match="CRF: num_tags"):
        CRF(0)
