"""The summarisation pairs: each manual page's DESCRIPTION in, its NAME line's summary out.

The pages come from Debian's ``manpages`` (sections 1, 4-8: commands, files, conventions) and
``manpages-dev`` (sections 2-3: system calls and library functions), fetched with ``apt-get
download`` into rnnkit's cache and read straight out of the .deb, or from a folder of your own
pages (``--pages``). A page that only points to another (``.so``) has no text of its own and is
dropped; a page without NAME or DESCRIPTION is skipped and counted (the corpus has two). Aliases
installed as symbolic links are not regular files in the package and are never read, so no page
appears twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from rnnkit.recipes.data_cache import archive_files, debian_archive
from rnnkit.recipes.summarize import roff
from rnnkit.utils.reading import DataFormatError, decode_utf8, gunzip

PACKAGES = ("manpages", "manpages-dev")
HINT = ("The man-page corpus comes from Debian: run `apt-get update`, then `apt-get download manpages manpages-dev`, "
        "or pass --pages FOLDER.")


@dataclass(frozen=True)
class Pair:
    """One page: where it came from, its DESCRIPTION (the source) and its NAME summary (the target)."""

    page: str  # the file, e.g. ./usr/share/man/man1/ls.1.gz
    description: str
    summary: str


@dataclass
class Corpus:
    """The pairs read, and what was left out and why."""

    pairs: list[Pair]
    pointers: list[str] = field(default_factory=list)  # pages that only point to another (.so)
    skipped: dict[str, str] = field(default_factory=dict)  # page -> why it was skipped (no NAME, no DESCRIPTION)


def page_text(raw: bytes, file: str) -> str:
    """The roff source in ``raw`` (gzip-compressed if it starts with gzip's magic bytes)."""
    if raw[:2] == b"\x1f\x8b":
        raw = gunzip(raw, file)
    try:
        return decode_utf8(raw, file)
    except DataFormatError:
        return raw.decode("latin-1")  # a few old pages are Latin-1; every byte is a character there


def read_pages(files: dict[str, bytes]) -> Corpus:
    """Pairs from man pages (file name -> raw bytes), in file-name order; pointers and unparseable pages are counted."""
    corpus = Corpus([])
    for name in sorted(files):
        source = page_text(files[name], name)
        if roff.is_pointer(source):
            corpus.pointers.append(name)
            continue
        try:
            page = roff.parse_page(source, name)
        except DataFormatError as e:
            corpus.skipped[name] = str(e)
            continue
        corpus.pairs.append(Pair(name, page.description, page.summary))
    return corpus


def load_debian() -> Corpus:
    """Every page of the two Debian packages (fetched into the cache on first use)."""
    files: dict[str, bytes] = {}
    for package in PACKAGES:
        deb = debian_archive(package, HINT)
        files.update({k: v for k, v in archive_files(deb, "*/share/man/man*/*").items() if "/share/man/man" in k})
    if not files:
        raise FileNotFoundError(f"the packages {', '.join(PACKAGES)} hold no manual pages under usr/share/man. {HINT}")
    return read_pages(files)


def load_folder(folder: str | Path) -> Corpus:
    """Every file under ``folder`` (recursively) read as a man page."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"summarize: --pages {folder}: no such folder; give a folder of man pages (roff, .gz "
                                "or not).")
    files = {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    if not files:
        raise FileNotFoundError(f"summarize: --pages {folder} holds no files.")
    return read_pages(files)


def read_document(path: str | Path) -> str:
    """The text to summarise in a user's file: a man page's DESCRIPTION (roff, .gz or not), or a plain-text file as is.

    A file is taken as roff when a line starts with a man request (.TH, .SH or .so); such a page needs NAME and
    DESCRIPTION sections, and a DataFormatError names the file otherwise.
    """
    file = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"summarize: no file {file}; give a man page (roff, .gz ok) or a plain-text file.")
    text = page_text(Path(path).read_bytes(), file)
    if any(line.startswith((".TH", ".SH", ".so ", ".Dd", ".Sh")) for line in text.splitlines()):
        return roff.parse_page(text, file).description
    if not text.strip():
        raise DataFormatError(file, "the file is empty", "text to summarise", line=1)
    return text


def split(pairs: list[Pair], seed: int, fractions: tuple[float, float] = (0.8, 0.1)) -> dict[str, list[Pair]]:
    """Train / dev / test by a seeded shuffle (``fractions`` of train and dev; test is the rest)."""
    if len(pairs) < 3:
        raise ValueError(f"summarize: {len(pairs)} page(s) are too few to split into train, dev and test; give at "
                         "least 3.")
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed)).tolist()
    n_dev = max(1, round(fractions[1] * len(pairs)))
    n_train = min(max(1, round(fractions[0] * len(pairs))), len(pairs) - n_dev - 1)
    shuffled = [pairs[i] for i in order]
    return {"train": shuffled[:n_train], "dev": shuffled[n_train:n_train + n_dev], "test": shuffled[n_train + n_dev:]}
