"""Text to tensors: tokenisation, a vocabulary with a minimum frequency and an unknown token,
and padded, length-bucketed batches whose ``lengths`` go to the model.

Typical use::

    tokens = [tokenize(line) for line in lines]
    vocab = TokenVocab.build(tokens, min_freq=2)            # "<pad>" = 0, "<unk>" = 1
    for idx in bucket_batches([len(t) for t in tokens], batch_size=32, generator=g):
        x, lengths = pad_batch([vocab.encode(tokens[i]) for i in idx], vocab.pad_id)  # (B, T), (B,)

A checkpoint stores ``vocab.to_dict()``; ``TokenVocab.from_dict`` rebuilds the same ids.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"

# words (letters, digits, inner apostrophes and hyphens), or any single other non-space character
_TOKEN = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split ``text`` into words and punctuation: ``"Don't stop!"`` -> ``["don't", "stop", "!"]``."""
    return _TOKEN.findall(text.lower() if lowercase else text)


class TokenVocab:
    """A token <-> id map. The specials come first (``<pad>`` is 0, ``<unk>`` is 1), then the
    kept tokens by decreasing frequency (ties alphabetically, so the ids are reproducible).

    ``encode`` maps a token it has not seen to ``<unk>``; with ``unk=None`` (for a label set)
    an unseen token is an error instead.
    """

    def __init__(self, itos: Sequence[str], unk: str | None = UNK, pad: str | None = PAD) -> None:
        if len(set(itos)) != len(itos):
            dup = sorted(t for t, n in Counter(itos).items() if n > 1)
            raise ValueError(f"TokenVocab: tokens must be unique, got duplicates {dup[:5]}.")
        for name, special in (("unk", unk), ("pad", pad)):
            if special is not None and special not in itos:
                raise ValueError(f"TokenVocab: {name} token {special!r} is not in the token list; add it or pass "
                                 f"{name}=None.")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.unk = unk
        self.pad = pad

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None,
              specials: Sequence[str] = (PAD, UNK)) -> TokenVocab:
        """Count tokens in ``sequences``; keep those seen ``min_freq`` times or more (at most ``max_size``)."""
        if min_freq < 1:
            raise ValueError(f"TokenVocab.build: min_freq must be >= 1, got {min_freq}.")
        counts = Counter(t for seq in sequences for t in seq)
        kept = sorted((t for t, n in counts.items() if n >= min_freq and t not in specials),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - len(specials))]
        return cls([*specials, *kept], unk=UNK if UNK in specials else None, pad=PAD if PAD in specials else None)

    @classmethod
    def labels(cls, labels: Iterable[str]) -> TokenVocab:
        """A closed label set (no ``<pad>``/``<unk>``), sorted so the ids do not depend on data order."""
        return cls(sorted(set(labels)), unk=None, pad=None)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    @property
    def pad_id(self) -> int:
        """The id of the padding token; a ValueError if the vocabulary has none."""
        if self.pad is None:
            raise ValueError("TokenVocab: this vocabulary has no padding token.")
        return self.stoi[self.pad]

    @property
    def unk_id(self) -> int:
        """The id of the unknown token; a ValueError if the vocabulary has none."""
        if self.unk is None:
            raise ValueError("TokenVocab: this vocabulary has no unknown token.")
        return self.stoi[self.unk]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; an unknown token maps to the unknown id, or raises a ValueError without one."""
        if self.unk is not None:
            unk = self.stoi[self.unk]
            return [self.stoi.get(t, unk) for t in tokens]
        ids = []
        for t in tokens:
            if t not in self.stoi:
                raise ValueError(f"TokenVocab: unknown token {t!r}; known tokens are {self.itos[:20]}.")
            ids.append(self.stoi[t])
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens that ``ids`` stand for."""
        return [self.itos[int(i)] for i in ids]

    def to_dict(self) -> dict[str, Any]:
        """The tokens and special-token names, for a checkpoint; ``from_dict`` reads them back."""
        return {"itos": list(self.itos), "unk": self.unk, "pad": self.pad}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenVocab:
        """The vocabulary ``to_dict`` wrote."""
        return cls(d["itos"], unk=d.get("unk"), pad=d.get("pad"))


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int = 0, max_len: int | None = None) -> tuple[Tensor, Tensor]:
    """Right-pad id sequences into a (B, T) long tensor; also return their lengths (B,).

    ``max_len`` truncates longer sequences. An empty sequence keeps length 0 only if the
    model accepts it; most do not, so callers should drop empty inputs first.
    """
    if not seqs:
        raise ValueError("pad_batch: got an empty batch; pass at least one sequence.")
    cut = [list(s[:max_len]) for s in seqs]  # s[:None] is all of s
    lengths = torch.tensor([len(s) for s in cut], dtype=torch.long)  # (B,)
    x = torch.full((len(cut), max(1, int(lengths.max()))), pad_id, dtype=torch.long)  # (B, T)
    for b, s in enumerate(cut):
        x[b, : len(s)] = torch.tensor(s, dtype=torch.long)
    return x, lengths


def pad_float(seqs: Sequence[Tensor], value: float = 0.0) -> tuple[Tensor, Tensor]:
    """Right-pad real-valued sequences (T_b, C) into a (B, T, C) tensor; also return lengths (B,)."""
    if not seqs:
        raise ValueError("pad_float: got an empty batch; pass at least one sequence.")
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)  # (B,)
    return pad_sequence(list(seqs), batch_first=True, padding_value=value), lengths  # (B, T, C)


def bucket_batches(lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                   generator: torch.Generator | None = None, bucket_size: int = 50) -> list[list[int]]:
    """Group example indices into batches of similar length, so little compute goes to padding.

    With ``shuffle``, examples are shuffled, then sorted by length within windows of
    ``bucket_size`` batches, and the batches are shuffled again: batches differ between
    epochs but each is tight. Without it, batches follow the length order (for evaluation).
    """
    if batch_size < 1:
        raise ValueError(f"bucket_batches: batch_size must be >= 1, got {batch_size}.")
    n = len(lengths)
    if not shuffle:
        order = sorted(range(n), key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    perm = torch.randperm(n, generator=generator).tolist()
    window = batch_size * bucket_size
    batches: list[list[int]] = []
    for start in range(0, n, window):
        chunk = sorted(perm[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
