"""The text classifier ``sentiment`` and ``spam`` share: words -> embeddings -> (bi)LSTM ->
pooled -> class. The two recipes differ only in where the texts come from and what
``rnnkit predict`` takes.

    tokens = tokenize(text)[:max_len]             # lower-cased words and punctuation
    ids = vocab.encode(tokens)                    # words seen < min_freq times -> <unk>
    logits, loss = ManyToOne(ids, labels, lengths)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.recipes import classify
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.text import TokenVocab, tokenize
from rnnkit.utils.config import option


@dataclass(frozen=True)
class TextClassifierConfig(RecipeConfig):
    """Data, model and training settings of a text classification recipe."""

    data: str | None = option(None, "your own CSV/TSV (header row) instead of the default corpus")
    text_column: str = option("text", "column with the text in --data")
    label_column: str = option("label", "column with the label in --data")
    dev_fraction: float = option(0.1, "fraction held out for early stopping")  # the usual 80/10/10
    test_fraction: float = option(0.1, "fraction held out for the final test")
    split_seed: int = option(1234, "seed of the train/dev/test split")  # fixed so runs compare
    min_freq: int = option(2, "words seen fewer times in training become <unk>")  # singletons teach little
    max_len: int = option(60, "tokens kept per text")
    embedding_size: int = option(100, "word embedding size")
    hidden_size: int = option(100, "LSTM units per direction")
    num_layers: int = option(1, "stacked recurrent layers")
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])
    bidirectional: bool = option(True, "read the text both ways")  # words after a negation matter too
    # max: picks out the strongest cue anywhere
    pooling: str = option("max", "last, mean, max or attention", choices=["last", "mean", "max", "attention"])
    dropout: float = option(0.5, "dropout on embeddings and before the head")  # small data overfits fast
    batch_size: int = option(32, "texts per batch")


@dataclass
class TextData:
    """The three splits as id sequences with class ids, the vocabulary built on train, the class names."""

    train: classify.Labelled
    dev: classify.Labelled
    test: classify.Labelled
    vocab: TokenVocab
    classes: list[str]


C = TypeVar("C", bound=TextClassifierConfig)


def encode(texts: Sequence[str], vocab: TokenVocab, max_len: int) -> list[Tensor]:
    """Texts -> id tensors (T,), at least one token each (an empty text becomes a single <unk>)."""
    return [torch.tensor(vocab.encode(tokenize(t)[:max_len]) or [vocab.unk_id]) for t in texts]


def check_settings(name: str, config: TextClassifierConfig) -> None:
    """Refuse settings no run can use, before any data is read."""
    classify.check_fractions(name, {"--dev-fraction": config.dev_fraction, "--test-fraction": config.test_fraction},
                             whole="the texts")
    if config.max_len < 1:
        raise ValueError(f"{name}: --max-len must be at least 1 token per text, got {config.max_len}.")


def split_texts(name: str, config: TextClassifierConfig, texts: list[str], labels: list[str],
                extra_train: tuple[list[str], list[str]] | None = None) -> TextData:
    """Split, build the vocabulary on the training part, encode every split.

    ``extra_train`` (texts, labels) joins the training part only, never dev or test.
    """
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"{name}: need at least two classes, found {classes}; check --label-column.")
    fractions = [1 - config.dev_fraction - config.test_fraction, config.dev_fraction, config.test_fraction]
    train_idx, dev_idx, test_idx = classify.split(len(texts), fractions, config.split_seed)
    extra_texts, extra_labels = extra_train or ([], [])
    classify.check_splits(name, {"train": len(train_idx) + len(extra_texts), "dev": len(dev_idx),
                                 "test": len(test_idx)},
                          {"train": "lower --dev-fraction or --test-fraction", "dev": "raise --dev-fraction",
                           "test": "raise --test-fraction"})
    train_texts = [texts[i] for i in train_idx] + extra_texts
    train_labels = [labels[i] for i in train_idx] + extra_labels
    vocab = TokenVocab.build((tokenize(t)[: config.max_len] for t in train_texts), min_freq=config.min_freq)

    def labelled(xs: list[str], ys: list[str]) -> classify.Labelled:
        return classify.Labelled(encode(xs, vocab, config.max_len), [classes.index(y) for y in ys])

    data = TextData(labelled(train_texts, train_labels),
                    labelled([texts[i] for i in dev_idx], [labels[i] for i in dev_idx]),
                    labelled([texts[i] for i in test_idx], [labels[i] for i in test_idx]), vocab, classes)
    print(f"{name}: {len(data.train)} train ({len(extra_texts)} extra), {len(data.dev)} dev, {len(data.test)} test "
          f"texts; {len(vocab)} words; classes {classes}")
    return data


class TextClassifyRecipe(Recipe[C, TextData]):
    """What the text classifiers share: the model, batches, accuracy, prediction and old checkpoints."""

    monitor = "accuracy"

    def describe(self, data: TextData) -> Meta:
        return {"vocab": data.vocab.to_dict(), "classes": data.classes}

    def build_model(self, config: C, meta: Meta) -> nn.Module:
        return ManyToOne(ManyToOneConfig(
            num_outputs=len(meta["classes"]), vocab_size=len(meta["vocab"]["itos"]), input_size=config.embedding_size,
            hidden_size=config.hidden_size, num_layers=config.num_layers, cell=config.cell,
            bidirectional=config.bidirectional, dropout=config.dropout, pooling=config.pooling,
        ))

    def batches(self, config: C, data: TextData, epoch: int) -> Iterator[dict[str, Tensor]]:
        return classify.batches(data.train, config.batch_size, shuffle=True, seed=config.seed * 1000 + epoch)

    def evaluate(self, model: nn.Module, config: C, data: TextData, split: str) -> dict[str, float]:
        return {"accuracy": classify.accuracy(model, data.dev if split == "dev" else data.test)}

    @abstractmethod
    def texts(self, config: C, inputs: Sequence[str]) -> tuple[list[str], list[str]]:
        """(what the model reads, what to show) for each result of ``inputs`` (``rnnkit predict``: may read files)."""

    def text_of(self, config: C, text: str) -> str:
        """What the model reads, from one text a client sent (``rnnkit serve``: never a file path)."""
        return text

    def rankings(self, model: nn.Module, config: C, meta: Meta, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Every class with its probability, most likely first, for each of ``texts`` (already what the model reads)."""
        vocab = TokenVocab.from_dict(meta["vocab"])
        probs = classify.predict_proba(model, encode(texts, vocab, config.max_len))  # (N, C)
        return [classify.ranked(p, meta["classes"], top=len(meta["classes"])) for p in probs]

    def predict(self, model: nn.Module, config: C, meta: Meta, inputs: Sequence[str]) -> list[dict[str, Any]]:
        texts, shown = self.texts(config, inputs)
        if not texts:
            raise ValueError(f"predict {self.name}: give the inputs: {self.inputs}.")
        return [{"input": s, "label": ranking[0][0], "p": round(ranking[0][1], 6),
                 "ranking": [[name, round(p, 6)] for name, p in ranking]}
                for s, ranking in zip(shown, self.rankings(model, config, meta, texts), strict=True)]

    def show(self, result: dict[str, Any]) -> str:
        """"pos 0.912  neg 0.088<TAB>the text": the two most likely classes, then the input (cut at 80 characters)."""
        return classify.ranked_line(result["ranking"][:2], result["input"][:80])

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the pre-contract recipe: config, model_config, weights, vocab and classes side by side."""
        return self.upgraded(checkpoint, {"vocab": checkpoint["vocab"], "classes": list(checkpoint["classes"])})
