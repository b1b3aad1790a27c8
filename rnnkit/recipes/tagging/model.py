"""What the tagging recipes (``pos``, ``ner``) share: CoNLL files, word features, the
tagger, training, token accuracy and entity F1, and printed predictions.

The tagger is ``rnnkit.models.ManyToMany`` (BiLSTM, optional CRF) over word features:

    w_t = [ E_word(lower(x_t)) ; case(x_t) ; CharCNN(chars of x_t) ]     (B, T, F)
    CharCNN(c_1..c_W) = max_k relu(conv1d(E_char(c))_k)                  (Ma & Hovy, 2016)

The word embedding sees lower-cased words with digits mapped to 0; the 4-way case feature
(lower, Capitalised, UPPER, other) and the character CNN (optional) bring back what that
normalisation dropped, and give unseen words a representation from their spelling.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.many_to_many import ManyToMany, ManyToManyConfig
from rnnkit.recipes import classify
from rnnkit.recipes.text import TokenVocab, bucket_batches, pad_batch, tokenize
from rnnkit.recipes.training import FitResult, TrainConfig, fit
from rnnkit.tasks.seqeval import entity_scores
from rnnkit.utils.reading import DataFormatError, decode_utf8, split_lines

MAX_WORD = 20  # characters kept per word for the CNN; longer words are URLs and the like


@dataclass
class Sentence:
    """One sentence: its tokens and their tags (the same length)."""
    tokens: list[str]
    tags: list[str]


def parse_conll(text: str, name: str, tag_column: int = -1) -> list[Sentence]:
    """Token-per-line text: columns split by tabs (or spaces), blank lines between sentences.

    The token is the first column and the tag the ``tag_column``-th (last by default); every
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
        if len(cols) < 2:
            raise DataFormatError(name, f"expected 'token<TAB>tag', got {line!r}", "a tag for every token, blank line between sentences",
                                  line=number)
        if width is None:
            width = (len(cols), number)
        if len(cols) != width[0]:
            raise DataFormatError(name, f"{len(cols)} columns, but line {width[1]} has {width[0]}: {line[:60]!r}",
                                  f"{width[0]} columns on every token line", line=number)
        if len(cols) == 10 and cols[0].replace("-", "").replace(".", "").isdigit():
            if not cols[0].isdigit():
                continue  # multi-word token range (1-2) or empty node (1.1)
            token, tag = cols[1], cols[3]
        else:
            if not -len(cols) <= tag_column < len(cols):
                raise DataFormatError(name, f"expected a tag in column {tag_column}, got {len(cols)} columns: {line!r}",
                                      f"a tag in column {tag_column} (--tag-column)", line=number)
            token, tag = cols[0], cols[tag_column]
        if not token.strip() or not tag.strip():
            raise DataFormatError(name, f"empty token or tag in {line!r}", "a token and a tag", line=number)
        tokens.append(token.strip())
        tags.append(tag.strip())
    if tokens:
        sentences.append(Sentence(tokens, tags))
    if not sentences:
        raise DataFormatError(name, "no sentences found", "token-per-line (CoNLL) text", line=number + 1)
    return sentences


def read_conll(path: str | Path, tag_column: int = -1) -> list[Sentence]:
    """The sentences of a CoNLL file: one token per line, the tag in column ``tag_column``, blank lines between sentences."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}; pass a CoNLL file: one 'token<TAB>tag' per line, blank line between sentences.")
    return parse_conll(decode_utf8(path.read_bytes(), str(path)), str(path), tag_column)


def normalise(token: str) -> str:
    """What the word embedding sees: lower case, every digit 0 (``"Route66"`` -> ``"route00"``)."""
    return re.sub(r"\d", "0", token.lower())


def case_of(token: str) -> int:
    """0 lower/other, 1 Capitalised, 2 UPPER, 3 no letters."""
    if not any(c.isalpha() for c in token):
        return 3
    if token.isupper():
        return 2
    return 1 if token[0].isupper() else 0


@dataclass(frozen=True)
class WordFeaturesConfig:
    """The word representation fed to the tagger."""

    vocab_size: int = field(metadata={"help": "words in the vocabulary"})
    embedding_size: int = field(default=100, metadata={"help": "word embedding size"})  # the common size for taggers
    char_vocab_size: int | None = field(default=None, metadata={"help": "characters; None turns the char CNN off"})
    char_embedding_size: int = field(default=25, metadata={"help": "character embedding size"})  # Lample et al. 2016 use 25
    char_filters: int = field(default=50, metadata={"help": "character CNN filters (features per word)"})  # 30-50 in Ma & Hovy 2016
    char_width: int = field(default=3, metadata={"help": "character CNN window"})  # trigram-like features

    @property
    def size(self) -> int:
        """Features per word: the embedding, 4 case features, and the character CNN's filters when it is on."""
        return self.embedding_size + 4 + (self.char_filters if self.char_vocab_size is not None else 0)


class WordFeatures(nn.Module):
    """Word ids (B, T), case ids (B, T) and char ids (B, T, W) -> features (B, T, F)."""

    def __init__(self, config: WordFeaturesConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.word = nn.Embedding(c.vocab_size, c.embedding_size, padding_idx=0)
        self.char = nn.Embedding(c.char_vocab_size, c.char_embedding_size, padding_idx=0) if c.char_vocab_size else None
        self.conv = nn.Conv1d(c.char_embedding_size, c.char_filters, c.char_width, padding=c.char_width // 2) if c.char_vocab_size else None

    def forward(self, words: Tensor, cases: Tensor, chars: Tensor | None) -> Tensor:
        parts = [self.word(words), F.one_hot(cases, 4).to(self.word.weight.dtype)]  # (B, T, E), (B, T, 4)
        if self.char is not None and self.conv is not None:
            if chars is None:
                raise ValueError("WordFeatures: this tagger uses character features; pass chars (B, T, W).")
            B, T, W = chars.shape
            e = self.char(chars.reshape(B * T, W)).transpose(1, 2)  # (B*T, C_e, W)
            h = torch.relu(self.conv(e))  # (B*T, C_f, W)
            h = h.masked_fill((chars.reshape(B * T, 1, W) == 0), 0.0)  # padding characters do not vote
            parts.append(h.amax(2).reshape(B, T, -1))  # (B, T, C_f)
        return torch.cat(parts, dim=2)  # (B, T, F)


class Tagger(nn.Module):
    """Word features -> ``ManyToMany`` (BiLSTM, optional CRF). forward/decode as ManyToMany,
    with the extra inputs ``cases`` (B, T) and ``chars`` (B, T, W)."""

    def __init__(self, features: WordFeaturesConfig, tagger: ManyToManyConfig) -> None:
        super().__init__()
        if tagger.vocab_size is not None or tagger.input_size != features.size:
            raise ValueError(f"Tagger: the ManyToMany config must take features of size {features.size} (vocab_size=None), got {tagger}.")
        self.features = WordFeatures(features)
        self.tagger = ManyToMany(tagger)

    def forward(self, inputs: Tensor, targets: Tensor | None = None, lengths: Tensor | None = None,
                cases: Tensor | None = None, chars: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        x = self.features(inputs, cases if cases is not None else torch.zeros_like(inputs), chars)  # (B, T, F)
        return self.tagger(x, targets, lengths)

    @torch.no_grad()
    def predict(self, inputs: Tensor, lengths: Tensor, cases: Tensor, chars: Tensor | None) -> tuple[Tensor, Tensor]:
        """Best tags (B, T) (-1 on padding) and each tag's probability (B, T).

        With a CRF the probability is the exact marginal p(y_t = k | x), the gradient of
        log Z with respect to the emissions; without one it is the per-token softmax.
        """
        x = self.features(inputs, cases, chars)
        tags = self.tagger.decode(x, lengths)  # (B, T)
        emissions, _ = self.tagger(x, None, lengths)  # (B, T, K)
        crf = self.tagger.crf
        if crf is None:
            probs = emissions.softmax(2)
        else:
            mask = tags >= 0
            with torch.enable_grad():
                e = emissions.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(crf.log_partition(e, mask).sum(), e)
            probs = grad
        chosen = probs.gather(2, tags.clamp(min=0).unsqueeze(2)).squeeze(2)  # (B, T)
        return tags, chosen.masked_fill(tags < 0, 0.0)


@dataclass
class Vocabs:
    """The word, character (None without the character CNN) and tag vocabularies of a tagger."""
    words: TokenVocab
    chars: TokenVocab | None
    tags: TokenVocab

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and strings, for a checkpoint; ``from_dict`` reads them back."""
        return {"words": self.words.to_dict(), "chars": self.chars.to_dict() if self.chars else None, "tags": self.tags.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabs:
        """The vocabularies ``to_dict`` wrote."""
        return cls(TokenVocab.from_dict(d["words"]), TokenVocab.from_dict(d["chars"]) if d["chars"] else None, TokenVocab.from_dict(d["tags"]))


def build_vocabs(train: Sequence[Sentence], min_freq: int, chars: bool) -> Vocabs:
    """Vocabularies from the training sentences: words seen ``min_freq`` times, characters twice (if ``chars``), every tag."""
    words = TokenVocab.build(([normalise(t) for t in s.tokens] for s in train), min_freq=min_freq)
    char_vocab = None
    if chars:
        char_vocab = TokenVocab.build(([c for t in s.tokens for c in t[:MAX_WORD]] for s in train), min_freq=2)
    return Vocabs(words, char_vocab, TokenVocab.labels(t for s in train for t in s.tags))


@dataclass
class Encoded:
    """One sentence as tensors: words, cases and tags (T,), chars (T, W)."""

    words: Tensor
    cases: Tensor
    chars: Tensor | None
    tags: Tensor | None


def encode(sentence: Sequence[str], tags: Sequence[str] | None, vocabs: Vocabs) -> Encoded:
    """One sentence as the tensors a Tagger reads: word ids, case features, character ids, and tag ids when ``tags`` is given."""
    words = torch.tensor(vocabs.words.encode(normalise(t) for t in sentence))
    cases = torch.tensor([case_of(t) for t in sentence])
    chars = None
    if vocabs.chars is not None:
        ids = [vocabs.chars.encode(t[:MAX_WORD]) for t in sentence]
        chars = torch.zeros(len(sentence), max(len(i) for i in ids), dtype=torch.long)  # (T, W); 0 is <pad>
        for t, i in enumerate(ids):
            chars[t, : len(i)] = torch.tensor(i)
    tag_ids = None
    if tags is not None:
        unseen = sorted(set(tags) - set(vocabs.tags.itos))
        tag_ids = torch.tensor([vocabs.tags.stoi.get(t, -100) for t in tags]) if unseen else torch.tensor(vocabs.tags.encode(tags))
    return Encoded(words, cases, chars, tag_ids)


def collate(items: Sequence[Encoded]) -> dict[str, Tensor]:
    """Pad a batch: inputs, cases, targets (B, T), chars (B, T, W), lengths (B,)."""
    words, lengths = pad_batch([e.words.tolist() for e in items], 0)  # (B, T), (B,)
    cases, _ = pad_batch([e.cases.tolist() for e in items], 0)
    batch = {"inputs": words, "lengths": lengths, "cases": cases}
    if items[0].chars is not None:
        W = max(e.chars.shape[1] for e in items if e.chars is not None)
        chars = torch.zeros(len(items), words.shape[1], W, dtype=torch.long)  # (B, T, W)
        for b, e in enumerate(items):
            assert e.chars is not None
            chars[b, : e.chars.shape[0], : e.chars.shape[1]] = e.chars
        batch["chars"] = chars
    if items[0].tags is not None:
        batch["targets"], _ = pad_batch([e.tags.tolist() for e in items if e.tags is not None], 0)
    return batch


def batches(data: Sequence[Encoded], batch_size: int, shuffle: bool, seed: int = 0) -> Iterator[tuple[list[int], dict[str, Tensor]]]:
    """Batches of similar-length sentences: the indices in ``data`` and the collated tensors."""
    g = torch.Generator().manual_seed(seed)
    for idx in bucket_batches([len(e.words) for e in data], batch_size, shuffle=shuffle, generator=g):
        yield idx, collate([data[i] for i in idx])


def predict_tags(model: Tagger, data: Sequence[Encoded], vocabs: Vocabs, batch_size: int = 128) -> list[tuple[list[str], list[float]]]:
    """For each sentence, in order: the predicted tags and their probabilities."""
    was_training = model.training
    model.eval()
    out: list[tuple[list[str], list[float]]] = [([], [])] * len(data)
    for idx, batch in batches(data, batch_size, shuffle=False):
        tags, probs = model.predict(batch["inputs"], batch["lengths"], batch["cases"], batch.get("chars"))
        for row, i in enumerate(idx):
            n = len(data[i].words)
            out[i] = (vocabs.tags.decode(tags[row, :n].tolist()), probs[row, :n].tolist())
    model.train(was_training)
    return out


def evaluate(model: Tagger, data: Sequence[Encoded], gold: Sequence[Sentence], vocabs: Vocabs, bio: bool) -> dict[str, float]:
    """Token accuracy, and for BIO tags entity precision/recall/F1 (exact spans, in percent for F1)."""
    pred = [tags for tags, _ in predict_tags(model, data, vocabs)]
    right = sum(p == g for ps, s in zip(pred, gold, strict=True) for p, g in zip(ps, s.tags, strict=True))
    total = sum(len(s.tags) for s in gold)
    metrics = {"accuracy": right / max(total, 1)}
    if bio:
        scores = entity_scores([s.tags for s in gold], pred)
        metrics.update(precision=100 * scores.precision, recall=100 * scores.recall, f1=100 * scores.f1)
    return metrics


@dataclass(frozen=True)
class TaggingConfig(TrainConfig):
    """Data, model and training settings of a tagging recipe."""

    data: str | None = field(default=None, metadata={"help": "training CoNLL file (token<TAB>tag per line); default: the recipe's corpus"})
    dev: str | None = field(default=None, metadata={"help": "validation CoNLL file (default: a tenth of --data)"})
    test: str | None = field(default=None, metadata={"help": "test CoNLL file (default: a tenth of --data)"})
    tag_column: int = field(default=-1, metadata={"help": "column holding the tag in CoNLL files (-1: last)"})
    split_seed: int = field(default=1234, metadata={"help": "seed of the train/dev/test split when only --data is given"})
    max_train_sentences: int | None = field(default=None, metadata={"help": "use at most this many training sentences"})  # None: all
    min_freq: int = field(default=1, metadata={"help": "words seen fewer times in training become <unk>"})
    embedding_size: int = field(default=100, metadata={"help": "word embedding size"})
    chars: bool = field(default=True, metadata={"help": "add character-CNN word features"})  # unseen words get a spelling-based vector
    char_filters: int = field(default=50, metadata={"help": "character CNN filters"})
    hidden_size: int = field(default=100, metadata={"help": "LSTM units per direction"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    cell: str = field(default="lstm", metadata={"help": "rnn, lstm or gru", "choices": ["rnn", "lstm", "gru"]})
    dropout: float = field(default=0.5, metadata={"help": "dropout on word features and before the tag scores"})  # Lample et al. 2016
    crf: bool = field(default=False, metadata={"help": "decode with a linear-chain CRF"})
    batch_size: int = field(default=32, metadata={"help": "sentences per batch"})
    out: str = field(default="runs/tagger", metadata={"help": "directory for best.pt, last.pt and results.json"})


def split_data(cfg: TaggingConfig, sentences: list[Sentence]) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Train/dev/test: the given files, or 80/10/10 of ``sentences`` with ``split_seed``."""
    train, dev, test = sentences, None, None
    if cfg.dev is not None:
        dev = read_conll(cfg.dev, cfg.tag_column)
    if cfg.test is not None:
        test = read_conll(cfg.test, cfg.tag_column)
    if dev is None or test is None:
        tr, de, te = classify.split(len(sentences), [0.8, 0.1, 0.1], cfg.split_seed)
        train = [sentences[i] for i in tr]
        dev = dev if dev is not None else [sentences[i] for i in de]
        test = test if test is not None else [sentences[i] for i in te]
    if cfg.max_train_sentences is not None:
        train = train[: cfg.max_train_sentences]
    return train, dev, test


def run(task: str, cfg: TaggingConfig, train: list[Sentence], dev: list[Sentence], test: list[Sentence], bio: bool) -> int:
    """Vocabularies from train, build, train with early stopping on dev, test, save, summarise."""
    print(f"{task}: config {dataclasses.asdict(cfg)}")
    vocabs = build_vocabs(train, cfg.min_freq, cfg.chars)
    enc = [[encode(s.tokens, s.tags, vocabs) for s in part] for part in (train, dev, test)]
    print(f"{task}: {len(train)} train, {len(dev)} dev, {len(test)} test sentences; "
          f"{len(vocabs.words)} words, {len(vocabs.tags)} tags")
    torch.manual_seed(cfg.seed)
    features = WordFeaturesConfig(vocab_size=len(vocabs.words), embedding_size=cfg.embedding_size,
                                  char_vocab_size=len(vocabs.chars) if vocabs.chars else None, char_filters=cfg.char_filters)
    tagger = ManyToManyConfig(num_tags=len(vocabs.tags), vocab_size=None, input_size=features.size, hidden_size=cfg.hidden_size,
                              num_layers=cfg.num_layers, cell=cfg.cell, bidirectional=True, dropout=cfg.dropout, crf=cfg.crf)
    model = Tagger(features, tagger)
    monitor = "dev_f1" if bio else "dev_accuracy"

    def checkpoint(m: nn.Module, info: dict[str, Any]) -> dict[str, Any]:
        return {"task": task, "config": dataclasses.asdict(cfg), "features_config": dataclasses.asdict(features),
                "model_config": dataclasses.asdict(tagger), "model": m.state_dict(), "vocabs": vocabs.to_dict(), **info}

    def validate(m: nn.Module) -> dict[str, float]:
        assert isinstance(m, Tagger)
        return {f"dev_{k}": v for k, v in evaluate(m, enc[1], dev, vocabs, bio).items()}

    result: FitResult = fit(
        model,
        lambda epoch: (b for _, b in batches(enc[0], cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch)),
        config=cfg, evaluate=validate, monitor=monitor, checkpoint=checkpoint, out_dir=cfg.out,
    )
    test_metrics = {f"test_{k}": v for k, v in evaluate(model, enc[2], test, vocabs, bio).items()}
    classify.summarise(task, cfg.out, test_metrics, cfg, result)
    return 0


def load(checkpoint: dict[str, Any]) -> tuple[Tagger, Vocabs]:
    """The tagger (weights loaded, eval mode) and vocabularies stored in a tagging checkpoint."""
    model = Tagger(WordFeaturesConfig(**checkpoint["features_config"]), ManyToManyConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, Vocabs.from_dict(checkpoint["vocabs"])


def predict(checkpoint: dict[str, Any], inputs: Sequence[str]) -> int:
    """Tag each input: a CoNLL file (its tokens), a .txt file (one sentence per line) or a sentence.

    Prints ``token/TAG(probability)`` for every token, one sentence per line.
    """
    model, vocabs = load(checkpoint)
    sentences: list[list[str]] = []
    for item in inputs:
        path = Path(item)
        if path.is_file() and path.suffix.lower() in (".conll", ".conllu", ".bio", ".tsv"):
            sentences.extend(s.tokens for s in read_conll(path, checkpoint["config"]["tag_column"]))
        elif path.is_file():
            lines = split_lines(decode_utf8(path.read_bytes(), str(path)))
            sentences.extend(tokenize(line, lowercase=False) for line in lines if line.strip())
        else:
            sentences.append(tokenize(item, lowercase=False))
    sentences = [s for s in sentences if s]
    if not sentences:
        raise ValueError(f"predict {checkpoint['task']}: give one or more sentences, or a CoNLL/.txt file.")
    results = predict_tags(model, [encode(s, None, vocabs) for s in sentences], vocabs)
    for tokens, (tags, probs) in zip(sentences, results, strict=True):
        print(" ".join(f"{w}/{t}({p:.2f})" for w, t, p in zip(tokens, tags, probs, strict=True)))
    return 0

