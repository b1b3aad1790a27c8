"""Sentence pairs for the translate recipe: line-aligned files or TSV, and subword tokenizers.

Pairs come from two line-aligned files (line n of one translates line n of the other;
``.gz`` is read transparently), from a TSV file with one ``source<TAB>target`` pair per
line, or from a folder laid out like Multi30k (``train.de.gz``, ``val.en.gz``,
``test_2016_flickr.de.gz``, ...). Nothing here knows a particular data set: the same
pairs can be questions and answers, or documents and summaries.

Subwords: byte-pair encoding from the ``tokenizers`` library, trained on the training
split only, one tokenizer per side. Its Metaspace pre-tokenizer keeps the spaces, so
decoding gives back detokenised text, which is what sacreBLEU expects.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from rnnkit.utils.reading import DataFormatError, decode_utf8, gunzip, split_lines

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"  # ids 0, 1, 2, 3 in every tokenizer
SPECIALS = (PAD, BOS, EOS, UNK)

Pairs = list[tuple[str, str]]


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file (gzip if it ends in .gz), without their line breaks (LF, CRLF or CR)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"translate: no file {path}.")
    raw = path.read_bytes()
    return split_lines(decode_utf8(gunzip(raw, str(path)) if path.suffix == ".gz" else raw, str(path)))


def read_parallel(source: str | Path, target: str | Path) -> Pairs:
    """Pairs from two line-aligned files; a different number of lines is an error (the files are misaligned)."""
    src, tgt = read_lines(source), read_lines(target)
    if len(src) != len(tgt):
        short, n = (target, len(tgt)) if len(tgt) < len(src) else (source, len(src))
        raise DataFormatError(
            str(short), f"translate: {source} has {len(src)} lines but {target} has {len(tgt)}; {short} ends here",
            "one target line per source line", line=n + 1,
            hint="Check that both files are the same split and neither is cut short.",
        )
    return _keep_nonempty(list(zip(src, tgt, strict=True)), str(source), len(src))


def read_tsv(path: str | Path) -> Pairs:
    """Pairs from a TSV file, ``source<TAB>target`` per line (further columns are ignored)."""
    lines = read_lines(path)
    for n, line in enumerate(lines, start=1):
        if line.strip() and "\t" not in line:
            raise DataFormatError(str(path), f"translate: line {n} of {path} has no tab: {line[:60]!r}",
                                  "'source<TAB>target'", line=n)
    pairs = [(cols[0], cols[1]) for cols in (line.split("\t") for line in lines if line.strip())]
    return _keep_nonempty(pairs, str(path), len(lines))


def _keep_nonempty(pairs: Pairs, where: str, lines: int) -> Pairs:
    kept = [(s.strip(), t.strip()) for s, t in pairs if s.strip() and t.strip()]
    if not kept:
        raise DataFormatError(where, "no non-empty sentence pairs", "at least one pair of non-empty sentences",
                              line=lines + 1)
    return kept


def find_split(folder: Path, split: str, lang: str) -> Path | None:
    """``folder/<name>.<lang>[.gz]`` for the usual names of a split (Multi30k's test is test_2016_flickr)."""
    names = {"train": ["train"], "val": ["val", "valid", "dev"], "test": ["test", "test_2016_flickr"]}[split]
    return next((p for name in names for gz in ("", ".gz") if (p := folder / f"{name}.{lang}{gz}").exists()), None)


def read_folder(folder: str | Path, source_lang: str, target_lang: str) -> dict[str, Pairs]:
    """The train split (required) and val/test splits (when present) of a Multi30k-style folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"translate: no data folder {folder}.")
    splits: dict[str, Pairs] = {}
    for split in ("train", "val", "test"):
        src, tgt = find_split(folder, split, source_lang), find_split(folder, split, target_lang)
        if src is not None and tgt is not None:
            splits[split] = read_parallel(src, tgt)
    if "train" not in splits:
        raise ValueError(
            f"translate: {folder} has no train.{source_lang}[.gz] and train.{target_lang}[.gz]; "
            "name the files like that, or pass --source/--target (or --tsv) instead."
        )
    return splits


def train_tokenizer(sentences: list[str], vocab_size: int) -> Any:
    """A BPE tokenizer trained on ``sentences`` (the training split only), with the four specials first."""
    try:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    except ModuleNotFoundError:
        raise ValueError("translate: subword vocabularies need the tokenizers package; `pip install "
                         "tokenizers`.") from None
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False)
    tok.train_from_iterator(sentences, trainer)
    return tok


@lru_cache(maxsize=8)
def tokenizer_from_str(text: str) -> Any:
    """A ``tokenizers.Tokenizer`` from a checkpoint's JSON (parsed once per text: predict is called per request)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(text)


def encode(tok: Any, sentences: list[str], max_tokens: int) -> list[list[int]]:
    """Subword ids of each sentence, cut to ``max_tokens``."""
    return [e.ids[:max_tokens] for e in tok.encode_batch(sentences)]


def decode(tok: Any, ids: list[int]) -> str:
    """Detokenised text of subword ids (specials dropped)."""
    return str(tok.decode([i for i in ids if i >= len(SPECIALS)]))
