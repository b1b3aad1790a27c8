"""Every reader of a user's file either reads it or says exactly what is wrong (issue 15).

For each reader, Hypothesis writes valid files, then corrupts some of them (truncation, random
bytes, NUL bytes, a byte-order mark, mixed CR/CRLF/LF, an enormous line, an empty file, a missing
or extra delimiter, NaN/inf numbers, dropped or doubled lines, Latin-1 or UTF-16 encoding, gzip
damage, misaligned parallel files). A reference reading, written here from the format's rules and
independent of rnnkit's code, says what each file holds or that it is malformed. The property:

    reference reads R   ->  the reader returns R
    reference refuses   ->  the reader raises DataFormatError naming the file and a line (the
                            same line, where the reference knows it) or byte offset, and what
                            was expected there

Any other exception (KeyError, IndexError, UnicodeDecodeError, csv.Error, ...) fails the test, and
so does a case slower than the deadline. ``make test`` runs each reader on EXAMPLES["fast"]
derandomised cases (the same every run); ``make test-all`` adds EXAMPLES["thorough"] random ones.
The number of cases each reader was given is printed at the end of the module and checked.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import email.message
import gzip
import io
import json
import math
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.lm.data import load_corpus
from rnnkit.lm.vocab import CharVocab
from rnnkit.recipes import classify
from rnnkit.recipes.digits.data import read_pixels
from rnnkit.recipes.forecast.data import load_csv
from rnnkit.recipes.gesture.data import read_series
from rnnkit.recipes.music.data import load_abc
from rnnkit.recipes.tagging.data import read_conll
from rnnkit.recipes.text_classify import sentiment, spam
from rnnkit.recipes.translate.data import read_parallel, read_tsv
from rnnkit.utils.reading import DataFormatError, read_json_object

EXAMPLES = {"fast": 60, "thorough": 600}
PROFILES = [pytest.param("fast", id="fast"), pytest.param("thorough", id="thorough", marks=pytest.mark.slow)]
COUNTS: dict[tuple[str, str], Counter[str]] = {}
BIG = 200_000  # characters in an "enormous" line: beyond the csv module's default field limit (131,072)


# ---------------------------------------------------------------- the property and its bookkeeping


class Refused(NamedTuple):
    """The reference's verdict on a malformed file; ``line``/``file`` when it knows where."""

    why: str
    line: int | None = None
    file: str | None = None


def run_cases(reader: str, profile: str, strategy: st.SearchStrategy[Any],
              check: Callable[[Any, Counter[str]], None]) -> None:
    """Run ``check`` on ``EXAMPLES[profile]`` cases drawn from ``strategy``; count them."""
    counts = COUNTS.setdefault((reader, profile), Counter())
    before = counts["cases"]

    @settings(max_examples=EXAMPLES[profile], deadline=timedelta(seconds=10), derandomize=profile == "fast",
              database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                    HealthCheck.large_base_example, HealthCheck.filter_too_much])
    @given(strategy)
    def prop(case: Any) -> None:
        for kind in case["kind"].split(": ")[-1].split("+"):  # which corruptions the cases had (in the pytest cache)
            counts[f"kind {kind}"] += 1
        check(case, counts)

    prop()
    assert counts["cases"] - before >= EXAMPLES[profile], f"{reader}: only {counts['cases'] - before} cases ran"


def verdict(counts: Counter[str], read: Callable[[], Any], expected: Any, files: list[Path],
            same: Callable[[Any, Any], bool] = lambda a, b: a == b) -> None:
    """The property: the reader returns what the reference read, or raises DataFormatError where it refused."""
    counts["cases"] += 1
    try:
        got = read()
    except DataFormatError as e:
        counts["refused"] += 1
        message = str(e)
        assert e.file in [str(f) for f in files], f"the error names {e.file!r}, not one of the files read: {message}"
        if e.line is not None:
            assert e.line >= 1, message
            assert f"{e.file}:{e.line}: " in message, message
        else:
            assert e.offset is not None, message
            assert f"{e.file}: byte {e.offset}: " in message, message
        assert e.expected, message
        assert f"expected {e.expected}" in message, message
        assert isinstance(expected, Refused), f"the reader refused a file the reference reads: {message}"
        if expected.line is not None:
            assert e.line == expected.line, (f"the error is at line {e.line}, the reference says {expected.line}: "
                                             f"{message}")
        if expected.file is not None:
            assert e.file == expected.file, message
        return
    counts["read"] += 1
    assert not isinstance(expected,
                          Refused), f"the reader read a file the reference refuses ({expected}); got {got!r:.300}"
    assert same(got, expected), f"the reader returned {got!r:.400}, the reference {expected!r:.400}"


@contextlib.contextmanager
def files(**contents: bytes) -> Iterator[dict[str, Path]]:
    """Write each ``name=bytes`` (keyword: file name with '_' for '.') into a fresh directory."""
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for key, data in contents.items():
            path = Path(d) / key.replace("_", ".")
            path.write_bytes(data)
            paths[key] = path
        yield paths


# ---------------------------------------------------------------- corruptions


NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
BAD_NUMBERS = [b"nan", b"NaN", b"inf", b"-inf", b"Infinity", b"1e999", b"", b"?", b"1,5", b"0x1F", b"--1"]
KINDS = ["truncate", "random bytes", "NUL", "BOM", "line ends", "enormous line", "empty", "drop delimiter",
         "add delimiter", "number", "drop line", "double line", "latin-1", "UTF-16"]


@st.composite
def corrupted(draw: st.DrawFn, raw: bytes, delimiters: bytes = b",\t") -> tuple[str, bytes]:
    """``raw`` unchanged (about a third of the time) or after one or two corruptions; also their names."""
    if draw(st.integers(0, 2)) == 0:
        return "valid", raw
    names = []
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(KINDS))
        names.append(kind)
        raw = _corrupt(draw, kind, raw, delimiters)
    return "+".join(names), raw


def _corrupt(draw: st.DrawFn, kind: str, raw: bytes, delimiters: bytes) -> bytes:
    at = draw(st.integers(0, len(raw)))
    lines = raw.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "truncate":
        return raw[:at]
    if kind == "random bytes":
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    if kind == "NUL":
        return raw[:at] + b"\x00" * draw(st.integers(1, 3)) + raw[at:]
    if kind == "BOM":
        return codecs.BOM_UTF8 + raw
    if kind == "line ends":
        ends = [draw(st.sampled_from([b"\n", b"\r\n", b"\r"])) for _ in lines[:-1]]
        return b"".join(line + end for line, end in zip(lines[:-1], ends, strict=True)) + lines[-1]
    if kind == "enormous line":
        line = lines[i]
        if line and draw(st.booleans()):
            lines[i] = (line * (BIG // len(line) + 1))[: BIG + len(line)]  # the line repeated: many fields or values
        else:
            j = draw(st.integers(0, len(line)))
            fill = line[j : j + 1] if line[j : j + 1] not in (b"", b"\r") else b"x"
            lines[i] = line[:j] + fill * BIG + line[j:]  # one enormous field or number
        return b"\n".join(lines)
    if kind == "empty":
        return b""
    if kind in ("drop delimiter", "add delimiter"):
        spots = [k for k, b in enumerate(raw) if b in delimiters]
        if not spots:
            return raw
        k = draw(st.sampled_from(spots))
        return raw[:k] + (raw[k : k + 1] * 2 if kind == "add delimiter" else b"") + raw[k + 1 :]
    if kind == "number":
        numbers = list(NUMBER.finditer(raw))
        if not numbers:
            return raw
        m = draw(st.sampled_from(numbers))
        return raw[: m.start()] + draw(st.sampled_from(BAD_NUMBERS)) + raw[m.end() :]
    if kind == "drop line":
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if kind == "double line":
        return b"\n".join(lines[: i + 1] + lines[i:])
    text = raw.decode("utf-8", errors="replace")
    if kind == "latin-1":
        return text.encode("latin-1", errors="replace")
    return text.encode(draw(st.sampled_from(["utf-16", "utf-16-le"])))


# ---------------------------------------------------------------- the reference's shared steps


def ref_line_at(raw: bytes, offset: int) -> int:
    return raw[:offset].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


def ref_text(raw: bytes, errors: str = "strict") -> str | Refused:
    """UTF-8 with an optional byte-order mark; a bad byte is refused at its line."""
    skip = 3 if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[skip:].decode("utf-8", errors)
    except UnicodeDecodeError as e:
        return Refused("not UTF-8", ref_line_at(raw, skip + e.start))


def ref_lines(text: str) -> list[str]:
    """Lines ended by LF, CRLF or a lone CR, and nothing else."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def ref_csv(text: str, delimiter: str = ",") -> list[list[str]] | Refused:
    old = csv.field_size_limit(1 << 30)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as e:
        return Refused(f"csv: {e}")
    finally:
        csv.field_size_limit(old)


def ref_number(cell: str) -> float | None:
    """A finite number, or None."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


WORD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Z", "Cc")), min_size=1, max_size=8)
LINE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=30)
NUMBERS = st.one_of(st.integers(-1000, 1000).map(str), st.floats(-1e6, 1e6, allow_nan=False).map(repr),
                    st.floats(-100, 100, allow_nan=False).map(lambda v: f"{v:.3f}"))


# ---------------------------------------------------------------- text corpora (rnnkit.lm.data.load_corpus)


@st.composite
def corpus_cases(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=200))
    kind, raw = draw(corrupted(text.encode()))
    return {"kind": kind, "raw": raw, "original": text, "stream": draw(st.booleans()),
            "chunk": draw(st.sampled_from([1, 2, 3, 5, 64, 1 << 22])),
            "errors": draw(st.sampled_from(["strict", "strict", "replace", "ignore"])),
            "fixed_vocab": draw(st.booleans())}


def ref_corpus(raw: bytes, errors: str, vocab: CharVocab | None) -> tuple[list[str], str] | Refused:
    text = ref_text(raw, errors)
    if isinstance(text, Refused):
        return text
    if not text:
        return Refused("empty", 1)
    if vocab is not None:
        outside = [k for k, c in enumerate(text) if c not in vocab.chars]
        if outside:
            head = text[: outside[0]]
            return Refused("outside the vocabulary", head.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1)
        return vocab.chars, text
    return sorted(set(text)), text


def check_corpus(case: dict[str, Any], counts: Counter[str]) -> None:
    vocab = CharVocab(case["original"]) if case["fixed_vocab"] else None
    with files(corpus_txt=case["raw"]) as f:
        def read() -> tuple[list[str], str]:
            corpus = load_corpus(f["corpus_txt"], vocab, case["errors"], cache_dir=f["corpus_txt"].parent / "cache",
                                 stream=case["stream"], chunk_bytes=case["chunk"])
            return corpus.vocab.chars, corpus.vocab.decode(corpus.ids)

        verdict(counts, read, ref_corpus(case["raw"], case["errors"], vocab), [f["corpus_txt"]])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_text_corpus(profile: str) -> None:
    run_cases("text corpus (load_corpus, in memory and memory-mapped)", profile, corpus_cases(), check_corpus)


# ---------------------------------------------------------------- CSV/TSV tables (classify.read_table)


@st.composite
def table_cases(draw: st.DrawFn) -> dict[str, Any]:
    header = draw(st.permutations(["text", "label", *draw(st.sampled_from([[], ["id"], ["id", "source"]]))]))
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        text = draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
                            max_size=40).filter(str.strip))
        rows.append({"text": text, "label": draw(st.sampled_from(["pos", "neg", "ham"])),
                     "id": str(draw(st.integers(0, 99))), "source": draw(WORD)})
    suffix = draw(st.sampled_from(["csv", "tsv"]))
    out = io.StringIO()
    ending, minimal = draw(st.sampled_from([("\n", False), ("\r\n", False), ("\r\n", True)]))
    # (with QUOTE_MINIMAL the writer quotes only fields holding a character of the line ending,
    # so a lone CR in a text would be written bare after "\n" endings, and no reader can get it back)
    writer = csv.writer(out, delimiter="," if suffix == "csv" else "\t", lineterminator=ending,
                        quoting=csv.QUOTE_MINIMAL if minimal else csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows([[r[c] for c in header] for r in rows])
    kind, raw = draw(corrupted(out.getvalue().encode()))
    return {"kind": kind, "raw": raw, "suffix": suffix,
            "built": ([r["text"] for r in rows], [r["label"] for r in rows])}


def ref_table(raw: bytes, delimiter: str) -> tuple[list[str], list[str]] | Refused:
    text = ref_text(raw)
    if isinstance(text, Refused):
        return text
    rows = ref_csv(text, delimiter)
    if isinstance(rows, Refused):
        return rows
    if not rows or "text" not in rows[0] or "label" not in rows[0]:
        return Refused("no header with text and label", 1)
    header, texts, labels = rows[0], [], []
    for row in rows[1:]:
        if all(not cell.strip() for cell in row):
            continue
        fields = dict(zip(header, row, strict=False))
        if len(row) != len(header) or not fields["text"].strip() or not fields["label"].strip():
            return Refused("a bad row")
        texts.append(fields["text"])
        labels.append(fields["label"].strip())
    return (texts, labels) if texts else Refused("no rows")


def check_table(case: dict[str, Any], counts: Counter[str]) -> None:
    expected = ref_table(case["raw"], "," if case["suffix"] == "csv" else "\t")
    if case["kind"] == "valid":
        assert expected == case["built"]  # the reference reads what was written
    name = f"data_{case['suffix']}"
    with files(**{name: case["raw"]}) as f:
        verdict(counts, lambda: classify.read_table(f[name], "text", "label")[:2], expected, [f[name]])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_csv_table(profile: str) -> None:
    run_cases("CSV/TSV text table (classify.read_table: sentiment, spam)", profile, table_cases(), check_table)


# ---------------------------------------------------------------- Pang & Lee CSV (sentiment.parse_pang_lee)


@st.composite
def pang_lee_cases(draw: st.DrawFn) -> dict[str, Any]:
    rows = [(draw(st.sampled_from(["1", "-1"])), draw(st.text(min_size=1, max_size=30).filter(str.strip)))
            for _ in range(draw(st.integers(1, 5)))]
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    kind, raw = draw(corrupted(out.getvalue().encode()))
    return {"kind": kind, "raw": raw}


def ref_pang_lee(raw: bytes) -> tuple[list[str], list[str]] | Refused:
    rows = ref_csv(raw.decode("utf-8-sig", errors="replace"))  # the bundled corpus: stray bytes become U+FFFD
    if isinstance(rows, Refused):
        return rows
    texts, labels = [], []
    for row in rows:
        if not row:
            continue
        if len(row) != 2 or row[0].strip() not in ("1", "-1"):
            return Refused("not a polarity and a sentence")
        texts.append(row[1].strip())
        labels.append("positive" if row[0].strip() == "1" else "negative")
    return (texts, labels) if texts else Refused("no rows")


def check_pang_lee(case: dict[str, Any], counts: Counter[str]) -> None:
    verdict(counts, lambda: sentiment.parse_pang_lee(case["raw"], "polarity.csv"), ref_pang_lee(case["raw"]),
            [Path("polarity.csv")])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_pang_lee_csv(profile: str) -> None:
    run_cases("Pang & Lee polarity CSV (sentiment.parse_pang_lee)", profile, pang_lee_cases(), check_pang_lee)


# ---------------------------------------------------------------- pixel CSV (digits.read_pixels)


@st.composite
def pixel_cases(draw: st.DrawFn) -> dict[str, Any]:
    side = draw(st.integers(1, 4))
    images = [[draw(st.integers(0, 16)) for _ in range(side * side)] for _ in range(draw(st.integers(1, 5)))]
    labels = [draw(st.integers(0, 9)) for _ in images]
    fmt = draw(st.sampled_from(["{}", "{}.0", " {} "]))
    text = "".join(",".join(fmt.format(v) for v in [*img, y]) + "\n" for img, y in zip(images, labels, strict=True))
    kind, raw = draw(corrupted(text.encode()))
    if draw(st.booleans()):
        zipped = gzip.compress(raw, mtime=0)
        if draw(st.booleans()):  # damage the archive itself
            cut = draw(st.integers(2, len(zipped)))
            zipped, kind = zipped[:cut] + zipped[cut + 1 :], kind + "+gzip damage"
        raw, kind = zipped, kind + "+gzip"
    return {"kind": kind, "raw": raw, "side": side, "built": (images, labels)}


def ref_pixels(raw: bytes) -> tuple[list[list[float]], list[int]] | Refused:
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except Exception as e:  # whatever gzip raises, the file is damaged
            return Refused(f"gzip: {e}")
    text = ref_text(raw)
    if isinstance(text, Refused):
        return text
    images: list[list[float]] = []
    labels: list[int] = []
    for number, line in enumerate(ref_lines(text), start=1):
        if not line.strip():
            continue
        values = [ref_number(cell) for cell in line.strip().split(",")]
        if any(v is None for v in values):
            return Refused("not a finite number", number)
        *pixels, label = [v for v in values if v is not None]  # all of them, after the check above
        if label != int(label) or label < 0:
            return Refused("label", number)
        n = len(pixels)
        if n == 0 or math.isqrt(n) ** 2 != n or (images and n != len(images[0])):
            return Refused("not a square image like line 1", number)
        images.append(pixels)
        labels.append(int(label))
    return (images, labels) if images else Refused("no images")


def check_pixels(case: dict[str, Any], counts: Counter[str]) -> None:
    expected = ref_pixels(case["raw"])
    if case["kind"] in ("valid", "valid+gzip"):
        assert expected == case["built"]

    def same(got: tuple[torch.Tensor, list[int]], want: tuple[list[list[float]], list[int]]) -> bool:
        side = math.isqrt(len(want[0][0]))
        return got[1] == want[1] and torch.equal(got[0],
                                                 torch.tensor(want[0], dtype=torch.float32).reshape(-1, side, side))

    with files(pixels_csv=case["raw"]) as f:
        verdict(counts, lambda: read_pixels(f["pixels_csv"]), expected, [f["pixels_csv"]], same)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_pixel_csv(profile: str) -> None:
    run_cases("pixel CSV, plain or gzip (digits.read_pixels)", profile, pixel_cases(), check_pixels)


# ---------------------------------------------------------------- forecast series CSV (forecast_data.load_csv)


@st.composite
def series_cases(draw: st.DrawFn) -> dict[str, Any]:
    header = draw(st.sampled_from([["t", "value"], ["t", "value", "other"], ["value"]]))
    rows = []
    # 8 values at least, mostly
    for k in range(draw(st.one_of(st.integers(0, 7), st.integers(8, 14), st.integers(8, 14)))):
        value = draw(st.sampled_from(["", "NA", "nan", "null"]) if draw(st.integers(0, 9)) == 0 else NUMBERS)
        row = {"t": f"2020-{k + 1:02d}", "value": value, "other": draw(NUMBERS)}
        rows.append(",".join(row[c] for c in header))
    text = ",".join(header) + "\n" + "".join(r + "\n" for r in rows)
    kind, raw = draw(corrupted(text.encode()))
    return {"kind": kind, "raw": raw, "column": draw(st.sampled_from([None, "value"])),
            "fill": draw(st.sampled_from(["error", "interpolate"]))}


def ref_series(raw: bytes, column: str | None, fill: str) -> tuple[list[float], tuple[str, ...]] | Refused:
    text = ref_text(raw)
    if isinstance(text, Refused):
        return text
    rows = ref_csv(text)
    if isinstance(rows, Refused):
        return rows
    rows = [r for r in rows if r]  # blank lines
    if not rows:
        return Refused("empty")
    header = [h.strip() for h in rows[0]]
    name = header[-1] if column is None else column
    if name not in header:
        return Refused("no such column")
    j = header.index(name)
    values: list[float] = []
    labels: list[str] = []
    for row in rows[1:]:
        if len(row) != len(header):
            return Refused("a row with the wrong number of fields")
        cell = row[j].strip()
        labels.append(row[0].strip() if j else str(len(labels) + 1))
        value = math.nan if cell.lower() in ("", "na", "nan", "null") else ref_number(cell)
        if value is None:
            return Refused("not a finite number")
        values.append(value)
    known = [k for k, v in enumerate(values) if not math.isnan(v)]
    if len(known) < len(values) and fill == "error":
        return Refused("missing values")
    if len(values) < 8 or not known:
        return Refused("too short")
    for k, v in enumerate(values):  # linear between the nearest known neighbours; the ends held constant
        if math.isnan(v):
            left = max((i for i in known if i < k), default=None)
            right = min((i for i in known if i > k), default=None)
            if left is None or right is None:
                nearest = right if left is None else left
                assert nearest is not None  # known is not empty
                values[k] = values[nearest]
            else:
                values[k] = values[left] + (values[right] - values[left]) * (k - left) / (right - left)
    return values, tuple(labels)


def check_series(case: dict[str, Any], counts: Counter[str]) -> None:
    def same(got: Any, want: tuple[list[float], tuple[str, ...]]) -> bool:
        return got.labels == want[1] and np.allclose(got.values, want[0], rtol=1e-12, atol=0)

    with files(series_csv=case["raw"]) as f:
        verdict(counts, lambda: load_csv(f["series_csv"], case["column"], 1, case["fill"]),
                ref_series(case["raw"], case["column"], case["fill"]), [f["series_csv"]], same)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_forecast_csv(profile: str) -> None:
    run_cases("forecast series CSV (forecast_data.load_csv)", profile, series_cases(), check_series)


# ---------------------------------------------------------------- .ts and UCR series (gesture.read_series)


@st.composite
def ts_cases(draw: st.DrawFn) -> dict[str, Any]:
    classes = ["walk", "run", "rest"]
    channels = draw(st.integers(1, 3))
    suffix = draw(st.sampled_from(["ts", "ts", "csv", "tsv"]))
    if suffix != "ts":
        channels = 1
    cases = []
    for _ in range(draw(st.integers(1, 4))):
        length = draw(st.integers(1, 5))
        cases.append(([[draw(st.one_of(NUMBERS, NUMBERS, NUMBERS, st.just("?")) if suffix == "ts" else NUMBERS)
                        for _ in range(length)] for _ in range(channels)], draw(st.sampled_from(classes))))
    if suffix == "ts":
        head = ["# made by the fuzz test", "@problemName Fuzz", "@timeStamps false", "@missing true",
                f"@classLabel true {' '.join(classes)}", "@data"]
        lines = head + [":".join(",".join(ch) for ch in dims) + f":{label}" for dims, label in cases]
    else:
        sep = "," if suffix == "csv" else "\t"
        longest = max(len(dims[0]) for dims, _ in cases)
        lines = [sep.join([label, *dims[0]] + [""] * (longest - len(dims[0]))) for dims, label in cases]
    kind, raw = draw(corrupted(("\n".join(lines) + "\n").encode(), b",:\t"))
    return {"kind": kind, "raw": raw, "suffix": suffix}


def ref_value(cell: str) -> float | None:
    cell = cell.strip()
    return math.nan if cell == "?" or cell.lower() == "nan" else ref_number(cell) if cell else None


def ref_ts(text: str) -> tuple[list[list[list[float]]], list[str]] | Refused:
    classes: list[str] = []
    series: list[list[list[float]]] = []
    labels: list[str] = []
    in_data, has_labels = False, True
    for number, line in enumerate(ref_lines(text), start=1):
        line = line.strip()
        if not line or line[0] in "#%":
            continue
        if not in_data:
            key, _, rest = line.partition(" ")
            if key.lower() == "@data":
                in_data = True
            elif key.lower() == "@classlabel":
                words = rest.split()
                has_labels, classes = bool(words) and words[0].lower() == "true", words[1:]
            elif (key.lower() == "@timestamps" and rest.strip().lower() == "true") or not key.startswith("@"):
                return Refused("header", number)
            continue
        fields = line.split(":")
        label = fields.pop().strip() if has_labels else ""
        if has_labels and (not label or (classes and label not in classes)):
            return Refused("label", number)
        if not fields or any(not f.strip() for f in fields):
            return Refused("an empty channel", number)
        dims = [[ref_value(v) for v in f.split(",")] for f in fields]
        if any(v is None for d in dims for v in d):
            return Refused("a value", number)
        if (series and len(dims) != len(series[0][0])) or len({len(d) for d in dims}) != 1:
            return Refused("channels", number)
        series.append([list(step) for step in zip(*dims, strict=True)])  # (T, C)
        labels.append(label)
    return (series, labels) if series else Refused("no cases")


def ref_ucr(text: str, sep: str) -> tuple[list[list[list[float]]], list[str]] | Refused:
    series: list[list[list[float]]] = []
    labels: list[str] = []
    for number, line in enumerate(ref_lines(text), start=1):
        if not line.strip():
            continue
        cells = line.rstrip().split(sep)
        while cells and cells[-1].strip() in ("", "NaN", "nan"):
            cells.pop()
        if len(cells) < 2 or not cells[0].strip():
            return Refused("label and values", number)
        values = [ref_value(v) for v in cells[1:]]
        if any(v is None for v in values):
            return Refused("a value", number)
        series.append([[v] for v in values if v is not None])  # all of them, after the check above
        labels.append(cells[0].strip())
    return (series, labels) if series else Refused("no series")


def check_ts(case: dict[str, Any], counts: Counter[str]) -> None:
    text = ref_text(case["raw"])
    if isinstance(text, Refused):
        expected: Any = text
    else:
        expected = ref_ts(text) if case["suffix"] == "ts" else ref_ucr(text, "," if case["suffix"] == "csv" else "\t")

    def same(got: Any, want: tuple[list[list[list[float]]], list[str]]) -> bool:
        def equal(g: torch.Tensor, w: list[list[float]]) -> bool:
            return torch.equal(g.nan_to_num(12345.0), torch.tensor(w, dtype=torch.float32).nan_to_num(12345.0))

        return got.labels == want[1] and len(got.values) == len(want[0]) and all(
            equal(g, w) for g, w in zip(got.values, want[0], strict=True))

    name = f"series_{case['suffix']}"
    with files(**{name: case["raw"]}) as f:
        verdict(counts, lambda: read_series(f[name]), expected, [f[name]], same)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_ts_and_ucr_series(profile: str) -> None:
    run_cases(".ts and UCR CSV/TSV series (gesture.read_series)", profile, ts_cases(), check_ts)


# ---------------------------------------------------------------- CoNLL and CoNLL-U (tagging.read_conll)


TOKEN = WORD.filter(lambda w: not w.startswith(("#", "-DOCSTART-")))
TAGS = ["O", "B-PER", "I-PER", "NOUN", "VERB"]


@st.composite
def conll_cases(draw: st.DrawFn) -> dict[str, Any]:
    sentences = [[(draw(TOKEN), draw(st.sampled_from(TAGS))) for _ in range(draw(st.integers(1, 5)))]
                 for _ in range(draw(st.integers(1, 3)))]
    conllu = draw(st.booleans())
    sep = draw(st.sampled_from(["\t", " "]))
    middle = ["NNP", "I-NP"][: draw(st.integers(0, 2))]  # the same columns on every line of a file
    blocks = []
    for sentence in sentences:
        if conllu:
            lines = ["# sent_id = s", "# text = " + " ".join(t for t, _ in sentence)]
            for k, (token, tag) in enumerate(sentence, start=1):
                if k == 1 and draw(st.booleans()):
                    lines.append("1-2\tdont\t_\t_\t_\t_\t_\t_\t_\t_")  # a multi-word range: skipped
                lines.append(f"{k}\t{token}\t{token.lower()}\t{tag}\t_\t_\t0\troot\t_\t_")
        else:
            lines = [sep.join([token, *middle, tag]) for token, tag in sentence]
        blocks.append("\n".join(lines))
    text = ("-DOCSTART- -X- O O\n\n" if not conllu and draw(st.booleans()) else "") + "\n\n".join(blocks) + "\n"
    kind, raw = draw(corrupted(text.encode(), b"\t "))
    return {"kind": kind, "raw": raw, "built": [([t for t, _ in s], [g for _, g in s]) for s in sentences]}


def ref_conll(raw: bytes) -> list[tuple[list[str], list[str]]] | Refused:
    text = ref_text(raw)
    if isinstance(text, Refused):
        return text
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    width = None
    for number, line in enumerate(ref_lines(text), start=1):
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        if line[0] == "#" and not tokens and "\t" not in line and len(line.split()) != 2:
            continue  # a comment
        cols = line.split("\t") if "\t" in line else line.split()
        if cols[0].startswith("-DOCSTART-"):
            continue
        if len(cols) < 2 or (width is not None and len(cols) != width):
            return Refused("columns", number)
        width = len(cols)
        if width == 10 and cols[0].replace("-", "").replace(".", "").isdigit():  # CoNLL-U: ID, FORM, LEMMA, UPOS, ...
            if not cols[0].isdigit():
                continue  # a multi-word range or an empty node
            token, tag = cols[1], cols[3]
        else:
            token, tag = cols[0], cols[-1]
        if not token.strip() or not tag.strip():
            return Refused("empty token or tag", number)
        tokens.append(token.strip())
        tags.append(tag.strip())
    if tokens:
        sentences.append((tokens, tags))
    return sentences or Refused("no sentences")


def check_conll(case: dict[str, Any], counts: Counter[str]) -> None:
    expected = ref_conll(case["raw"])
    if case["kind"] == "valid":
        assert expected == case["built"]
    with files(data_conll=case["raw"]) as f:
        verdict(counts, lambda: [(s.tokens, s.tags) for s in read_conll(f["data_conll"])], expected, [f["data_conll"]])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_conll(profile: str) -> None:
    run_cases("CoNLL and CoNLL-U (tagging.read_conll: pos, ner)", profile, conll_cases(), check_conll)


# ---------------------------------------------------------------- parallel text and TSV (translate_data)


@st.composite
def parallel_cases(draw: st.DrawFn) -> dict[str, Any]:
    sentence = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\n\t"),
                       max_size=25)
    pairs = [(draw(sentence), draw(sentence)) for _ in range(draw(st.integers(1, 5)))]
    tsv = draw(st.booleans())
    if tsv:
        kind, raw = draw(corrupted("".join(f"{s}\t{t}\n" for s, t in pairs).encode(), b"\t"))
        return {"kind": kind, "tsv": True, "raw": raw, "gz": draw(st.booleans())}
    src, tgt = ("".join(line + "\n" for line in side).encode() for side in zip(*pairs, strict=True))
    which = draw(st.sampled_from(["source", "target"]))
    kind, bad = draw(corrupted(src if which == "source" else tgt))
    src, tgt = (bad, tgt) if which == "source" else (src, bad)
    return {"kind": f"{which}: {kind}", "tsv": False, "src": src, "tgt": tgt, "gz": draw(st.booleans())}


def ref_read_lines(raw: bytes, gz: bool) -> list[str] | Refused:
    if gz:
        try:
            raw = gzip.decompress(raw)
        except Exception as e:
            return Refused(f"gzip: {e}")
    text = ref_text(raw)
    return text if isinstance(text, Refused) else ref_lines(text)


def ref_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]] | Refused:
    kept = [(s.strip(), t.strip()) for s, t in pairs if s.strip() and t.strip()]
    return kept or Refused("no pairs")


def check_parallel(case: dict[str, Any], counts: Counter[str]) -> None:
    ext = "_gz" if case["gz"] else ""
    pack = (lambda b: gzip.compress(b, mtime=0)) if case["gz"] else (lambda b: b)
    if case["tsv"]:
        lines = ref_read_lines(pack(case["raw"]), case["gz"])
        expected: Any = lines
        if not isinstance(lines, Refused):
            rows = [(n, line.split("\t")) for n, line in enumerate(lines, start=1) if line.strip()]
            short = [n for n, cols in rows if len(cols) < 2]
            expected = Refused("no tab", short[0]) if short else ref_pairs([(cols[0], cols[1]) for _, cols in rows])
        with files(**{"pairs_tsv" + ext: pack(case["raw"])}) as f:
            path = f["pairs_tsv" + ext]
            verdict(counts, lambda: read_tsv(path), expected, [path])
        return
    with files(**{"pairs_de" + ext: pack(case["src"]), "pairs_en" + ext: pack(case["tgt"])}) as f:
        src, tgt = f["pairs_de" + ext], f["pairs_en" + ext]
        a, b = ref_read_lines(pack(case["src"]), case["gz"]), ref_read_lines(pack(case["tgt"]), case["gz"])
        if isinstance(a, Refused) or isinstance(b, Refused):
            expected = a if isinstance(a, Refused) else b
        elif len(a) != len(b):
            expected = Refused("misaligned", min(len(a), len(b)) + 1, str(tgt if len(b) < len(a) else src))
        else:
            expected = ref_pairs(list(zip(a, b, strict=True)))
        verdict(counts, lambda: read_parallel(src, tgt), expected, [src, tgt])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_parallel_text_and_tsv(profile: str) -> None:
    run_cases("parallel text and TSV, plain or gzip (translate_data)", profile, parallel_cases(), check_parallel)


# ---------------------------------------------------------------- ABC tunes (music_data.load_abc)


@st.composite
def abc_cases(draw: st.DrawFn) -> dict[str, Any]:
    tunes = []
    for n in range(1, draw(st.integers(1, 3)) + 1):
        head = [f"X:{n}", f"T:{draw(LINE_TEXT)}", f"M:{draw(st.sampled_from(['6/8', '4/4', 'C|']))}", "L:1/8",
                f"K:{draw(st.sampled_from(['G', 'D', 'Em', 'Ador', 'Bb']))}"]
        body = [draw(st.text("ABCDEFGabcdefg|:z2/ ", min_size=1,
                             max_size=20).filter(lambda s: s.strip() and not s.startswith("%")))
                             for _ in range(draw(st.integers(1, 3)))]
        tunes.append("\n".join(head + body))
    kind, raw = draw(corrupted(("\n\n".join(tunes)
                                + "\n").encode(draw(st.sampled_from(["utf-8", "latin-1"])), errors="replace"), b":|"))
    return {"kind": kind, "raw": raw}


def ref_abc(raw: bytes) -> list[tuple[str, str]] | Refused:
    try:
        text = raw[3:].decode("utf-8") if raw.startswith(codecs.BOM_UTF8) else raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # the documented fallback, applied to the whole file
    tunes: list[tuple[str, str]] = []
    current: tuple[dict[str, str], list[str]] | None = None
    for line in [*ref_lines(text), "X:end"]:
        if line.startswith("X:"):
            if current is not None:
                fields, body = current
                key = fields.get("K", "").split("%")[0].strip().split(" ")[0]
                if key and body:
                    meter, unit = fields.get("M", "4/4").replace(" ", ""), fields.get("L", "1/8").replace(" ", "")
                    tunes.append((key[:1].upper() + key[1:].lower(), f"M:{meter} L:{unit}\n" + "\n".join(body)))
            current = ({}, [])
            continue
        line = line.rstrip()
        if current is None or not line or line.startswith("%"):
            continue
        fields, body = current
        field = re.match(r"([A-Za-z]):\s*(.*)\Z", line)
        if "K" not in fields:
            if field:
                fields.setdefault(field[1], field[2].strip())
        elif not (field and field[1] in "TWwNZSBHRACDGOFI"):
            body.append(line)
    return tunes or Refused("no tunes")


def check_abc(case: dict[str, Any], counts: Counter[str]) -> None:
    with files(tunes_abc=case["raw"]) as f:
        verdict(counts, lambda: [(t.key, t.text) for t in load_abc(f["tunes_abc"])], ref_abc(case["raw"]),
                [f["tunes_abc"]])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_abc(profile: str) -> None:
    run_cases("ABC tunes (music_data.load_abc)", profile, abc_cases(), check_abc)


# ---------------------------------------------------------------- e-mail folders (spam.read_directory)


@st.composite
def email_cases(draw: st.DrawFn) -> dict[str, Any]:
    mails: list[tuple[str, bytes, str | None]] = []
    for label in ("ham", "spam"):
        for k in range(draw(st.integers(1, 2))):
            subject = draw(st.text("abcdefghijklmnopqrstuvwxyz WIN!", min_size=1,
                                   max_size=40).filter(str.strip)).strip()
            body = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
                                max_size=80).filter(str.strip))
            msg = email.message.EmailMessage()
            msg["Subject"] = subject
            msg.set_content(body)
            mails.append((f"{label}/{k}.eml", msg.as_bytes(), f"{subject}\n{body}".strip()))
    victim = draw(st.integers(0, len(mails) - 1))
    kind, raw = draw(corrupted(mails[victim][1], b":\n"))
    mails[victim] = (mails[victim][0], raw, mails[victim][2] if kind == "valid" else None)
    return {"kind": kind, "mails": mails}


def check_email(case: dict[str, Any], counts: Counter[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for name, raw, _ in case["mails"]:
            (root / name).parent.mkdir(exist_ok=True)
            (root / name).write_bytes(raw)
        texts, labels = spam.read_directory(root)  # an e-mail is any bytes: this reader never refuses one
        counts["cases"] += 1
        counts["read"] += 1
        assert labels == [name.split("/")[0] for name, _, _ in sorted(case["mails"])]
        assert all(isinstance(t, str) for t in texts)
        for text, (_, _, want) in zip(texts, sorted(case["mails"]), strict=True):
            if want is not None:  # the e-mails left alone read back as subject and body
                assert text.replace("\r\n", "\n") == want.replace("\r\n", "\n"), (text, want)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_email_folders(profile: str) -> None:
    run_cases("e-mail folders (spam.read_directory)", profile, email_cases(), check_email)


# ---------------------------------------------------------------- JSON settings (--config FILE.json)


@st.composite
def json_cases(draw: st.DrawFn) -> dict[str, Any]:
    value = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                      st.text(max_size=10), st.booleans(), st.none())
    settings_ = draw(st.dictionaries(st.text(min_size=1, max_size=10), value, max_size=5))
    text = json.dumps(settings_, indent=draw(st.sampled_from([None, 2])), ensure_ascii=draw(st.booleans()))
    kind, raw = draw(corrupted(text.encode(), b",:{}\""))
    return {"kind": kind, "raw": raw, "built": settings_}


def ref_json(raw: bytes) -> dict[str, Any] | Refused:
    text = ref_text(raw)
    if isinstance(text, Refused):
        return text

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        data = json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as e:
        return Refused("not JSON", e.lineno)
    except ValueError:
        return Refused("NaN or Infinity")
    return data if isinstance(data, dict) else Refused("not an object", 1)


def check_json(case: dict[str, Any], counts: Counter[str]) -> None:
    expected = ref_json(case["raw"])
    if case["kind"] == "valid":
        assert expected == case["built"]
    with files(settings_json=case["raw"]) as f:
        verdict(counts, lambda: read_json_object(f["settings_json"]), expected, [f["settings_json"]])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("profile", PROFILES)
def test_json_settings(profile: str) -> None:
    run_cases("JSON settings (--config, utils.reading.read_json_object)", profile, json_cases(), check_json)


# ---------------------------------------------------------------- the counts


@pytest.fixture(scope="module", autouse=True)
def report_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not COUNTS:
        return
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["", "reader fuzz cases (cases: read / refused with DataFormatError):"]
    for (reader, profile), c in sorted(COUNTS.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"  {profile:9s} {reader:62s} {c['cases']:5d}: {c['read']:5d} read / {c['refused']:5d} refused")
    if getattr(request.config, "cache", None) is not None:
        request.config.cache.set("rnnkit/reader_fuzz_counts", {f"{p}|{r}": dict(c) for (r, p), c in COUNTS.items()})
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown without -s
            for line in lines:
                reporter.write_line(line)
