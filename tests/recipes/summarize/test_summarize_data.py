"""The man-page reader: NAME and DESCRIPTION of hand-written pages, escapes, .so pointers, errors naming the file,
and the corpus bookkeeping (pointers dropped, pages without NAME skipped and counted, a seeded split)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from support import fetched

from rnnkit.recipes.summarize import data as sd
from rnnkit.recipes.summarize import roff
from rnnkit.utils.reading import DataFormatError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "summarize"
QUILL = FIXTURES / "quill.1"


def test_name_line_and_description_of_a_page():
    page = roff.parse_page(QUILL.read_text(), "quill.1")
    assert page.names == ["quill", "quillc"]
    assert page.summary == "sharpen a feather into a pen"
    paragraphs = page.description.split("\n\n")
    # font macros joined (.BR without a space), font escapes and comments gone, quotes and dashes printed
    assert paragraphs[0] == ("quill trims each feather to a point. It reads quill.conf first; see quillrc(5) for the "
                             "format.")
    assert paragraphs[1] == ("Options such as --angle set the cut ('steep' or \"flat\"), and the default is \\30 "
                             "degrees— a safe choice.")
    assert paragraphs[2] == "-n, --dry-run Show the cut, do not make it."
    # the table before it dropped, the backslash-newline joined
    assert paragraphs[3] == "A long line is continued here."
    assert paragraphs[4] == "The pen holds no ink."  # a .SS heading ends a paragraph; its title is not text
    assert len(paragraphs) == 5  # SEE ALSO is another section


@pytest.mark.parametrize(("line", "text"), [
    (r"\fBbold\fR and \fIitalic\fP", "bold and italic"),
    (r"\f(CWmono\f[]", "mono"),
    (r"a\-b \(em c \(aqd\(aq", "a-b — c 'd'"),
    (r"\[lq]quoted\[rq] \(bu dot", '"quoted"  dot'),
    (r"back\eslash and \\ too", "back\\slash and \\ too"),
    (r"zero\&width \s-1small\s0 \*(lqstring", "zerowidth small string"),
    (r"no\ break\~here", "no break here"),
])
def test_escapes_print_what_they_stand_for(line: str, text: str):
    assert roff.unescape(line) == text


def test_request_arguments_keep_quoted_blanks():
    assert roff._arguments('one "two three" "say ""hi""" four') == ["one", "two three", 'say "hi"', "four"]


def test_name_section_with_the_heading_on_its_own_line_and_a_quoted_heading():
    page = roff.parse_page('.SH\nNAME\nlamp \\- give light\n.SH "DESCRIPTION"\nIt glows.\n', "lamp.1")
    assert (page.names, page.summary, page.description) == (["lamp"], "give light", "It glows.")


def test_a_pointer_page_is_recognised():
    assert roff.is_pointer((FIXTURES / "quillc.1").read_text())
    assert roff.is_pointer('.\\" comment first\n\n.so man3/other.3\n')
    assert not roff.is_pointer(QUILL.read_text())
    with pytest.raises(DataFormatError,
                       match=r"^quillc.1:1: a page that only points to another \(.so\); expected a man page with a "
                             r"'.SH NAME'"):
        roff.parse_page((FIXTURES / "quillc.1").read_text(), "quillc.1")


def test_missing_name_or_dash_or_description_is_an_error_naming_the_file():
    with pytest.raises(DataFormatError,
                       match=r"^nameless.7:1: no NAME section; expected a man page with a '.SH NAME' section"):
        roff.parse_page((FIXTURES / "nameless.7").read_text(), "nameless.7")
    with pytest.raises(DataFormatError,
                       match=r"^dashless.3:2: the NAME section reads 'dashless without any dash', with no ' - '"):
        roff.parse_page((FIXTURES / "dashless.3").read_text(), "dashless.3")
    with pytest.raises(DataFormatError, match=r"^x.1:1: no DESCRIPTION section"):
        roff.parse_page(".SH NAME\nx \\- y\n.SH SYNOPSIS\nx\n", "x.1")


def test_read_document_takes_roff_gzip_and_plain_text(tmp_path: Path):
    page = roff.parse_page(QUILL.read_text(), "quill.1")
    packed = tmp_path / "quill.1.gz"
    packed.write_bytes(gzip.compress(QUILL.read_bytes()))
    assert sd.read_document(QUILL) == page.description
    assert sd.read_document(packed) == page.description
    assert sd.read_document(FIXTURES / "lantern.txt") == (FIXTURES / "lantern.txt").read_text()
    nameless = str(FIXTURES / "nameless.7")
    with pytest.raises(DataFormatError, match=rf"^{re.escape(nameless)}:1: no NAME section"):
        sd.read_document(nameless)
    with pytest.raises(FileNotFoundError, match=r"no file nowhere.1; give a man page"):
        sd.read_document("nowhere.1")
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(DataFormatError, match=r"empty.txt:1: the file is empty"):
        sd.read_document(tmp_path / "empty.txt")


def test_corpus_drops_pointers_and_counts_the_pages_it_skips():
    files = {p.name: p.read_bytes() for p in FIXTURES.iterdir() if p.suffix != ".txt"}
    files["quill.1.gz"] = gzip.compress(files["quill.1"])
    corpus = sd.read_pages(files)
    assert [(p.page, p.summary) for p in corpus.pairs] == [("quill.1", "sharpen a feather into a pen"),
                                                           ("quill.1.gz", "sharpen a feather into a pen")]
    assert corpus.pointers == ["quillc.1"]
    assert sorted(corpus.skipped) == ["dashless.3", "nameless.7"]
    assert corpus.skipped["nameless.7"].startswith("nameless.7:1: no NAME section")


def test_split_is_seeded_and_covers_every_page_once():
    pairs = [sd.Pair(f"p{i}", f"d{i}", f"s{i}") for i in range(50)]
    parts = sd.split(pairs, seed=3)
    assert [len(parts[k]) for k in ("train", "dev", "test")] == [40, 5, 5]
    assert sorted(p.page for part in parts.values() for p in part) == sorted(p.page for p in pairs)
    assert parts == sd.split(pairs, seed=3)
    assert parts != sd.split(pairs, seed=4)
    with pytest.raises(ValueError, match=r"2 page\(s\) are too few"):
        sd.split(pairs[:2], seed=0)


@pytest.mark.slow
def test_the_debian_corpus():
    corpus = fetched(sd.load_debian, "the Debian packages")
    assert len(corpus.pairs) > 1000
    by_page = {p.page.rsplit("/", 1)[-1]: p for p in corpus.pairs}
    assert by_page["access.2.gz"].summary == "check user's permissions for a file"
    assert by_page["access.2.gz"].description.startswith("access() checks whether the calling process can access the "
                                                         "file pathname.")
    assert len(corpus.pointers) > 0


def test_an_mdoc_page_gives_its_name_line_too():
    source = (".Dd December 1, 2026\n.Dt LAMP 1\n.Sh NAME\n.Nm lamp\n.Nd give light\n.Sh DESCRIPTION\nThe\n.Nm "
              "lamp\nutility glows; see\n.Xr candle 1 .\n")
    page = roff.parse_page(source, "lamp.1")
    assert (page.names, page.summary) == (["lamp"], "give light")
    assert page.description == "The lamp utility glows; see candle 1 ."
