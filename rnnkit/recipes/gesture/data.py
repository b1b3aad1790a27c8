"""The series gesture reads: UEA/UCR ``.ts`` files (multichannel, variable length, ``?`` for a
missing value), UCR-style CSV/TSV files (label first, then one univariate series), and the
problems bundled in the PyPI ``aeon`` wheel (fetched with ``pip download --no-deps`` into the
cache; aeon itself is not installed). Channels are standardised with the training set's statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.recipes.data_cache import archive_files, pypi_archive
from rnnkit.utils.reading import DataFormatError, decode_utf8, split_lines

AEON = ("aeon", "1.6.0")


@dataclass
class Series:
    """Sequences (T_n, C) with their class names, and the class names the file declares."""

    values: list[Tensor]
    labels: list[str]
    classes: list[str]


def parse_ts(text: str, name: str) -> Series:
    """The sktime/aeon ``.ts`` format: ``@`` header lines, then ``@data`` and one case per line,
    ``dim1values:dim2values:...:label`` with comma-separated values and ``?`` (or NaN) for missing.
    Errors are DataFormatErrors naming the file and line."""
    classes: list[str] = []
    values: list[Tensor] = []
    labels: list[str] = []
    in_data, has_labels, channels = False, True, None
    number = 0
    for number, line in enumerate(split_lines(text), start=1):
        line = line.strip()
        if not line or line.startswith(("#", "%")):  # comments (% as in ARFF, which .ts grew from)
            continue
        if not in_data:
            key, _, rest = line.partition(" ")
            key = key.lower()
            if key == "@data":
                in_data = True
            elif key == "@classlabel":
                words = rest.split()
                has_labels = bool(words) and words[0].lower() == "true"
                classes = words[1:]
            elif key == "@timestamps" and rest.strip().lower() == "true":
                raise DataFormatError(name, "time-stamped .ts files are not supported", "@timeStamps false",
                                      line=number, hint="Export the values without timestamps.")
            elif not key.startswith("@"):
                raise DataFormatError(name, f"{line[:60]!r} comes before '@data'", "a header line starting with '@'",
                                      line=number)
            continue
        fields = line.split(":")
        label = fields.pop().strip() if has_labels else ""
        if has_labels and classes and label not in classes:
            raise DataFormatError(name, f"class {label!r} is not among the declared classes {classes}",
                                  "one of the @classLabel classes", line=number)
        if has_labels and not label:
            raise DataFormatError(name, "the class label is empty", "'v1,v2,...:v1,v2,...:label'", line=number)
        dims = [[_value(v, name, number) for v in f.split(",")] for f in fields if f.strip()]
        if not dims or len(dims) != len(fields):
            raise DataFormatError(name, "a channel has no values", "'v1,v2,...:v1,v2,...:label'", line=number)
        channels = channels or len(dims)
        if len(dims) != channels:
            raise DataFormatError(name, f"{len(dims)} channels, but earlier cases have {channels}",
                                  f"{channels} channels", line=number)
        if len({len(d) for d in dims}) != 1:
            raise DataFormatError(name, f"channels have different lengths {[len(d) for d in dims]}",
                                  "equal-length channels in each case", line=number)
        values.append(torch.tensor(dims, dtype=torch.float32).T)  # (T, C)
        labels.append(label)
    if not values:
        raise DataFormatError(name, "no cases after '@data'", "'@data' and then one case per line", line=number + 1)
    return Series(values, labels, classes or sorted(set(labels)))


def _value(cell: str, name: str, line: int) -> float:
    """One value of a series: a finite number, or ``?``/NaN for a missing one (becomes NaN)."""
    cell = cell.strip()
    if cell == "?" or cell.lower() == "nan":
        return math.nan
    if not cell:
        raise DataFormatError(name, "a value is empty", "comma-separated numbers (? for a missing one)", line=line)
    try:
        value = float(cell)
    except ValueError:
        raise DataFormatError(name, f"a value is not a number ({cell[:40]!r})",
                              "comma-separated numbers, ':' between channels (? for a missing one)",
                              line=line) from None
    if not math.isfinite(value):
        raise DataFormatError(name, f"a value is {cell!r}", "finite numbers (? for a missing one)", line=line)
    return value


def parse_ucr(text: str, name: str, delimiter: str) -> Series:
    """UCR CSV/TSV: ``label,v1,v2,...`` per line (univariate); empty or NaN trailing cells end the series,
    a NaN elsewhere is a missing value."""
    values, labels = [], []
    number = 0
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        cells = line.rstrip().split(delimiter)
        while cells and cells[-1].strip() in ("", "NaN", "nan"):
            cells.pop()
        if len(cells) < 2 or not cells[0].strip():
            raise DataFormatError(name, f"got {line[:60]!r}", "a label and at least one value", line=number)
        series = [_value(v, name, number) for v in cells[1:]]
        values.append(torch.tensor(series, dtype=torch.float32).unsqueeze(1))  # (T, 1)
        labels.append(cells[0].strip())
    if not values:
        raise DataFormatError(name, "no series found", "a label and the values of one series per line", line=number + 1)
    return Series(values, labels, sorted(set(labels)))


def read_series(path: str | Path) -> Series:
    """Labelled multichannel series from a UEA/UCR ``.ts`` file, or a CSV/TSV with the label first on each line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}; pass a UEA/UCR .ts file or a CSV/TSV with the label first.")
    text = decode_utf8(path.read_bytes(), str(path))
    if path.suffix.lower() == ".ts":
        return parse_ts(text, str(path))
    return parse_ucr(text, str(path), "\t" if path.suffix.lower() in (".tsv", ".txt") else ",")


def aeon_dataset(name: str) -> tuple[Series, Series]:
    """Train and test splits of a problem bundled with aeon (``aeon/datasets/data/<name>/``)."""
    hint = "Pass --data TRAIN.ts --test TEST.ts to use your own files."
    archive = pypi_archive(*AEON, hint=hint)
    files = archive_files(archive, f"aeon/datasets/data/{name}/{name}_T*.ts")
    members = [f"aeon/datasets/data/{name}/{name}_{split}.ts" for split in ("TRAIN", "TEST")]
    if any(member not in files for member in members):
        known = sorted({m.split("/")[3] for m in archive_files(archive, "aeon/datasets/data/*/*_TRAIN.ts")})
        raise ValueError(f"recipe gesture: aeon has no data set {name!r}; available: {', '.join(known)}. {hint}")
    train, test = (parse_ts(files[m].decode("utf-8", errors="replace"), f"{archive.name}:{m}") for m in members)
    return train, test


def standardise(values: list[Tensor], mean: Tensor, std: Tensor) -> list[Tensor]:
    """(x - mean) / std per channel; missing values (NaN) become 0, the channel mean."""
    return [torch.nan_to_num((v - mean) / std, nan=0.0) for v in values]


def read_splits(dataset: str, data: str | None, test: str | None) -> tuple[Series, Series]:
    """The train and test series: your files (``data`` and ``test``) or the bundled UEA problem ``dataset``."""
    if data is not None:
        if test is None:
            raise ValueError("recipe gesture: --data needs --test too (UEA/UCR problems come as TRAIN and TEST files).")
        return read_series(data), read_series(test)
    return aeon_dataset(dataset)
