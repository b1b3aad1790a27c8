"""The inputs the reader fuzzing (tests/utils/test_readers_fuzz.py) and its review turned up, one by one.

Each was a bare exception, a silently wrong reading or a lost record before rnnkit.utils.reading;
the comment says which. Now each reads correctly or raises DataFormatError at the right line.
"""

from __future__ import annotations

import argparse
import codecs
import dataclasses
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rnnkit.lm.data import load_corpus
from rnnkit.lm.vocab import CharVocab
from rnnkit.recipes import classify
from rnnkit.recipes.digits import data as digits
from rnnkit.recipes.forecast import data as forecast_data
from rnnkit.recipes.gesture import data as gesture
from rnnkit.recipes.music import data as music_data
from rnnkit.recipes.tagging import data as tagging
from rnnkit.recipes.text_classify import spam
from rnnkit.recipes.translate import data as translate_data
from rnnkit.utils import config
from rnnkit.utils.reading import DataFormatError

TUNES = b"X:1\nT:a\nM:6/8\nL:1/8\nK:G\nGAB|\nX:2\nT:b\nK:D\nDEF|\n"
SERIES = b"t,v\n" + b"".join(b"%d,1\n" % k for k in range(10))


@dataclasses.dataclass(frozen=True)
class Settings:
    lr: float = 1.0


def _table(p: Path) -> Any:
    return classify.read_table(p, "text", "label")[:2]


def _conll(p: Path) -> Any:
    return [(s.tokens, s.tags) for s in tagging.read_conll(p)]


def _abc(p: Path) -> Any:
    return [(t.key, t.text) for t in music_data.load_abc(p)]


def _settings(p: Path) -> Any:
    return config.dataclass_from_args(Settings, argparse.Namespace(config=p))


# (name, file name, bytes, reader, (line, words in the message) of the error, or what it must read)
ERRORS: list[tuple[str, str, bytes, Callable[[Path], Any], int, str]] = [
    # a Latin-1 CSV was decoded with U+FFFD in place of the accents, silently
    ("csv latin-1", "a.csv", "text,label\ncafé crème,pos\n".encode("latin-1"), _table, 2,
     "byte 14 (0xe9) is not valid UTF-8"),
    # a UTF-16 file: before, a header of mojibake "lacks column(s)"
    ("csv utf-16", "b.csv", "text,label\nhello,pos\n".encode("utf-16"), _table, 1, "UTF-16 byte-order mark"),
    # an inf label: OverflowError from int(); a NaN label: "cannot convert float NaN to integer" without file or line
    ("pixels inf label", "p.csv", b"0,1,2,3,1\n0,1,2,3,inf\n", digits.read_pixels, 2, "value 5 is 'inf'"),
    ("pixels nan label", "p.csv", b"0,1,2,3,nan\n", digits.read_pixels, 1, "value 5 is 'nan'"),
    # a NaN pixel was read into the image
    ("pixels nan pixel", "p.csv", b"0,nan,2,3,1\n", digits.read_pixels, 1, "value 2 is 'nan'"),
    # a line with only a label made 0x0 images
    ("pixels no pixels", "p.csv", b"3\n4\n", digits.read_pixels, 1, "no pixels"),
    # a non-UTF-8 byte: a bare UnicodeDecodeError
    ("pixels latin-1", "p.csv", b"0,1,2,3,1\n\xe9", digits.read_pixels, 2, "byte 10 (0xe9)"),
    # a cut-short gzip file: a bare EOFError
    ("pixels bad gzip", "p.csv", gzip.compress(b"0,1,2,3,1\n")[:-5], digits.read_pixels, 0,
     "byte 0: the gzip data is damaged"),
    # an extra column (e.g. a thousands separator, "1,234.5") read the wrong field as the value, silently
    ("forecast extra column", "f.csv", b"t,v\n" + b"".join(b"%d,1,%d\n" % (k, k) for k in range(10)),
     forecast_data.load_csv, 2,
     "3 fields, but the header has 2"),
    # inf was taken as a missing value, and interpolated over with --fill interpolate
    ("forecast inf", "f.csv", b"t,v\n" + b"".join(b"%d,%s\n" % (k, b"inf" if k == 3 else b"1") for k in range(10)),
     lambda p: forecast_data.load_csv(p, fill="interpolate"), 5, "holds 'inf'"),
    # a file starting with a blank line: IndexError
    ("forecast blank first line", "f.csv", b"\nt,v\n1,2\n", forecast_data.load_csv, 4, "has 1 values; need at least 8"),
    ("forecast latin-1", "f.csv", b"t,v\n\xe9,1\n", forecast_data.load_csv, 2, "byte 4 (0xe9)"),
    # inf in a .ts series was read and then broke the standardisation (mean inf)
    ("ts inf", "x.ts", b"@classLabel true a b\n@data\n1,inf,3:a\n", gesture.read_series, 3, "a value is 'inf'"),
    # "1,,3": the empty value was dropped and the series silently one step shorter
    ("ts empty value", "x.ts", b"@classLabel true a b\n@data\n1,,3:a\n", gesture.read_series, 3, "a value is empty"),
    ("ts latin-1", "x.ts", b"@classLabel true\n@data\n1,2,3:caf\xe9\n", gesture.read_series, 3, "byte 32 (0xe9)"),
    # an empty label was a class of its own
    ("ucr empty label", "u.csv", b",1,2,3\n", gesture.read_series, 1, "a label and at least one value"),
    # CoNLL-2003 with a column missing: the chunk tag was read as the entity tag, silently
    ("conll missing column", "a.conll", b"EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-MISC\n", _conll, 3,
     "3 columns, but line 1 has 4"),
    # CoNLL-U with 9 columns: the ID was read as the token and MISC as the tag
    ("conllu 9 columns", "b.conllu", b"1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n2\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\n",
     _conll, 2,
     "9 columns, but line 1 has 10"),
    ("conll latin-1", "d.conll", b"caf\xe9\tO\n", _conll, 1, "byte 3 (0xe9)"),
    ("parallel latin-1", "s.de", b"gr\xfc\xdf gott\n", lambda p: translate_data.read_parallel(p, p.with_suffix(".en")),
     1, "byte 2 (0xfc)"),
    ("parallel bad gzip", "u.de.gz", gzip.compress(b"hallo\n")[:-4], translate_data.read_lines, 0,
     "the gzip data is damaged"),
    # an empty K: made a tune with the key "" (tonic_pitch_class("") fails later); now it is skipped like a missing K:
    ("abc empty key", "d.abc", b"X:1\nK:\nGAB|\n", _abc, 4, "1 without K: or notes"),
    # --config FILE.json: NaN was taken as a learning rate, a list or a number as the top level gave
    # "unknown setting(s) [1]" or a TypeError, and a syntax error had no file name
    ("json NaN", "c.json", b'{"lr": NaN}', _settings, 1, "NaN is not a JSON number"),
    ("json list", "d.json", b"[1]", _settings, 1, "the file holds a JSON list"),
    ("json number", "e.json", b"5", _settings, 1, "the file holds a JSON int"),
    ("json broken", "f.json", b'{\n"lr": 1,}', _settings, 2, "not valid JSON"),
    # a UTF-16 text corpus: now says what the file is
    ("corpus utf-16", "u16.txt", "abc".encode("utf-16"), load_corpus, 1, "UTF-16 byte-order mark"),
    # a character outside a checkpoint's vocabulary: now with the line of its first occurrence
    ("corpus outside vocabulary", "v.txt", b"abc\r\nab\rabz\n", lambda p: load_corpus(p, CharVocab("abc\r\n")), 3,
     "outside the model's vocabulary"),
]

READS: list[tuple[str, str, bytes, Callable[[Path], Any], Any]] = [
    # a CSV field over 131,072 characters (a long e-mail body): a bare csv.Error
    ("csv 200k field", "a.csv", b"text,label\n" + b"x" * 200_000 + b",pos\n", lambda p: len(_table(p)[0][0]), 200_000),
    # blank lines at the end of a series were read as two missing values
    ("forecast trailing blank lines", "f.csv", SERIES + b"\n\n", lambda p: forecast_data.load_csv(p).values.tolist(),
     [1.0] * 10),
    # a form feed inside a token split the line in two (str.splitlines), so the line was "missing its tag"
    ("conll form feed", "c.conll", b"a\x0cb\tO\nc\tO\n", _conll, [(["a\x0cb", "c"], ["O", "O"])]),
    # a byte-order mark became part of the first source sentence
    ("parallel BOM", "t.de", codecs.BOM_UTF8 + b"hallo\n", lambda p: translate_data.read_lines(p), ["hallo"]),
    # a byte-order mark (read as Latin-1 "ï»¿") hid the first X: line, and the first tune was lost
    ("abc BOM", "b.abc", codecs.BOM_UTF8 + TUNES, _abc, [("G", "M:6/8 L:1/8\nGAB|"), ("D", "M:4/4 L:1/8\nDEF|")]),
    # a UTF-8 file was read as Latin-1: "é" became "Ã©"
    ("abc utf-8", "c.abc", 'X:1\nK:G\n"Gé"GAB|\n'.encode(), _abc, [("G", 'M:4/4 L:1/8\n"Gé"GAB|')]),
    ("abc CR line ends", "a.abc", TUNES.replace(b"\n", b"\r"), _abc,
     [("G", "M:6/8 L:1/8\nGAB|"), ("D", "M:4/4 L:1/8\nDEF|")]),
    # a byte-order mark became a character of the vocabulary
    ("corpus BOM", "bom.txt", codecs.BOM_UTF8 + b"abc", lambda p: load_corpus(p).vocab.chars, ["a", "b", "c"]),
    ("corpus BOM streamed", "bom.txt", codecs.BOM_UTF8 + b"abc",
     lambda p: load_corpus(p, stream=True, cache_dir=p.parent, chunk_bytes=1).vocab.chars, ["a", "b", "c"]),
]


@pytest.mark.parametrize(("name", "file", "data", "read", "line", "words"), ERRORS, ids=[e[0] for e in ERRORS])
def test_malformed_input_is_a_data_format_error_at_its_line(tmp_path: Path, name: str, file: str, data: bytes,
                                                            read: Callable[[Path], Any], line: int, words: str) -> None:
    path = tmp_path / file
    path.write_bytes(data)
    path.with_suffix(".en").write_bytes(b"hello\n")  # the other side, for the parallel case
    with pytest.raises(DataFormatError) as info:
        read(path)
    e = info.value
    assert e.file == str(path)
    assert words in str(e)
    if line:
        assert e.line == line
        assert str(e).startswith(f"{path}:{line}: ")
    else:
        assert e.offset == 0
        assert str(e).startswith(f"{path}: byte 0: ")


@pytest.mark.parametrize(("name", "file", "data", "read", "expected"), READS, ids=[r[0] for r in READS])
def test_valid_input_reads_what_it_holds(tmp_path: Path, name: str, file: str, data: bytes, read: Callable[[Path], Any],
                                         expected: Any) -> None:
    path = tmp_path / file
    path.write_bytes(data)
    assert read(path) == expected


@pytest.mark.parametrize("charset", ["idna", "punycode", "undefined", "rot13", "no-such-charset"])
def test_an_e_mail_in_any_declared_charset_reads(charset: str) -> None:
    # idna and punycode raised UnicodeError (their decoders refuse errors="replace"), "undefined" too
    raw = f"Subject: hi\nContent-Type: text/plain; charset={charset}\n\nh\xe9llo\n".encode("latin-1")
    assert spam.email_text(raw) == "hi\nh\xe9llo"  # Latin-1, the fallback


def test_a_utf8_error_names_line_and_offset_across_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"ab\r\ncd\re\xc3\xa9\nf\xff")  # CRLF, lone CR, a two-byte character, then a bad byte at 12
    for chunk in (1, 2, 3, 4, 64):
        with pytest.raises(DataFormatError, match=r"t.txt:4: byte 12 \(0xff\)") as info:
            load_corpus(path, chunk_bytes=chunk)
        assert info.value.line == 4
