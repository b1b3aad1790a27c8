"""The tagger of the tagging recipes (``pos``, ``ner``): word features into ``ManyToMany``.

The tagger is ``rnnkit.models.ManyToMany`` (BiLSTM, optional CRF) over word features:

    w_t = [ E_word(lower(x_t)) ; case(x_t) ; CharCNN(chars of x_t) ]     (B, T, F)
    CharCNN(c_1..c_W) = max_k relu(conv1d(E_char(c))_k)                  (Ma & Hovy, 2016)

The word embedding sees lower-cased words with digits mapped to 0; the 4-way case feature
(lower, Capitalised, UPPER, other) and the character CNN (optional) bring back what that
normalisation dropped, and give unseen words a representation from their spelling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from rnnkit.models.many_to_many import ManyToMany, ManyToManyConfig
from rnnkit.recipes.tagging.data import Sentence
from rnnkit.recipes.text import TokenVocab, bucket_batches, pad_batch
from rnnkit.utils.config import option

MAX_WORD = 20  # characters kept per word for the CNN; longer words are URLs and the like


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
    embedding_size: int = option(100, "word embedding size")  # the common size for taggers
    char_vocab_size: int | None = option(None, "characters; None turns the char CNN off")
    char_embedding_size: int = option(25, "character embedding size")  # Lample et al. 2016 use 25
    char_filters: int = option(50, "character CNN filters (features per word)")  # 30-50 in Ma & Hovy 2016
    char_width: int = option(3, "character CNN window")  # trigram-like features

    @property
    def size(self) -> int:
        """Features per word: the embedding, 4 case features, and the character CNN's filters when it is on."""
        return self.embedding_size + 4 + (self.char_filters if self.char_vocab_size is not None else 0)


class WordFeatures(nn.Module):
    """Word ids (B, T), case ids (B, T) and char ids (B, T, W) -> features (B, T, F)."""

    def __init__(self, config: WordFeaturesConfig) -> None:
        super().__init__()
        self.config = c = config
        self.word = nn.Embedding(c.vocab_size, c.embedding_size, padding_idx=0)
        self.char = nn.Embedding(c.char_vocab_size, c.char_embedding_size, padding_idx=0) if c.char_vocab_size else None
        self.conv = nn.Conv1d(c.char_embedding_size, c.char_filters, c.char_width,
                              padding=c.char_width // 2) if c.char_vocab_size else None

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
    """Word features -> ``ManyToMany`` (BiLSTM, optional CRF); its inputs plus ``cases`` (B, T), ``chars`` (B, T, W)."""

    def __init__(self, features: WordFeaturesConfig, tagger: ManyToManyConfig) -> None:
        super().__init__()
        if tagger.vocab_size is not None or tagger.input_size != features.size:
            raise ValueError(f"Tagger: the ManyToMany config must take features of size {features.size} "
                             f"(vocab_size=None), got {tagger}.")
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
            with torch.enable_grad():
                e = emissions.detach().requires_grad_(True)
                (probs,) = torch.autograd.grad(crf.log_partition(e, tags >= 0).sum(), e)
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
        return {"words": self.words.to_dict(), "chars": self.chars.to_dict() if self.chars else None,
                "tags": self.tags.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabs:
        """The vocabularies ``to_dict`` wrote."""
        return cls(TokenVocab.from_dict(d["words"]), TokenVocab.from_dict(d["chars"]) if d["chars"] else None,
                   TokenVocab.from_dict(d["tags"]))


def build_vocabs(train: Sequence[Sentence], min_freq: int, chars: bool) -> Vocabs:
    """Vocabularies of the training sentences: words seen ``min_freq`` times, characters twice (if ``chars``), tags."""
    words = TokenVocab.build(([normalise(t) for t in s.tokens] for s in train), min_freq=min_freq)
    char_vocab = TokenVocab.build(([c for t in s.tokens for c in t[:MAX_WORD]] for s in train),
                                  min_freq=2) if chars else None
    return Vocabs(words, char_vocab, TokenVocab.labels(t for s in train for t in s.tags))


@dataclass
class Encoded:
    """One sentence as tensors: words, cases and tags (T,), chars (T, W)."""

    words: Tensor
    cases: Tensor
    chars: Tensor | None
    tags: Tensor | None


def encode(sentence: Sequence[str], tags: Sequence[str] | None, vocabs: Vocabs) -> Encoded:
    """A sentence as a Tagger reads it: word ids, case features, character ids, and tag ids if ``tags`` is given."""
    words = torch.tensor(vocabs.words.encode(normalise(t) for t in sentence))
    cases = torch.tensor([case_of(t) for t in sentence])
    chars = None
    if vocabs.chars is not None:  # (T, W); 0 is <pad>
        chars = pad_batch([vocabs.chars.encode(t[:MAX_WORD]) for t in sentence], vocabs.chars.pad_id)[0]
    # a tag unseen in training (in a dev or test sentence) becomes -100, an id no tag has
    tag_ids = torch.tensor([vocabs.tags.stoi.get(t, -100) for t in tags]) if tags is not None else None
    return Encoded(words, cases, chars, tag_ids)


def collate(items: Sequence[Encoded]) -> dict[str, Tensor]:
    """Pad a batch: inputs, cases, targets (B, T), chars (B, T, W), lengths (B,)."""
    words, lengths = pad_batch([e.words.tolist() for e in items], 0)  # (B, T), (B,)
    cases, _ = pad_batch([e.cases.tolist() for e in items], 0)
    batch = {"inputs": words, "lengths": lengths, "cases": cases}
    if items[0].chars is not None:
        chars = [e.chars for e in items if e.chars is not None]  # (T_b, W_b) each
        W = max(c.shape[1] for c in chars)
        batch["chars"] = pad_sequence([F.pad(c, (0, W - c.shape[1])) for c in chars], batch_first=True)  # (B, T, W)
    if items[0].tags is not None:
        batch["targets"], _ = pad_batch([e.tags.tolist() for e in items if e.tags is not None], 0)
    return batch


def batches(data: Sequence[Encoded], batch_size: int, shuffle: bool,
            seed: int = 0) -> Iterator[tuple[list[int], dict[str, Tensor]]]:
    """Batches of similar-length sentences: the indices in ``data`` and the collated tensors."""
    g = torch.Generator().manual_seed(seed)
    for idx in bucket_batches([len(e.words) for e in data], batch_size, shuffle=shuffle, generator=g):
        yield idx, collate([data[i] for i in idx])


def predict_tags(model: Tagger, data: Sequence[Encoded], vocabs: Vocabs,
                 batch_size: int = 128) -> list[tuple[list[str], list[float]]]:
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

