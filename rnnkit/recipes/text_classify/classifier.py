"""A text classifier recipe, shared by ``sentiment`` and ``spam``: words -> embeddings ->
(bi)LSTM -> pooled -> class. The two recipes differ only in where the texts come from.

    tokens = tokenize(text)[:max_len]             # lower-cased words and punctuation
    ids = vocab.encode(tokens)                    # words seen < min_freq times -> <unk>
    logits, loss = ManyToOne(ids, labels, lengths)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.recipes import classify
from rnnkit.recipes.classify import Labelled
from rnnkit.recipes.text import TokenVocab, tokenize
from rnnkit.recipes.training import TrainConfig
from rnnkit.utils.reading import decode_utf8, split_lines


@dataclass(frozen=True)
class TextClassifierConfig(TrainConfig):
    """Data, model and training settings of a text classification recipe."""

    data: str | None = field(default=None, metadata={"help": "your own CSV/TSV (header row) instead of the default corpus"})  # None: the recipe's corpus
    text_column: str = field(default="text", metadata={"help": "column with the text in --data"})
    label_column: str = field(default="label", metadata={"help": "column with the label in --data"})
    dev_fraction: float = field(default=0.1, metadata={"help": "fraction held out for early stopping"})  # the usual 80/10/10
    test_fraction: float = field(default=0.1, metadata={"help": "fraction held out for the final test"})
    split_seed: int = field(default=1234, metadata={"help": "seed of the train/dev/test split"})  # fixed so runs compare
    min_freq: int = field(default=2, metadata={"help": "words seen fewer times in training become <unk>"})  # singletons teach little
    max_len: int = field(default=60, metadata={"help": "tokens kept per text"})  # longer texts are cut
    embedding_size: int = field(default=100, metadata={"help": "word embedding size"})
    hidden_size: int = field(default=100, metadata={"help": "LSTM units per direction"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    cell: str = field(default="lstm", metadata={"help": "rnn, lstm or gru", "choices": ["rnn", "lstm", "gru"]})
    bidirectional: bool = field(default=True, metadata={"help": "read the text both ways"})  # words after a negation matter too
    pooling: str = field(default="max", metadata={"help": "last, mean, max or attention", "choices": ["last", "mean", "max", "attention"]})  # max: picks out the strongest cue anywhere
    dropout: float = field(default=0.5, metadata={"help": "dropout on embeddings and before the head"})  # small data overfits fast
    batch_size: int = field(default=32, metadata={"help": "texts per batch"})
    out: str = field(default="runs/text", metadata={"help": "directory for best.pt, last.pt and results.json"})


def encode(texts: Sequence[str], vocab: TokenVocab, max_len: int) -> list[torch.Tensor]:
    """Texts -> id tensors (T,), at least one token each (an empty text becomes a single <unk>)."""
    return [torch.tensor(vocab.encode(tokenize(t)[:max_len]) or [vocab.unk_id]) for t in texts]


def run(task: str, cfg: TextClassifierConfig, texts: list[str], labels: list[str],
        extra_train: tuple[list[str], list[str]] | None = None) -> int:
    """Split, build the vocabulary on the training part, train, test, save, summarise.

    ``extra_train`` (texts, labels) joins the training part only, never dev or test.
    """
    print(f"{task}: config {dataclasses.asdict(cfg)}")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"{task}: need at least two classes, found {classes}; check --label-column.")
    fractions = [1 - cfg.dev_fraction - cfg.test_fraction, cfg.dev_fraction, cfg.test_fraction]
    train_idx, dev_idx, test_idx = classify.split(len(texts), fractions, cfg.split_seed)
    extra_texts, extra_labels = extra_train or ([], [])
    train_texts = [texts[i] for i in train_idx] + extra_texts
    train_labels = [labels[i] for i in train_idx] + extra_labels
    vocab = TokenVocab.build((tokenize(t)[: cfg.max_len] for t in train_texts), min_freq=cfg.min_freq)

    def labelled(xs: list[str], ys: list[str]) -> Labelled:
        return Labelled(encode(xs, vocab, cfg.max_len), [classes.index(y) for y in ys])

    train_data = labelled(train_texts, train_labels)
    dev = labelled([texts[i] for i in dev_idx], [labels[i] for i in dev_idx])
    test = labelled([texts[i] for i in test_idx], [labels[i] for i in test_idx])
    print(f"{task}: {len(train_data)} train ({len(extra_texts)} extra), {len(dev)} dev, {len(test)} test texts; "
          f"{len(vocab)} words; classes {classes}")

    torch.manual_seed(cfg.seed)
    model_config = ManyToOneConfig(
        num_outputs=len(classes), vocab_size=len(vocab), input_size=cfg.embedding_size, hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers, cell=cfg.cell, bidirectional=cfg.bidirectional, dropout=cfg.dropout, pooling=cfg.pooling,
    )
    model = ManyToOne(model_config)

    def checkpoint(m: torch.nn.Module, info: dict[str, Any]) -> dict[str, Any]:
        return {"task": task, "config": dataclasses.asdict(cfg), "model_config": dataclasses.asdict(model_config),
                "model": m.state_dict(), "vocab": vocab.to_dict(), "classes": classes, **info}

    result = classify.train(model, train_data, dev, cfg, cfg.batch_size, checkpoint, cfg.out)
    metrics = {"test_accuracy": classify.accuracy(model, test), "dev_accuracy": classify.accuracy(model, dev)}
    classify.summarise(task, cfg.out, metrics, cfg, result)
    return 0


def load(checkpoint: dict[str, Any]) -> tuple[ManyToOne, TokenVocab, list[str], dict[str, Any]]:
    """The model (in eval mode), vocabulary, class names and recipe config of a checkpoint."""
    model = ManyToOne(ManyToOneConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, TokenVocab.from_dict(checkpoint["vocab"]), list(checkpoint["classes"]), checkpoint["config"]


def predict_texts(checkpoint: dict[str, Any], texts: Sequence[str], shown: Sequence[str] | None = None) -> torch.Tensor:
    """Print the predicted class and probability for each text; return the probabilities (N, C)."""
    model, vocab, classes, config = load(checkpoint)
    probs = classify.predict_proba(model, encode(texts, vocab, config["max_len"]))
    classify.print_predictions(probs, classes, [s[:80] for s in (shown or texts)])
    return probs


def expand_inputs(inputs: Sequence[str], text_column: str) -> list[str]:
    """Inputs as texts: a .csv/.tsv path gives its text column, a .txt path its lines, anything else is a text."""
    texts: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.suffix.lower() in (".csv", ".tsv", ".tab") and path.is_file():
            texts.extend(classify.read_table(path, text_column, None)[0])
        elif path.suffix.lower() == ".txt" and path.is_file():
            texts.extend(line for line in split_lines(decode_utf8(path.read_bytes(), str(path))) if line.strip())
        else:
            texts.append(item)
    return texts
