"""Translate recipe: reading aligned files, TSV and folders, their errors, subword round trips, BLEU, and a smoke run."""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("tokenizers")
pytest.importorskip("sacrebleu")

from rnnkit.tasks import translate  # noqa: E402
from rnnkit.tasks import translate_data as td  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "recipes2"


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


def test_a_multi30k_style_folder_with_gzip(tmp_path):
    for split in ("train", "val"):
        for lang in ("de", "en"):
            with gzip.open(tmp_path / f"{split}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write((FIXTURES / f"pairs.{lang}").read_text())
    shutil.copy(FIXTURES / "pairs.de", tmp_path / "test_2016_flickr.de")
    shutil.copy(FIXTURES / "pairs.en", tmp_path / "test_2016_flickr.en")
    splits = td.read_folder(tmp_path, "de", "en")
    assert set(splits) == {"train", "val", "test"} and splits["val"][3] == ("Ein Mann fährt Fahrrad.", "A man rides a bike.")
    with pytest.raises(ValueError, match="no train.fr"):
        td.read_folder(tmp_path, "fr", "en")


def test_subwords_decode_back_to_the_detokenised_sentence():
    sentences = (FIXTURES / "pairs.de").read_text().splitlines()
    tok = td.train_tokenizer(sentences, vocab_size=80)
    assert tok.token_to_id("<pad>") == 0 and tok.token_to_id("<eos>") == 2
    ids = td.encode(tok, sentences, max_tokens=100)
    assert [td.decode(tok, i) for i in ids] == sentences


def test_bleu_is_100_for_identical_output_and_low_for_unrelated():
    refs = (FIXTURES / "pairs.en").read_text().splitlines()
    assert translate.bleu(refs, refs) == pytest.approx(100.0)
    assert translate.bleu(["xyz"] * len(refs), refs) < 1.0


def test_exactly_one_data_source_is_required():
    with pytest.raises(ValueError, match="give exactly one data source, got none"):
        translate.load_pairs(translate.TranslateConfig())
    with pytest.raises(ValueError, match=r"got \['--source/--target', '--tsv'\]"):
        translate.load_pairs(translate.TranslateConfig(source="a", target="b", tsv="c"))


def test_smoke_run_then_translate(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    translate.add_arguments(parser)
    args = parser.parse_args([
        "--source", str(FIXTURES / "pairs.de"), "--target", str(FIXTURES / "pairs.en"), "--vocab-size", "60",
        "--embed-size", "16", "--hidden-size", "16", "--epochs", "2", "--beam", "2", "--show", "1",
        "--no-progress", "--out-dir", str(tmp_path),
    ])
    assert translate.run(args) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert 0.0 <= result["bleu"] <= 100.0 and result["test_sentences"] == 1  # 5% of 8 pairs held out
    assert (tmp_path / "attention-0.png").exists()
    checkpoint = torch.load(tmp_path / "best.pt", weights_only=True)
    assert checkpoint["task"] == "translate"
    capsys.readouterr()
    translate.translate(checkpoint, ["Ein Hund läuft im Schnee.", "Zwei Kinder."], argparse.Namespace(beam=3))
    assert len(capsys.readouterr().out.splitlines()) == 2
    with pytest.raises(ValueError, match="--beam must be >= 1"):
        translate.translate(checkpoint, ["Ein Hund."], argparse.Namespace(beam=0))
