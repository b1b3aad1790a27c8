"""Reading users' files: one error that says where and what, and the small steps every reader shares.

Every reader of a data file (text corpora, CSV/TSV, CoNLL, ``.ts``, parallel text, ABC)
either returns what the file holds or raises ``DataFormatError`` naming the file, the line
(or, where lines mean nothing, the byte offset) and what was expected there:

    corpus.txt:3: byte 42 (0xff) is not valid UTF-8 (invalid start byte); expected UTF-8 text. Convert ...
    train.conll:17: 3 columns, but line 1 has 4: 'dog\\tNN\\tx'; expected 4 columns on every token line.

Lines are counted the way editors count them: ``\\n``, ``\\r\\n`` and a lone ``\\r`` each end
one; the other characters ``str.splitlines`` treats as breaks (form feed, U+2028, ...) do not.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_BREAK = re.compile(r"\r\n|\r|\n")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CSV_FIELD_LIMIT = 1 << 30  # a 1 GB field; the csv module's own default (128 KB) refuses long e-mails


class DataFormatError(ValueError):
    """A data file does not hold what its format requires.

    Attributes ``file``, ``line`` (1-based, or None), ``offset`` (byte, or None) and ``expected``;
    the message has all of them: ``"{file}:{line}: {found}; expected {expected}. {hint}"``.
    """

    def __init__(self, file: str, found: str, expected: str, *, line: int | None = None,
                 offset: int | None = None, hint: str = "") -> None:
        if line is None and offset is None:
            raise TypeError("DataFormatError: give the line or the byte offset where the problem is.")
        self.file, self.line, self.offset, self.expected = str(file), line, offset, expected
        where = f"{file}:{line}" if line is not None else f"{file}: byte {offset}"
        super().__init__(f"{where}: {found}; expected {expected}." + (f" {hint}" if hint else ""))


def line_of(raw: bytes, offset: int) -> int:
    """The 1-based line that byte ``offset`` of ``raw`` is on."""
    head = raw[:offset]
    return 1 + head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n")


def decode_utf8(raw: bytes, file: str, hint: str = "") -> str:
    """UTF-8 bytes -> text, without a leading byte-order mark; an undecodable byte is a DataFormatError."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        at = e.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)  # utf-8-sig counts from after the mark
        raise utf8_error(file, at, raw[at], e.reason, line_of(raw, at), raw[:2], hint) from None


def utf8_error(file: str, offset: int, byte: int, reason: str, line: int, start: bytes = b"",
               hint: str = "") -> DataFormatError:
    """The error for ``byte``, at ``offset`` on ``line``, that UTF-8 does not allow; ``start``: the file's first
    bytes."""
    if start[:2] in _UTF16_BOMS and offset <= 1:
        hint = "The file starts with a UTF-16 byte-order mark: save it as UTF-8. " + hint
    return DataFormatError(file, f"byte {offset} (0x{byte:02x}) is not valid UTF-8 ({reason})", "UTF-8 text",
                           line=line, hint=hint or "Convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`).")


def gunzip(raw: bytes, file: str) -> bytes:
    """The content of gzip bytes; a truncated or damaged archive is a DataFormatError."""
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(file, f"the gzip data is damaged or cut short ({e})", "a complete gzip file", offset=0,
                              hint="Download or compress it again.") from None


def split_lines(text: str) -> list[str]:
    """Lines without their breaks (``\\n``, ``\\r\\n`` or ``\\r``); a final break does not start another line."""
    lines = _BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_finite(cell: str, file: str, line: int, what: str) -> float:
    """A finite float from ``cell``; anything else (text, nan, inf) is a DataFormatError."""
    try:
        value = float(cell)
    except ValueError:
        raise DataFormatError(file, f"{what} {cell.strip()[:40]!r} is not a number", f"{what} as a finite number",
                              line=line) from None
    if not math.isfinite(value):
        raise DataFormatError(file, f"{what} is {cell.strip()!r}", f"{what} as a finite number", line=line)
    return value


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    old = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def csv_rows(text: str, file: str, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """(first line number, fields) of each CSV record, blank records included as ``[]``.

    A quoted field may span lines, so a record is numbered by the line it starts on. What the
    ``csv`` module cannot read is a DataFormatError naming the line.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    line = 0
    with _csv_field_limit(_CSV_FIELD_LIMIT):  # read all rows inside: the limit is process-wide
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return rows
            except csv.Error as e:
                raise DataFormatError(file, f"the CSV record cannot be read ({e})", "well-formed CSV fields",
                                      line=line + 1) from None
            first, line = line + 1, reader.line_num
            rows.append((first, row))


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A UTF-8 JSON file whose top level is an object (a settings file); anything else is a DataFormatError.

    NaN and Infinity, which Python's json accepts but JSON does not have, are refused too.
    """
    name = str(path)
    text = decode_utf8(Path(path).read_bytes(), name)
    expected = 'a JSON object such as {"hidden_size": 256}'
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise DataFormatError(name, f"this is not valid JSON ({e.msg}, column {e.colno})", expected,
                              line=e.lineno) from None
    except _Constant as e:
        line = text.count("\n", 0, max(text.find(e.args[0]), 0)) + 1
        raise DataFormatError(name, f"{e.args[0]} is not a JSON number", "finite numbers", line=line) from None
    if not isinstance(data, dict):
        raise DataFormatError(name, f"the file holds a JSON {type(data).__name__}", expected, line=1)
    return data


class _Constant(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _Constant(name)
