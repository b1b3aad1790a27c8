"""Nearest-neighbour baselines for series classification, the straw men of the UCR/UEA archives:
1-NN with the Euclidean distance and 1-NN with dynamic time warping (Sakoe and Chiba, 1978),
both measured in the same run as the recurrent model, on the same standardised series.

    ED(a, b)^2 = sum_t ||a_t - b_t||^2                                  (equal lengths only)   (1)
    c(i, j)    = ||a_i - b_j||^2                                        local cost                (2)
    D(0, 0) = 0,  D(i, 0) = D(0, j) = inf                                                         (3)
    D(i, j)    = c(i, j) + min(D(i-1, j), D(i, j-1), D(i-1, j-1))                                 (4)
    DTW(a, b)  = D(T_a, T_b)                                                                      (5)

This is the full-window DTW (no Sakoe-Chiba band) with squared point costs, the variant behind
the UCR archive's "DTW, unconstrained" column; for several channels one warping path serves them
all (the "dependent" DTW of Shokoohi-Yekta et al., 2017). Series of different lengths are fine:
D(i, j) depends only on the prefixes a_1..a_i and b_1..b_j, so a padded batch is read at each
pair's own (T_a, T_b).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rnnkit.recipes.text import pad_float

Distance = Callable[[Sequence[Tensor], Sequence[Tensor]], Tensor]


def euclidean_distances(queries: Sequence[Tensor], references: Sequence[Tensor]) -> Tensor:
    """Squared Euclidean distances (1) between every query (T, C) and every reference (T, C): (Q, R)."""
    lengths = {len(s) for s in [*queries, *references]}
    if len(lengths) != 1:
        raise ValueError(f"euclidean_distances: the series have lengths {sorted(lengths)[:5]}...; the Euclidean "
                         "distance needs one common length (use DTW for series of different lengths).")
    q = torch.stack(list(queries)).flatten(1)  # (Q, T*C)
    r = torch.stack(list(references)).flatten(1)  # (R, T*C)
    return ((q.unsqueeze(1) - r.unsqueeze(0)) ** 2).sum(2)  # (Q, R)


def dtw_distances(queries: Sequence[Tensor], references: Sequence[Tensor]) -> Tensor:
    """DTW distances (5) between every query (T_q, C) and every reference (T_r, C): (Q, R).

    The table (4) is filled one row i at a time for all Q x R pairs at once, so the Python loop
    runs max T_q * max T_r times whatever the number of series.
    """
    a, a_len = pad_float(list(queries))  # (Q, Ta, C), (Q,)
    b, b_len = pad_float(list(references))  # (R, Tb, C), (R,)
    Q, Ta, _ = a.shape
    R, Tb, _ = b.shape
    out = torch.empty(Q, R, dtype=a.dtype)
    prev = torch.full((Q, R, Tb + 1), float("inf"), dtype=a.dtype)  # row i-1 of D, column 0 included
    prev[:, :, 0] = 0.0  # D(0, 0) = 0  (3)
    reference_ends = b_len.unsqueeze(0).expand(Q, R)  # (Q, R): column T_r of each pair
    for i in range(1, Ta + 1):
        cost = ((a[:, i - 1, None, None, :] - b.unsqueeze(0)) ** 2).sum(3)  # (Q, R, Tb)  (2)
        row = torch.empty_like(prev)
        row[:, :, 0] = float("inf")  # D(i, 0) = inf  (3)
        for j in range(1, Tb + 1):
            best = torch.minimum(torch.minimum(prev[:, :, j], row[:, :, j - 1]), prev[:, :, j - 1])
            row[:, :, j] = cost[:, :, j - 1] + best  # (4)
        ending = a_len == i  # the queries whose last step is i read their distances off this row  (5)
        if ending.any():
            out[ending] = row[ending].gather(2, reference_ends[ending].unsqueeze(2)).squeeze(2)
        prev = row
    return out  # (Q, R)


def nearest_neighbour(distances: Tensor, reference_labels: Sequence[int]) -> list[int]:
    """The label of each query's nearest reference (the first one on a tie), from distances (Q, R)."""
    labels = torch.tensor(list(reference_labels))
    return labels[distances.argmin(1)].tolist()


def nearest_neighbour_accuracy(distance: Distance, train: Sequence[Tensor], train_labels: Sequence[int],
                               test: Sequence[Tensor], test_labels: Sequence[int]) -> float:
    """Share of ``test`` whose nearest training series under ``distance`` has the same label."""
    predicted = nearest_neighbour(distance(test, train), train_labels)
    return sum(p == y for p, y in zip(predicted, test_labels, strict=True)) / len(test_labels)
