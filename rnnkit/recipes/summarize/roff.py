"""Manual pages (man(7) roff source) to plain text: the NAME line's summary and the DESCRIPTION section.

A page is a list of request lines (``.SH DESCRIPTION``, ``.BR ls (1)``, ``.PP``) and text lines,
with escapes inside both (``\\fBbold\\fR``, ``\\-``, ``\\(em``). What this reader keeps:

    .SH NAME          ls, dir \\- list directory contents     -> names ["ls", "dir"], summary "list directory contents"
    .SH DESCRIPTION   text lines and font macros (.B .I .BR ...), joined; paragraph requests
                      (.PP .TP .IP ...) end a paragraph; comments, conditionals, macro definitions,
                      tables (.TS/.TE) and equations are dropped; escapes become the characters
                      they print (\\- -> "-", \\(aq -> "'") or nothing (font changes, sizes, strings)
    .so man3/other.3  a page that only points to another: ``is_pointer`` (no summary of its own)

Requests and escapes beyond these (the whole of groff) are dropped rather than interpreted, which
loses little text on Linux man-pages: they use the man macros throughout. Of mdoc(7), the BSD macros,
only the headings (.Sh), the NAME line (.Nm, .Nd) and the common inline macros are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rnnkit.utils.reading import DataFormatError

# font macros: their arguments are text (the alternating ones, .BR etc., join them without spaces)
_FONT_JOINED = {"BR", "BI", "IB", "IR", "RB", "RI"}
_FONT_SPACED = {"B", "I", "SM", "SB"}
# requests that end a paragraph (a tag argument of .IP, usually a bullet, is dropped)
_BREAKS = {"PP", "P", "LP", "TP", "TQ", "IP", "HP", "RS", "RE", "br", "sp", "nf", "fi", "EX", "EE", "in", "ti", "SY",
           "YS"}
# blocks whose lines are not running text: from the opening request to the closing one
_BLOCKS = {"TS": "TE", "EQ": "EN", "PS": "PE", "ig": "..", "de": "..", "de1": "..", "am": ".."}

# \(xx and \[name] special characters that print something; any other prints nothing here
_SPECIAL = {
    "aq": "'", "dq": '"', "lq": '"', "rq": '"', "oq": "'", "cq": "'", "em": "—", "en": "–", "hy": "-", "mi": "-",
    "bu": "", "co": "(c)", "rg": "(R)", "tm": "(TM)", "rs": "\\", "ti": "~", "ha": "^", "mu": "x", "di": "/",
    "<=": "<=", ">=": ">=", "!=": "!=", "->": "->", "<-": "<-", "==": "==", "pl": "+", "eq": "=", "sl": "/",
    "ga": "`", "aa": "'", "at": "@", "sh": "#", "Do": "$", "lB": "[", "rB": "]", "lC": "{", "rC": "}",
    "la": "<", "ra": ">", "ba": "|", "or": "|", "ul": "_", "fo": "<<", "fc": ">>", "de": " degrees", "+-": "+/-",
}
_ESCAPE = re.compile(
    r"\\(?:"
    r"f(?:\[[^\]]*\]|\(..|.)"  # font change
    r"|s[-+]?(?:\d|\(\d\d|\[[^\]]*\])"  # size change
    r"|\*(?:\[[^\]]*\]|\(..|.)"  # string interpolation
    r"|n[-+]?(?:\[[^\]]*\]|\(..|.)"  # number register
    r"|\((..)|\[([^\]]*)\]"  # special characters: groups 1 and 2
    r"|[kwhvlLxXoDbZNACSHRYgVM]'[^']*'|[kgVMY](?:\(..|.)"  # motions, widths, marks and the like
    r"|(.)"  # any other one-character escape: group 3
    r")"
)
_ONE_CHAR = {"-": "-", "e": "\\", "\\": "\\", " ": " ", "~": " ", "0": " ", "t": " ", "'": "'", "`": "`", ".": ".",
             '"': ""}


@dataclass(frozen=True)
class ManPage:
    """What a page says about itself: its names, the NAME line's summary, and its DESCRIPTION as paragraphs."""

    names: list[str]  # the names before the dash of the NAME line, e.g. ["ls", "dir"]
    summary: str  # the NAME line after the dash, e.g. "list directory contents"
    description: str  # the DESCRIPTION section as plain text, paragraphs separated by blank lines


def unescape(text: str) -> str:
    """A line of roff with its escapes replaced by what they print: ``\\fBls\\fR \\- list`` -> ``ls - list``."""

    def one(m: re.Match[str]) -> str:
        special = m.group(1) or m.group(2)
        if special is not None:
            return _SPECIAL.get(special, "")
        char = m.group(3)
        return _ONE_CHAR.get(char, "") if char is not None else ""

    return _ESCAPE.sub(one, text)


def is_pointer(source: str) -> bool:
    """Whether the page only points to another (its first request, after comments, is ``.so``)."""
    for line in source.splitlines():
        if not line.strip() or _comment(line):
            continue
        return line.startswith((".so ", ".so\t"))
    return False


def parse_page(source: str, file: str) -> ManPage:
    """The names, summary and DESCRIPTION of a man page in roff; a page without them is a DataFormatError naming
    ``file``."""
    sections, heading_line = _sections(source)
    if "NAME" not in sections:
        found = "a page that only points to another (.so)" if is_pointer(source) else "no NAME section"
        raise DataFormatError(file, found,
                              "a man page with a '.SH NAME' section such as 'ls \\- list directory contents'", line=1,
                              hint="Give the page's roff source (man -w NAME shows where it is), or a plain-text file.")
    name_text = " ".join(p for p in sections["NAME"] if p).strip()
    names, dash, summary = _split_name(name_text)
    if not dash or not summary:
        raise DataFormatError(file, f"the NAME section reads {name_text[:80]!r}, with no ' - ' before a summary",
                              "'NAME[, NAME...] \\- what it does'", line=heading_line["NAME"])
    if "DESCRIPTION" not in sections or not any(sections["DESCRIPTION"]):
        raise DataFormatError(file, "no DESCRIPTION section (or an empty one)", "a '.SH DESCRIPTION' section with text",
                              line=1)
    return ManPage(names, summary, "\n\n".join(p for p in sections["DESCRIPTION"] if p))


def _comment(line: str) -> bool:
    return line.startswith(('.\\"', "'\\\"", ".\\#")) or line.rstrip() in (".", "'")


def _split_name(text: str) -> tuple[list[str], str, str]:
    """``"ls, dir - list directory contents"`` -> (["ls", "dir"], "-", "list directory contents")."""
    m = re.search(r"\s+-+\s+|\s+-+$", text) or re.search(r"-\s+", text)
    if m is None:
        return [], "", ""
    names = [n.strip() for n in text[: m.start()].split(",") if n.strip()]
    return names, "-", " ".join(text[m.end():].split())


def _arguments(rest: str) -> list[str]:
    """A request's arguments: separated by blanks; double quotes group blanks, and ``""`` inside them is one quote."""
    args, i, n = [], 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t":
            i += 1
        if i >= n:
            break
        if rest[i] == '"':
            i, word = i + 1, []
            while i < n:
                if rest[i] == '"':
                    if i + 1 < n and rest[i + 1] == '"':
                        word.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                word.append(rest[i])
                i += 1
            args.append("".join(word))
        else:
            j = i
            while j < n and rest[j] not in " \t":
                j += 1
            args.append(rest[i:j])
            i = j
    return args


def _logical_lines(source: str) -> list[tuple[int, str]]:
    """Lines with their (1-based) numbers, a line ending in a single backslash joined to the next, inline
    ``\\"`` comments cut off."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, line in enumerate(source.splitlines(), 1):
        if not pending:
            start = number
        joined = pending + line
        if joined.endswith("\\") and not joined.endswith("\\\\"):
            pending = joined[:-1]
            continue
        pending = ""
        cut = re.search(r'(?<!\\)\\"', joined)
        out.append((start, joined[: cut.start()] if cut and not _comment(joined) else joined))
    if pending:
        out.append((start, pending))
    return out


def _sections(source: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each section's paragraphs of plain text by its heading (upper case), and the line of each heading."""
    sections: dict[str, list[str]] = {}
    lines_of: dict[str, int] = {}
    current: list[str] | None = None
    words: list[str] = []
    closing: str | None = None
    want_heading = False

    def end_paragraph() -> None:
        if current is not None and words:
            current.append(" ".join(" ".join(words).split()))
        words.clear()

    for number, line in _logical_lines(source):
        if closing is not None:  # inside a table, equation, ignored block or macro definition
            if line.strip() == closing or line.startswith(closing + " "):
                closing = None
            continue
        if _comment(line):
            continue
        if line[:1] in (".", "'"):
            request, _, rest = line[1:].strip().partition(" ")
            request, rest = request.strip(), rest.strip()
            if "\t" in request:
                request, _, more = request.partition("\t")
                rest = (more + " " + rest).strip()
            if request in ("SH", "Sh"):
                end_paragraph()
                heading = " ".join(unescape(a) for a in _arguments(rest)).strip().upper()
                if not heading:
                    want_heading = True  # the heading is the next text line
                    current = None
                    continue
                current = sections.setdefault(heading, [])
                lines_of.setdefault(heading, number)
                continue
            if request in _BLOCKS:
                end_paragraph()
                closing = ".." if _BLOCKS[request] == ".." else "." + _BLOCKS[request]
                continue
            if request in _FONT_JOINED:
                words.append("".join(unescape(a) for a in _arguments(rest)))
            elif request in _FONT_SPACED:
                words.append(" ".join(unescape(a) for a in _arguments(rest)))
            elif request in _BREAKS or request == "SS":
                end_paragraph()
            elif request == "Nd":  # mdoc(7)'s NAME line: ".Nm ls" then ".Nd list directory contents"
                words.append("- " + " ".join(unescape(a) for a in _arguments(rest)))
            # mdoc text macros
            elif request in ("Nm", "Xr", "Fn", "Ar", "Fl", "Cm", "Pa", "Va", "Dv", "Er", "Ev", "Li", "Sy", "Em"):
                words.append(("-" if request == "Fl" else "") + " ".join(unescape(a) for a in _arguments(rest)))
            elif request in ("UR", "MT"):
                continue  # the address; the link text follows on text lines
            continue  # any other request (.TH, .if, .ad, .nh, .UE, ...) prints nothing we keep
        text = unescape(line)
        if want_heading:
            want_heading = False
            heading = text.strip().upper()
            current = sections.setdefault(heading, [])
            lines_of.setdefault(heading, number)
            continue
        if text.strip():
            words.append(text.strip())
        else:
            end_paragraph()  # a blank text line ends a paragraph, as in roff
    end_paragraph()
    return sections, lines_of
