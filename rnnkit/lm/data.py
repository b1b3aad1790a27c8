"""Text -> ids -> batches, for corpora of any size.

A corpus is read once in chunks of bytes (so a bad byte is reported with its offset), its
characters form the vocabulary, and its ids live either in memory or, for a large file, in
a memory-mapped file written once beside the run: batches then read only the slices they
need, so a 1 GB text trains in bounded memory. Two batchers read the same ids:

    StreamBatches   char-rnn's scheme: the ids are cut into B contiguous streams and batch k
                    is chunk k of every stream, so a recurrent state carried from one batch to
                    the next continues the same text (stateful truncated BPTT).
    RandomWindows   B windows at random offsets; a state is never carried.

Under data parallelism each rank reads its own share of the B streams (or windows) of the
global batch, so N ranks together see exactly what one process would.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.lm.vocab import CharVocab
from rnnkit.utils.reading import DataFormatError, utf8_error

CHUNK_BYTES = 1 << 22  # read 4 MB at a time: big enough to be fast; encoding one costs ~80 MB at most
ERRORS = ("strict", "replace", "ignore")


@dataclass
class Corpus:
    """The ids of a whole text, and what they mean."""

    ids: np.ndarray  # (N,) in memory, or a np.memmap of a file
    vocab: CharVocab
    source: str  # where the text came from, for checkpoints and messages

    def split(self, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """The first (1 - val_fraction) of the ids for training, the rest for validation."""
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"Corpus.split: val_fraction must be in [0, 1), got {val_fraction!r}.")
        cut = len(self.ids) - int(round(len(self.ids) * val_fraction))
        return self.ids[:cut], self.ids[cut:]


def iter_text(path: str | os.PathLike[str], errors: str = "strict", chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Decode a UTF-8 file piece by piece; an undecodable byte is a DataFormatError naming its line and offset.

    A leading byte-order mark is skipped: it marks the encoding, it is not part of the text.
    """
    if errors not in ERRORS:
        raise ValueError(f"read_text: errors must be one of {ERRORS}, got {errors!r}.")
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    fed = 0  # bytes handed to the decoder so far
    lines = 1  # the line the next byte is on
    after_cr = False  # the last byte read was a CR (a CRLF split across two reads is one break)
    with open(path, "rb") as f:
        start = f.read(3)  # for the error: a UTF-16 byte-order mark explains a bad first byte
        if start == codecs.BOM_UTF8:
            fed = 3
        else:
            f.seek(0)
        while True:
            chunk = f.read(chunk_bytes)
            pending = len(decoder.getstate()[0])  # bytes of a character split across reads
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                at = max(e.start - pending, 0)  # in this chunk (a bad split character began before it)
                line = lines + _breaks(chunk[:at], after_cr)
                raise utf8_error(str(path), fed - pending + e.start, e.object[e.start], e.reason, line, start,
                                 "Convert the file to UTF-8, or choose what to do with such bytes: "
                                 "--errors replace (use U+FFFD) or --errors ignore (drop them).") from None
            fed += len(chunk)
            lines += _breaks(chunk, after_cr)
            after_cr = chunk[-1:] == b"\r" if chunk else after_cr
            if text:
                yield text
            if not chunk:
                return


def _breaks(data: bytes, after_cr: bool) -> int:
    """Line breaks in ``data`` (LF, CRLF, lone CR); ``after_cr``: the byte before it was a CR."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") - (after_cr and data[:1] == b"\n")


def read_text(path: str | os.PathLike[str], errors: str = "strict") -> str:
    """The whole file as one string (for texts that fit in memory)."""
    return "".join(iter_text(path, errors))


def load_corpus(
    path: str | os.PathLike[str], vocab: CharVocab | None = None, errors: str = "strict",
    cache_dir: str | os.PathLike[str] | None = None, stream: bool = False, chunk_bytes: int = CHUNK_BYTES,
) -> Corpus:
    """Read a text file into ids; with ``stream`` they go to a memory-mapped file in ``cache_dir``.

    ``vocab`` fixes the vocabulary (e.g. a checkpoint's); a character outside it is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no text file at {path}.")
    if not stream:
        text = "".join(iter_text(path, errors, chunk_bytes))
        return corpus_from_text(text, vocab, str(path))
    # pass 1: the character set (a set per chunk, so memory stays at one chunk)
    chars: set[str] = set()
    n = 0
    for text in iter_text(path, errors, chunk_bytes):
        chars.update(text)
        n += len(text)
    vocab = _check_vocab(vocab, chars, str(path), lambda: iter_text(path, errors, chunk_bytes))
    # pass 2: ids into a memory-mapped file, written once and reused while the source is unchanged
    cache = Path(cache_dir) if cache_dir is not None else path.parent
    cache.mkdir(parents=True, exist_ok=True)
    stat = path.stat()
    identity = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{errors}|{''.join(vocab.chars)}"
    key = hashlib.sha1(identity.encode()).hexdigest()[:16]
    ids_path = cache / f"{path.name}.{key}.ids"
    if not ids_path.exists() or ids_path.stat().st_size != n * np.dtype(vocab.dtype).itemsize:
        tmp = ids_path.with_suffix(".tmp")
        out = np.memmap(tmp, dtype=vocab.dtype, mode="w+", shape=(n,))
        at = 0
        for text in iter_text(path, errors, chunk_bytes):
            out[at : at + len(text)] = vocab.encode_array(text)
            at += len(text)
        out.flush()
        del out
        os.replace(tmp, ids_path)
    ids = np.memmap(ids_path, dtype=vocab.dtype, mode="r", shape=(n,))
    return Corpus(ids, vocab, str(path))


def corpus_from_text(text: str, vocab: CharVocab | None = None, source: str = "<text>") -> Corpus:
    """Ids of an in-memory string."""
    vocab = _check_vocab(vocab, set(text), source, lambda: iter([text]))
    return Corpus(vocab.encode_array(text), vocab, source)


def _check_vocab(vocab: CharVocab | None, chars: set[str], source: str,
                 texts: Callable[[], Iterable[str]]) -> CharVocab:
    """The vocabulary of ``chars``, or ``vocab`` if it covers them; ``texts`` re-reads the text to point at a
    problem."""
    if not chars:
        raise DataFormatError(source, "the text is empty: there is nothing to learn from", "some text", line=1,
                              hint="Pass a text file with some content.")
    if vocab is None:
        return CharVocab(chars)
    extra = sorted(chars - vocab.index.keys())
    if extra:
        shown = ", ".join(repr(c) for c in extra[:10]) + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
        raise DataFormatError(
            source, f"the text has {len(extra)} character(s) outside the model's vocabulary of {len(vocab)}: {shown} "
            "(the first of them is on this line)", "only characters of the model's vocabulary",
            line=_first_line_with(texts(), set(extra)),
            hint="The vocabulary is fixed when a model is created; train a new model on this text, or remove those "
                 "characters.",
        )
    return vocab


def _first_line_with(texts: Iterable[str], chars: set[str]) -> int:
    """The line (LF, CRLF or lone CR ends one) of the first character of ``texts`` that is in ``chars``."""
    line, after_cr = 1, False
    for text in texts:
        hit = next((i for i, c in enumerate(text) if c in chars), None)
        part = text if hit is None else text[:hit]
        line += part.count("\n") + part.count("\r") - part.count("\r\n") - (after_cr and part[:1] == "\n")
        if hit is not None:
            return line
        after_cr = text.endswith("\r")
    return line


class StreamBatches:
    """Batch k = chunk k (of ``bptt`` characters) of each of ``batch_size`` contiguous streams.

    The global batch has ``batch_size`` streams; rank r of ``world_size`` reads streams
    [r*B/W, (r+1)*B/W). After ``chunks_per_epoch`` batches the streams start over, and a
    carried state must be reset (``starts_epoch``).
    """

    def __init__(self, ids: np.ndarray, batch_size: int, bptt: int, rank: int = 0, world_size: int = 1,
                 what: str = "training split") -> None:
        _check_batch(ids, batch_size, bptt, world_size, what)
        self.ids, self.bptt = ids, bptt
        self.stream_len = (len(ids) - 1) // batch_size  # characters per stream, plus one target
        self.chunks_per_epoch = self.stream_len // bptt
        if self.chunks_per_epoch < 1:
            raise ValueError(_too_small(what, len(ids), batch_size, bptt))
        local = batch_size // world_size
        self.streams = range(rank * local, (rank + 1) * local)

    def starts_epoch(self, k: int) -> bool:
        return k % self.chunks_per_epoch == 0

    def batch(self, k: int) -> tuple[Tensor, Tensor]:
        """Inputs and targets (B_local, T) of batch ``k`` (k counts on past an epoch)."""
        at = (k % self.chunks_per_epoch) * self.bptt
        rows = np.stack([self.ids[s * self.stream_len + at : s * self.stream_len + at + self.bptt + 1]
                         for s in self.streams])
        rows_t = torch.from_numpy(rows.astype(np.int64))  # (B, T+1)
        return rows_t[:, :-1], rows_t[:, 1:]


class RandomWindows:
    """Batch k = ``batch_size`` windows at offsets drawn from a generator seeded by (seed, k).

    Seeding by the step makes a batch a pure function of k: a resumed run needs no saved
    generator state, and every rank draws the same global offsets and keeps its own share.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, bptt: int, seed: int, rank: int = 0, world_size: int = 1,
                 what: str = "training split") -> None:
        _check_batch(ids, batch_size, bptt, world_size, what)
        if len(ids) < bptt + 1:
            raise ValueError(_too_small(what, len(ids), 1, bptt))
        self.ids, self.bptt, self.batch_size, self.seed = ids, bptt, batch_size, seed
        local = batch_size // world_size
        self.share = slice(rank * local, (rank + 1) * local)

    def starts_epoch(self, k: int) -> bool:
        return True  # windows are independent: no state carries over

    def batch(self, k: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([self.seed, k])
        starts = rng.integers(0, len(self.ids) - self.bptt, size=self.batch_size)[self.share]
        rows = np.stack([self.ids[s : s + self.bptt + 1] for s in starts])
        rows_t = torch.from_numpy(rows.astype(np.int64))  # (B, T+1)
        return rows_t[:, :-1], rows_t[:, 1:]


def _check_batch(ids: np.ndarray, batch_size: int, bptt: int, world_size: int, what: str) -> None:
    for name, value in (("batch_size", batch_size), ("bptt", bptt)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if batch_size % world_size:
        raise ValueError(
            f"batch_size {batch_size} does not split evenly over {world_size} processes; "
            f"use a multiple of {world_size} (it is the global batch)."
        )
    if len(ids) < batch_size * bptt + 1:
        raise ValueError(_too_small(what, len(ids), batch_size, bptt))


def _too_small(what: str, n: int, batch_size: int, bptt: int) -> str:
    need = batch_size * bptt + 1
    fit_b = max((n - 1) // bptt, 0)
    smaller = (f"a smaller --batch-size (at most {fit_b} at --bptt {bptt}) or --bptt" if fit_b else
               f"a smaller --bptt (at most {n - 1}, with --batch-size 1)" if n > 1 else "")  # "at most 0" was no help
    return (
        f"the {what} has {n} characters, but one batch of {batch_size} streams x {bptt} characters needs {need}. "
        f"Use {smaller + ', ' if smaller else ''}a smaller --val-fraction, or a longer text."
    )
