"""Gesture's nearest-neighbour baselines: DTW against a brute force over every warping path, the
Euclidean distance, 1-NN, and the recipe measuring them in the same run as the model."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor

from rnnkit.recipes.classify import Labelled
from rnnkit.recipes.gesture import baselines as base
from rnnkit.recipes.gesture.recipe import GestureConfig, GestureRecipe, Gestures


def warping_paths(n: int, m: int) -> Iterator[list[tuple[int, int]]]:
    """Every path from (0, 0) to (n-1, m-1) with steps (1, 0), (0, 1), (1, 1): the paths DTW minimises over."""
    if (n, m) == (1, 1):
        yield [(0, 0)]
        return
    for di, dj in ((1, 0), (0, 1), (1, 1)):
        if n - di >= 1 and m - dj >= 1:
            for path in warping_paths(n - di, m - dj):
                yield [*path, (n - 1, m - 1)]


def brute_force_dtw(a: Tensor, b: Tensor) -> float:
    """min over warping paths of sum ||a_i - b_j||^2: no dynamic programming, every path summed."""
    x, y = a.tolist(), b.tolist()  # plain floats: thousands of tiny tensor ops would take seconds
    return min(sum(sum((p - q) ** 2 for p, q in zip(x[i], y[j], strict=True)) for i, j in path)
               for path in warping_paths(len(x), len(y)))


def test_dtw_worked_by_hand():
    # a = 0, 1, 2 and b = 0, 2: the path (0,0) (1,0) (2,1) costs 0 + 1 + 0 = 1, and none costs less
    a, b = torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[0.0], [2.0]])
    assert base.dtw_distances([a], [b]).tolist() == [[1.0]]
    assert sum(1 for _ in warping_paths(3, 2)) == 5  # Delannoy number D(2, 1)


def test_dtw_equals_the_brute_force_over_all_warping_paths_for_mixed_lengths():
    g = torch.Generator().manual_seed(3)
    queries = [torch.randn(t, 2, generator=g, dtype=torch.float64) for t in (1, 3, 4, 2)]
    references = [torch.randn(t, 2, generator=g, dtype=torch.float64) for t in (4, 1, 2, 3, 4)]
    got = base.dtw_distances(queries, references)  # (4, 5): padded batches, each pair read at its own lengths
    want = torch.tensor([[brute_force_dtw(q, r) for r in references] for q in queries], dtype=torch.float64)
    torch.testing.assert_close(got, want)


def test_dtw_is_zero_on_itself_symmetric_and_at_most_the_euclidean_distance():
    g = torch.Generator().manual_seed(4)
    series = [torch.randn(6, 3, generator=g, dtype=torch.float64) for _ in range(5)]
    dtw = base.dtw_distances(series, series)
    assert torch.all(dtw.diagonal() == 0)
    torch.testing.assert_close(dtw, dtw.T)
    euclidean = base.euclidean_distances(series, series)
    assert torch.all(dtw <= euclidean + 1e-12)  # the diagonal path is one warping path
    assert bool((dtw < euclidean - 1e-6).any())  # and warping does find shorter ones


def test_euclidean_distance_and_its_error_on_different_lengths():
    a, b = torch.tensor([[1.0, 0.0], [2.0, 2.0]]), torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    assert base.euclidean_distances([a], [a, b]).tolist() == [[0.0, 1 + 4 + 1]]
    with pytest.raises(ValueError, match=r"lengths \[2, 3\].*use DTW"):
        base.euclidean_distances([a], [torch.zeros(3, 2)])


def test_nearest_neighbour_takes_the_closest_and_the_first_on_a_tie():
    distances = torch.tensor([[3.0, 1.0, 2.0], [2.0, 5.0, 2.0]])
    assert base.nearest_neighbour(distances, [7, 8, 9]) == [8, 7]
    train = [torch.tensor([[0.0]]), torch.tensor([[10.0]])]
    test = [torch.tensor([[1.0]]), torch.tensor([[9.0]]), torch.tensor([[4.0]])]
    assert base.nearest_neighbour_accuracy(base.euclidean_distances, train, [0, 1], test,
                                           [0, 1, 1]) == pytest.approx(2 / 3)


def test_recipe_baselines_use_the_series_as_recorded_and_the_euclidean_only_for_one_length():
    g = torch.Generator().manual_seed(5)
    train = Labelled([torch.randn(5, 2, generator=g) for _ in range(8)], [0, 1, 0, 1, 0, 1, 1, 0])
    test = Labelled([torch.randn(5, 2, generator=g) for _ in range(7)], [0, 1, 1, 0, 1, 0, 0])
    framed = Labelled([torch.zeros(1, 10)] * 6, [0] * 6)  # the model's inputs: the baselines must not read them
    data = Gestures(framed, framed.subset([0, 1]), framed, ["a", "b"], torch.zeros(2), torch.ones(2), train, test)
    scores = GestureRecipe().baselines(GestureConfig(threads=1), data)
    assert set(scores) == {"1-NN DTW", "1-NN Euclidean"}
    for name, distance in (("1-NN DTW", base.dtw_distances), ("1-NN Euclidean", base.euclidean_distances)):
        accuracy = base.nearest_neighbour_accuracy(distance, train.inputs, train.labels, test.inputs, test.labels)
        assert scores[name]["accuracy"] == accuracy
        assert scores[name]["accuracy_low"] < accuracy < scores[name]["accuracy_high"]
    data.series_test = Labelled([torch.randn(t, 2, generator=g) for t in (3, 5, 8)], [0, 1, 0])
    assert set(GestureRecipe().baselines(GestureConfig(), data)) == {"1-NN DTW"}  # lengths differ: no Euclidean
    assert GestureRecipe().baselines(GestureConfig(baselines=False), data) == {}


def test_all_paths_enumerator_counts_delannoy_numbers():
    # D(m, n) central Delannoy numbers 1, 3, 13, 63: the brute force really visits every path
    assert [sum(1 for _ in warping_paths(k, k)) for k in range(1, 5)] == [1, 3, 13, 63]
    assert all(len(set(p)) == len(p) for p in itertools.islice(warping_paths(4, 4), 63))
