"""Sentence pairs: line-aligned files, TSV and Multi30k-style folders, their errors, subword round trips."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

pytest.importorskip("tokenizers")

from rnnkit.recipes.translate import data as td  # noqa: E402

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes2"


def test_line_aligned_files_pair_up():
    pairs = td.read_parallel(FIXTURES / "pairs.de", FIXTURES / "pairs.en")
    assert len(pairs) == 8
    assert pairs[0] == ("Ein Hund läuft im Schnee.", "A dog runs in the snow.")


def test_misaligned_files_are_an_error_naming_both_counts():
    with pytest.raises(ValueError, match=r"pairs.de has 8 lines but .*misaligned.en has 5"):
        td.read_parallel(FIXTURES / "pairs.de", FIXTURES / "misaligned.en")


def test_tsv_pairs_and_a_line_without_a_tab():
    assert td.read_tsv(FIXTURES / "pairs.tsv") == [
        ("hello there", "general kenobi"), ("how are you ?", "fine , thanks ."), ("what time is it ?", "noon ."),
    ]
    with pytest.raises(ValueError, match="line 2 of .*bad.tsv has no tab"):
        td.read_tsv(FIXTURES / "bad.tsv")


def test_a_multi30k_style_folder_with_gzip(tmp_path: Path):
    for split in ("train", "val"):
        for lang in ("de", "en"):
            with gzip.open(tmp_path / f"{split}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write((FIXTURES / f"pairs.{lang}").read_text())
    shutil.copy(FIXTURES / "pairs.de", tmp_path / "test_2016_flickr.de")
    shutil.copy(FIXTURES / "pairs.en", tmp_path / "test_2016_flickr.en")
    splits = td.read_folder(tmp_path, "de", "en")
    assert set(splits) == {"train", "val", "test"}
    assert splits["val"][3] == ("Ein Mann fährt Fahrrad.", "A man rides a bike.")
    with pytest.raises(ValueError, match="no train.fr"):
        td.read_folder(tmp_path, "fr", "en")


def test_subwords_decode_back_to_the_detokenised_sentence():
    sentences = (FIXTURES / "pairs.de").read_text().splitlines()
    tok = td.train_tokenizer(sentences, vocab_size=80)
    assert tok.token_to_id("<pad>") == 0
    assert tok.token_to_id("<eos>") == 2
    ids = td.encode(tok, sentences, max_tokens=100)
    assert [td.decode(tok, i) for i in ids] == sentences
    assert td.decode(td.tokenizer_from_str(tok.to_str()), ids[0]) == sentences[0]  # as a checkpoint stores it
