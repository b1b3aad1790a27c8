"""Named-entity recognition (aligned many-to-many, BIO tags): BiLSTM-CRF with character features.

Data: any CoNLL file with ``token<TAB>BIO-tag`` lines and a blank line between sentences,
given with ``--data`` (and ``--dev``/``--test``; without them a tenth each is held out).
WNUT 2017 (emerging entities in social media; Derczynski et al., 2017, CC BY 4.0) is the
reference set: ``wnut17train.conll``, ``emerging.dev.conll``, ``emerging.test.annotated``.
``--no-crf`` gives the plain BiLSTM with a softmax per token, ``--no-chars`` drops the
character CNN.

Metric: entity-level precision, recall and F1 with exact span match (``rnnkit.tasks.seqeval``,
the conlleval/seqeval definition). The WNUT 2017 shared-task systems scored 26-42 F1, most
with pretrained embeddings or gazetteers; this recipe learns from the 3,394 training
sentences alone: measured 30.7 F1 on the dev set but 18.5 on the test set, whose entities
are deliberately unseen ones (docs/results.md).

    rnnkit recipe ner --data wnut17/train.conll --dev wnut17/dev.conll --test wnut17/test.conll
    rnnkit predict runs/ner "Going to see Arcade Fire in Toronto with Sarah"
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from rnnkit.tasks import tagging
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args


@dataclass(frozen=True)
class NerConfig(tagging.TaggingConfig):
    """NER: settings (defaults sized for WNUT 2017)."""

    crf: bool = field(default=True, metadata={"help": "decode with a linear-chain CRF (--no-crf: softmax per token)"})  # spans stay well-formed
    min_freq: int = field(default=1, metadata={"help": "words seen fewer times in training become <unk>"})  # small data: keep every word
    epochs: int = field(default=20, metadata={"help": "passes over the training set (at most)"})
    patience: int = field(default=4, metadata={"help": "stop after this many epochs without a better validation metric"})  # dev F1 is noisy
    max_minutes: float | None = field(default=9.0, metadata={"help": "stop after this much wall time (checked after each step)"})
    lr: float = field(default=2e-3, metadata={"help": "Adam learning rate"})
    batch_size: int = field(default=16, metadata={"help": "sentences per batch"})  # more updates per epoch on small data
    out: str = field(default="runs/ner", metadata={"help": "directory for best.pt, last.pt and results.json"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the recipe's flags (NerConfig) to ``parser``."""
    add_dataclass_flags(parser, NerConfig)


def run(args: argparse.Namespace) -> int:
    """``rnnkit recipe ner``: read the CoNLL files, train the BiLSTM-CRF tagger, report entity F1; returns the exit code."""
    cfg = dataclass_from_args(NerConfig, args)
    if cfg.data is None:
        raise ValueError(
            "recipe ner: no corpus ships with a package manager; pass --data TRAIN.conll (token<TAB>BIO tag per line), "
            "and optionally --dev and --test, e.g. the WNUT 2017 files."
        )
    sentences = tagging.read_conll(cfg.data, cfg.tag_column)
    bad = sorted({t for s in sentences for t in s.tags if t != "O" and t[:2] not in ("B-", "I-")})
    if bad:
        raise ValueError(f"recipe ner: {cfg.data} has tags that are not BIO: {bad[:5]}; expected O, B-TYPE, I-TYPE.")
    train, dev, test = tagging.split_data(cfg, sentences)
    return tagging.run("ner", cfg, train, dev, test, bio=True)


def predict(checkpoint: dict[str, Any], inputs: list[str], args: argparse.Namespace) -> int:
    """Each input is a sentence, a .txt file (one sentence per line) or a CoNLL file."""
    return tagging.predict(checkpoint, inputs)
