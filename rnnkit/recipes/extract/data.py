"""ACLSum (Takeshita et al., NAACL 2024): 250 ACL papers, each with three one-sentence summaries and
every sentence of its abstract, introduction and conclusion marked 0/1 as highlighted for each.

The data ships in the PyPI wheel of ``aclsum`` 0.1.2 (MIT) as ``aclsum/dataset/{train,val,test}.jsonl``
(100/50/100 papers), read straight out of the wheel. One JSON object per line::

    {"id": "P06-1112", "title": "...",
     "summary":    {"challenge": "...", "approach": "...", "outcome": "..."},
     "sentences":  {"abstract": ["...", ...], "introduction": [...], "conclusion": [...]},
     "highlights": {"challenge": {"abstract": [0, 1, ...], "introduction": [...], "conclusion": [...]}, ...}}

(``heuristic_highlights``, labels found automatically, and any other key are ignored.) A paper's
document is its sentences in the order abstract, introduction, conclusion, as the package's own
``get_all_sentences`` joins them; its labels per aspect follow the same order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.recipes.data_cache import archive_files, pypi_archive
from rnnkit.utils.reading import DataFormatError, decode_utf8, split_lines

ASPECTS = ("challenge", "approach", "outcome")
SECTIONS = ("abstract", "introduction", "conclusion")
PACKAGE, VERSION = "aclsum", "0.1.2"
FETCH = f"pip download --no-deps {PACKAGE}=={VERSION}"
FILES = {"train": "train.jsonl", "dev": "val.jsonl", "test": "test.jsonl"}  # our split name -> the package's file
COUNTS = {"train": 100, "dev": 50, "test": 100}
EXPECTED = "one JSON object per line with id, summary, sentences and highlights, as ACLSum's jsonl files"


@dataclass(frozen=True)
class Paper:
    """One paper: its sentences in document order, the section of each, a summary and 0/1 labels per aspect."""

    id: str
    title: str
    sentences: list[str]
    sections: list[str]  # the section each sentence is in
    summaries: dict[str, str]  # aspect -> the human summary (about one sentence)
    labels: dict[str, list[int]]  # aspect -> 0/1 per sentence (1: highlighted for this aspect)


def _mapping(value: Any, keys: tuple[str, ...], what: str, file: str, line: int) -> dict[str, Any]:
    """``value`` as an object with every one of ``keys``; anything else names what is missing."""
    if not isinstance(value, dict):
        raise DataFormatError(file, f"{what} is a JSON {type(value).__name__}",
                              f"an object with the keys {', '.join(keys)}", line=line)
    missing = [k for k in keys if k not in value]
    if missing:
        raise DataFormatError(file, f"{what} has no {', '.join(missing)}", f"an object with the keys {', '.join(keys)}",
                              line=line)
    return value


def parse_paper(obj: Any, file: str, line: int) -> Paper:
    """One line's object as a Paper; a missing key, a wrong type or labels that do not match the sentences
    raise a DataFormatError naming the file, the line and the field."""
    named = f"paper {obj['id']}: the line" if isinstance(obj, dict) and isinstance(obj.get("id"), str) else "the line"
    obj = _mapping(obj, ("id", "summary", "sentences", "highlights"), named, file, line)
    pid = obj["id"]
    if not isinstance(pid, str) or not pid:
        raise DataFormatError(file, f"id is {pid!r}", "a non-empty string such as \"P06-1112\"", line=line)
    where = f"paper {pid}:"
    summary = _mapping(obj["summary"], ASPECTS, f"{where} summary", file, line)
    for aspect in ASPECTS:
        if not isinstance(summary[aspect], str) or not summary[aspect].strip():
            raise DataFormatError(file, f"{where} summary.{aspect} is {summary[aspect]!r}", "a non-empty string",
                                  line=line)
    by_section = _mapping(obj["sentences"], SECTIONS, f"{where} sentences", file, line)
    sentences: list[str] = []
    sections: list[str] = []
    for section in SECTIONS:
        part = by_section[section]
        if not isinstance(part, list) or not all(isinstance(s, str) for s in part):
            raise DataFormatError(file, f"{where} sentences.{section} is not a list of strings", "a list of sentences",
                                  line=line)
        empty = [i for i, s in enumerate(part) if not s.strip()]
        if empty:
            raise DataFormatError(file, f"{where} sentences.{section}[{empty[0]}] is empty", "sentences with words",
                                  line=line)
        sentences += part
        sections += [section] * len(part)
    if not sentences:
        raise DataFormatError(file, f"{where} has no sentences",
                              "at least one sentence in abstract, introduction or conclusion", line=line)
    highlights = _mapping(obj["highlights"], ASPECTS, f"{where} highlights", file, line)
    labels: dict[str, list[int]] = {}
    for aspect in ASPECTS:
        per_section = _mapping(highlights[aspect], SECTIONS, f"{where} highlights.{aspect}", file, line)
        labels[aspect] = []
        for section in SECTIONS:
            marks, count = per_section[section], len(by_section[section])
            if not isinstance(marks, list) or len(marks) != count:
                got = f"{len(marks)} labels" if isinstance(marks, list) else f"a JSON {type(marks).__name__}"
                raise DataFormatError(file, f"{where} highlights.{aspect}.{section} has {got} for {count} sentences",
                                      "one 0/1 label per sentence of the section", line=line)
            bad = [m for m in marks if isinstance(m, bool) or m not in (0, 1)]
            if bad:
                raise DataFormatError(file, f"{where} highlights.{aspect}.{section} holds {bad[0]!r}", "labels 0 or 1",
                                      line=line)
            labels[aspect] += [int(m) for m in marks]
    title = obj.get("title", "")
    return Paper(pid, title if isinstance(title, str) else "", sentences, sections, {a: summary[a] for a in ASPECTS},
                 labels)


def read_papers(raw: bytes, file: str) -> list[Paper]:
    """Every paper of an ACLSum jsonl file's bytes (blank lines skipped; ids must be unique)."""
    papers: list[Paper] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(split_lines(decode_utf8(raw, file)), start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataFormatError(file, f"this line is not valid JSON ({e.msg}, column {e.colno})", EXPECTED,
                                  line=number) from None
        paper = parse_paper(obj, file, number)
        if paper.id in seen:
            raise DataFormatError(file, f"paper {paper.id} appears again (first on line {seen[paper.id]})",
                                  "each paper once", line=number)
        seen[paper.id] = number
        papers.append(paper)
    if not papers:
        raise DataFormatError(file, "the file holds no papers", EXPECTED, line=1)
    return papers


def read_file(path: str | Path) -> list[Paper]:
    """The papers of an ACLSum jsonl file on disk."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no file {path}; expected an ACLSum jsonl file ({EXPECTED}).")
    return read_papers(Path(path).read_bytes(), str(path))


def load_packaged() -> dict[str, list[Paper]]:
    """The three splits of ACLSum ("train", "dev", "test") from the aclsum wheel (fetched into the cache if needed)."""
    hint = (f"rnnkit reads ACLSum from the PyPI package {PACKAGE}=={VERSION}; run `{FETCH}` (with network) or pass "
            "--data DIR.")
    wheel = pypi_archive(PACKAGE, VERSION, hint)
    files = archive_files(wheel, "aclsum/dataset/*.jsonl")
    splits = {}
    for split, name in FILES.items():
        member = f"aclsum/dataset/{name}"
        if member not in files:
            raise FileNotFoundError(f"{wheel} has no {member}; delete it from the cache and fetch it again. {hint}")
        splits[split] = read_papers(files[member], f"{wheel.name}:{member}")
        if len(splits[split]) != COUNTS[split]:
            raise ValueError(f"{wheel.name}:{member} holds {len(splits[split])} papers, not ACLSum's {COUNTS[split]}; "
                             f"delete {wheel} and fetch it again. {hint}")
    return splits


def load_dir(folder: str | Path) -> dict[str, list[Paper]]:
    """The three splits from a directory holding train.jsonl, val.jsonl and test.jsonl in ACLSum's format."""
    return {split: read_file(Path(folder) / name) for split, name in FILES.items()}


# a sentence ends at . ! or ? followed by space and what can start a sentence, unless the word before is
# one of the abbreviations papers are full of ("et al. (2017)", "e.g. BLEU")
_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = ("al.", "e.g.", "i.e.", "fig.", "eq.", "cf.", "vs.", "etc.", "sec.", "tab.", "no.")


def split_sentences(text: str) -> list[str]:
    """A user's plain text as sentences: paragraphs at blank lines, lines inside a paragraph joined,
    then a cut after each sentence-ending mark (a heuristic: ACLSum's own sentences come split already)."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        joined = " ".join(paragraph.split())
        start = 0
        for cut in _END.finditer(joined):
            piece = joined[start : cut.end()].strip()
            if piece.split()[-1].lower().rstrip("\"')]") in _ABBREVIATIONS:
                continue
            sentences.append(piece)
            start = cut.end()
        if joined[start:].strip():
            sentences.append(joined[start:].strip())
    return sentences
