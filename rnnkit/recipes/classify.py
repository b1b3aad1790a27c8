"""What the many-to-one recipes share: labelled sequences, batches, splits, accuracy,
rankings of the classes and labelled tables.

A data set is a ``Labelled``: a list of sequences (token ids (T,) or features (T, F)) and
one class id per sequence, with the class names kept beside it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.recipes.text import bucket_batches, pad_batch, pad_float
from rnnkit.utils.reading import DataFormatError, csv_rows, decode_utf8


@dataclass
class Labelled:
    """Sequences and their class ids: ``inputs[n]`` is (T_n,) long ids or (T_n, F) floats."""

    inputs: list[Tensor]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, index: Sequence[int]) -> Labelled:
        """The examples at ``index``, in that order, as a new Labelled."""
        return Labelled([self.inputs[i] for i in index], [self.labels[i] for i in index])


def collate(inputs: Sequence[Tensor], pad_id: int = 0) -> tuple[Tensor, Tensor]:
    """Pad a list of sequences: ids -> (B, T) long, features -> (B, T, F) float; plus lengths (B,)."""
    return pad_float(inputs) if inputs[0].is_floating_point() else pad_batch([s.tolist() for s in inputs], pad_id)


def batches(data: Labelled, batch_size: int, shuffle: bool, seed: int = 0) -> Iterator[dict[str, Tensor]]:
    """Length-bucketed batches as keyword arguments for ``ManyToOne.forward``."""
    g = torch.Generator().manual_seed(seed)
    for idx in bucket_batches([len(s) for s in data.inputs], batch_size, shuffle=shuffle, generator=g):
        x, lengths = collate([data.inputs[i] for i in idx])
        yield {"inputs": x, "targets": torch.tensor([data.labels[i] for i in idx]), "lengths": lengths}


def split(n: int, fractions: Sequence[float], seed: int) -> list[list[int]]:
    """Shuffle 0..n-1 with ``seed`` and cut it into parts of the given fractions (the last takes the rest)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    cuts = [0, *itertools.accumulate(round(f * n) for f in fractions[:-1]), None]
    return [order[start:stop] for start, stop in itertools.pairwise(cuts)]


def check_splits(recipe: str, sizes: Mapping[str, int], fixes: Mapping[str, str]) -> None:
    """Refuse a split without examples, naming it, the size of each split and what to change (``fixes[split]``)."""
    for part, size in sizes.items():
        if size < 1:
            shown = ", ".join(f"{name} {n}" for name, n in sizes.items())
            raise ValueError(f"{recipe}: the {part} split is empty ({shown} of {sum(sizes.values())} examples); give "
                             f"more data or {fixes[part]}.")


def check_fractions(recipe: str, fractions: Mapping[str, float], whole: str = "") -> None:
    """Refuse a split fraction (by its flag) outside (0, 1), and, given ``whole`` (what they are fractions of),
    fractions adding up to 1 or more, which leave nothing to train on."""
    for name, value in fractions.items():
        if not 0 < value < 1:
            raise ValueError(f"{recipe}: {name} must be between 0 and 1 (exclusive), got {value}.")
    if whole and sum(fractions.values()) >= 1:
        given = " + ".join(f"{name} {value}" for name, value in fractions.items())
        raise ValueError(f"{recipe}: {given} add up to {sum(fractions.values()):g}, leaving none of {whole} to train "
                         "on; lower them.")


@torch.no_grad()
def predict_proba(model: nn.Module, inputs: Sequence[Tensor], batch_size: int = 256) -> Tensor:
    """Class probabilities (N, C) for each sequence, in the order given."""
    was_training = model.training
    model.eval()
    out: list[Tensor] = [torch.empty(0)] * len(inputs)
    for idx in bucket_batches([len(s) for s in inputs], batch_size, shuffle=False):
        x, lengths = collate([inputs[i] for i in idx])
        logits, _ = model(x, lengths=lengths)  # (B, C)
        for row, i in zip(torch.softmax(logits, dim=1), idx, strict=True):
            out[i] = row
    model.train(was_training)
    return torch.stack(out)  # (N, C)


def accuracy(model: nn.Module, data: Labelled, batch_size: int = 256) -> float:
    """Share of ``data`` whose most probable class is the label."""
    pred = predict_proba(model, data.inputs, batch_size).argmax(1)
    return float((pred == torch.tensor(data.labels)).float().mean())


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95% with z = 1.96; Wilson, 1927), which stays
    inside [0, 1] and is honest at k = 0 or k = n, where p(1-p)/n is not:

        p = k/n,  centre = (p + z^2/2n) / (1 + z^2/n),  half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    """
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: need 0 <= successes <= n and n > 0, got {successes} of {n}.")
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / scale
    return max(0.0, centre - half), min(1.0, centre + half)


def ranked(probs: Tensor, classes: Sequence[str], top: int = 2) -> list[tuple[str, float]]:
    """The ``top`` most likely classes of one probability row (C,), most likely first."""
    values, ids = probs.topk(min(top, len(classes)))
    return [(classes[int(i)], float(v)) for v, i in zip(values, ids, strict=True)]


def ranked_line(ranking: Sequence[tuple[str, float]] | Sequence[Sequence[Any]], shown: str) -> str:
    """"7 0.951  1 0.032<TAB>what was classified": the ranking, then the input."""
    return "  ".join(f"{name} {float(p):.3f}" for name, p in ranking) + f"\t{shown}"


def read_table(path: str | Path, text_column: str, label_column: str | None) -> tuple[list[str], list[str], list[int]]:
    """Texts, labels and line numbers from a UTF-8 CSV/TSV with a header row naming the columns.

    ``label_column=None`` reads texts only (for prediction). The delimiter is a tab for
    ``.tsv``/``.tab`` files and a comma otherwise. Errors are DataFormatErrors naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}; pass a CSV/TSV with a header row and columns {text_column!r}, "
                                f"{label_column!r}.")
    name, tab = str(path), path.suffix.lower() in (".tsv", ".tab")
    rows = csv_rows(decode_utf8(path.read_bytes(), name), name, "\t" if tab else ",")
    wanted = [text_column] + ([label_column] if label_column is not None else [])
    if not rows:
        raise DataFormatError(name, "the file is empty", f"a header row with columns {wanted}", line=1)
    header = rows[0][1]
    missing = [c for c in wanted if c not in header]
    if missing:
        # without a label column the table is read for a trained model, whose text column is fixed by its training
        hint = ("Name them with --text-column/--label-column." if label_column is not None else
                f"The model was trained on a column named {text_column!r}; the file needs a column of that name.")
        raise DataFormatError(name, f"header {header} lacks column(s) {missing}", f"a header row with columns {wanted}",
                              line=1, hint=hint)
    ti = header.index(text_column)
    li = header.index(label_column) if label_column is not None else -1
    texts, labels, lines = [], [], []
    for first, row in rows[1:]:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataFormatError(name, f"expected {len(header)} fields like the header, got {len(row)}: {row[:4]}",
                                  f"{len(header)} fields {header}", line=first)
        if not row[ti].strip():
            raise DataFormatError(name, f"the {text_column!r} field is empty", "a text", line=first)
        if li >= 0 and not row[li].strip():
            raise DataFormatError(name, f"the {label_column!r} field is empty", "a label", line=first)
        texts.append(row[ti])
        labels.append(row[li].strip() if li >= 0 else "")
        lines.append(first)
    if not texts:
        raise DataFormatError(name, "no data rows after the header", "one row per text", line=rows[-1][0] + 1)
    return texts, labels, lines
