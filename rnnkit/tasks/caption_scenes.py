"""Synthetic-scene captioning data built from real handwritten digits ("digit scenes").

No captioned-image data set installs offline, so this one is composed and named for what
it is: two real 8x8 handwritten digits (scikit-learn's copy of the UCI optical digits),
each drawn small (8x8) or large (16x16), placed side by side or one above the other on a
32x32 canvas. The caption is generated from exactly what was placed, e.g.
"a large seven to the left of a small two". Each scene has two true phrasings (A left of
B = B right of A); both are references for BLEU, and ``caption_facts`` reads a caption
back into a fact so it can be checked against the scene.

Held-out scenes use digit images never seen in training (the source images are split
first), so the test asks for generalisation to new handwriting, not memorised pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CANVAS = 32
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIZES = {"small": 8, "large": 16}
# relation of the first-named item to the second, for a pair laid out horizontally or vertically
RELATIONS = {"horizontal": ("to the left of", "to the right of"), "vertical": ("above", "below")}


@dataclass(frozen=True)
class Item:
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


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits: images (N, 8, 8) in [0, 1], labels (N,)."""
    try:
        from sklearn.datasets import load_digits as sk_load
    except ModuleNotFoundError:
        raise ValueError("caption: the digit scenes need scikit-learn; `pip install scikit-learn`.") from None
    d = sk_load()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def split_sources(labels: np.ndarray, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Indices of source images for training and for held-out scenes (the last part of each class)."""
    train: list[int] = []
    test: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        cut = len(idx) - max(1, int(round(test_fraction * len(idx))))
        train.extend(idx[:cut])
        test.extend(idx[cut:])
    return np.array(sorted(train)), np.array(sorted(test))


def _draw(canvas: np.ndarray, digit: np.ndarray, size: int, top: int, left: int) -> None:
    patch = np.kron(digit, np.ones((size // 8, size // 8), dtype=np.float32))  # nearest-neighbour upscale
    canvas[top : top + size, left : left + size] = np.maximum(canvas[top : top + size, left : left + size], patch)


def compose(images: np.ndarray, labels: np.ndarray, pool: np.ndarray, n: int, seed: int) -> list[Scene]:
    """``n`` random scenes from source images ``pool``: two distinct digits, random sizes and layout.

    Items are placed in two halves of the canvas with random jitter, so the first item is
    always strictly left of (or above) the second, and nearer along that axis than across it,
    so that only the caption's relation (not also the other axis's) describes the scene.
    """
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
            _draw(canvas, images[idx], px, top, left)
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
