"""Sentiment and spam end to end: ``rnnkit recipe`` trains, ``rnnkit predict`` answers what a
computation from the checkpoint's parts answers; checkpoints of the pre-contract recipes still
predict as they did; spam's predict takes what its model was trained on and refuses the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from rnnkit.cli import main
from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.recipes import classify
from rnnkit.recipes.text import TokenVocab, tokenize
from rnnkit.recipes.text_classify.spam import SpamRecipe
from rnnkit.utils.checkpoint import load_checkpoint

FIXTURES = Path(__file__).parents[2] / "fixtures"
EMAILS = FIXTURES / "recipes" / "emails"
QUICK = ["--epochs", "1", "--no-progress", "--threads", "1"]
TINY = ["--embedding-size", "8", "--hidden-size", "8", "--min-freq", "1"]
# spam/0001.eml's body
CRUISE_BODY = "Congratulations! Click here now to claim your FREE prize. Limited offer, act now!"
CRUISE_EMAIL = f"You WON a FREE cruise!!!\n{CRUISE_BODY}"  # its subject, then its body: what a whole-e-mail model reads
BARE = "Hi Bob, the meeting moved to 3pm, see you there"


def reference(run: Path, texts: list[str]) -> list[dict[str, float]]:
    """Class probabilities of each text from the checkpoint's parts, one text at a time: tokenise
    (lower-cased), cut to max_len, look up (unseen -> <unk>; no token -> one <unk>), ManyToOne, softmax."""
    checkpoint = load_checkpoint(run)
    config, meta = checkpoint["config"], checkpoint["meta"]
    vocab = TokenVocab.from_dict(meta["vocab"])
    model = ManyToOne(ManyToOneConfig(
        num_outputs=len(meta["classes"]), vocab_size=len(vocab), input_size=config["embedding_size"],
        hidden_size=config["hidden_size"], num_layers=config["num_layers"], cell=config["cell"],
        bidirectional=config["bidirectional"], pooling=config["pooling"])).eval()
    model.load_state_dict(checkpoint["model"])
    out = []
    with torch.no_grad():
        for text in texts:
            ids = vocab.encode(tokenize(text)[: config["max_len"]]) or [vocab.unk_id]
            logits, _ = model(torch.tensor([ids]))  # (1, C)
            out.append(dict(zip(meta["classes"], torch.softmax(logits[0], 0).tolist(), strict=True)))
    return out


def predicted(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["predict", *args, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def probabilities(result: dict[str, Any]) -> dict[str, float]:
    return {name: p for name, p in result["ranking"]}


def test_sentiment_trains_and_predicts_what_its_checkpoint_computes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = FIXTURES / "recipes" / "sentiment.csv"
    out = tmp_path / "run"
    assert main(["recipe", "sentiment", "--data", str(data), "--out", str(out), "--min-freq", "1", *QUICK]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["recipe"] == "sentiment"
    assert summary["epochs_run"] == 1
    assert "dev_accuracy" in summary["history"][0]

    # the test accuracy is the share of the test split (the seeded 80/10/10 cut) that the reference gets right
    texts, labels, _ = classify.read_table(data, "text", "label")
    test = classify.split(len(texts), [0.8, 0.1, 0.1], 1234)[2]
    right = [max(p, key=p.__getitem__) == labels[i] for i,
             p in zip(test, reference(out, [texts[i] for i in test]), strict=True)]
    assert summary["test"]["accuracy"] == pytest.approx(sum(right) / len(right))

    # sentences, a .txt of sentences and the training CSV, each answered as the reference answers
    lines = tmp_path / "lines.txt"
    lines.write_text("a warm and funny film\n\nnothing works here\n")
    results = predicted(capsys, str(out), "a warm and funny film", "", str(lines), str(data))
    wanted = ["a warm and funny film", "", "a warm and funny film", "nothing works here", *texts]
    assert [r["input"] for r in results] == wanted
    for result, want in zip(results, reference(out, wanted), strict=True):
        assert probabilities(result) == pytest.approx(want, abs=2e-6)
        assert result["label"] == max(want, key=want.__getitem__)

    # the terminal line: both classes with three decimals, a tab, the text
    capsys.readouterr()
    assert main(["predict", str(out), "a dull mess"]) == 0
    p = reference(out, ["a dull mess"])[0]
    first, second = sorted(p, key=p.__getitem__, reverse=True)
    assert capsys.readouterr().out == f"{first} {p[first]:.3f}  {second} {p[second]:.3f}\ta dull mess\n"


# made with the code of commit ad9bf49 (see tests/fixtures/checkpoints/README.md), and these lines are
# what that code's `rnnkit predict` printed for them
BEFORE = {
    "sentiment": (["a warm and funny film", "a dull mess"],
                  ["pos 0.519  neg 0.481\ta warm and funny film", "neg 0.523  pos 0.477\ta dull mess"]),
    "spam": ([str(EMAILS / "spam" / "0001.eml"), str(EMAILS / "ham" / "0002.eml")],
             [f"ham 0.563  spam 0.437\t{EMAILS / 'spam' / '0001.eml'}",
              f"ham 0.605  spam 0.395\t{EMAILS / 'ham' / '0002.eml'}"]),
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_a_checkpoint_of_the_pre_contract_recipe_predicts_as_it_did(name: str, capsys: pytest.CaptureFixture[str]):
    inputs, lines = BEFORE[name]
    capsys.readouterr()
    assert main(["predict", str(FIXTURES / "checkpoints" / f"{name}-2026-11.pt"), *inputs]) == 0
    assert capsys.readouterr().out.splitlines() == lines


@pytest.fixture(scope="module")
def spam_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny spam models trained on the fixture e-mails: on whole e-mails, and on bodies only."""
    root = tmp_path_factory.mktemp("spam")
    runs = {"whole": root / "whole", "body": root / "body"}
    for kind, out in runs.items():
        body = ["--body-only"] if kind == "body" else []
        assert main(["recipe", "spam", "--data", str(EMAILS), "--out", str(out), "--dev-fraction", "0.25",
                     "--test-fraction", "0.25", *TINY, *QUICK, *body]) == 0
    return runs


def test_a_whole_email_spam_model_refuses_bare_text_and_says_what_it_takes(spam_runs: dict[str, Path],
                                                                           capsys: pytest.CaptureFixture[str]):
    capsys.readouterr()
    assert main(["predict", str(spam_runs["whole"]), BARE]) == 2
    err = capsys.readouterr().err
    assert "trained on whole e-mails" in err
    assert ".eml" in err
    assert "CSV/TSV" in err
    assert "rnnkit recipe spam --body-only" in err
    assert "Traceback" not in err


def test_a_whole_email_spam_model_reads_files_folders_raw_emails_and_its_csv(spam_runs: dict[str, Path], tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]):
    run = spam_runs["whole"]
    table = tmp_path / "mail.csv"
    table.write_text('text,label\n"' + CRUISE_EMAIL + '",spam\n')
    raw = f"Subject: You WON a FREE cruise!!!\n\n{CRUISE_BODY}"
    results = predicted(capsys, str(run), str(EMAILS / "spam" / "0001.eml"), str(EMAILS), raw, str(table))
    files = sorted(str(p) for p in EMAILS.rglob("*.eml"))
    assert [r["input"] for r in results] == [str(EMAILS / "spam" / "0001.eml"), *files, raw.replace("\n", " "),
                                             CRUISE_EMAIL.replace("\n", " ")]
    want = reference(run, [CRUISE_EMAIL])[0]  # the subject and body of spam/0001.eml, whichever way they came
    for i in (0, 1 + files.index(str(EMAILS / "spam" / "0001.eml")), 5, 6):
        assert probabilities(results[i]) == pytest.approx(want, abs=2e-6)


def test_a_body_only_spam_model_reads_bare_text_and_the_bodies_of_emails(spam_runs: dict[str, Path],
                                                                        capsys: pytest.CaptureFixture[str]):
    run = spam_runs["body"]
    assert load_checkpoint(run)["config"]["body_only"] is True
    results = predicted(capsys, str(run), BARE, str(EMAILS / "spam" / "0001.eml"))
    assert results[0]["input"] == BARE
    assert probabilities(results[0]) == pytest.approx(reference(run, [BARE])[0], abs=2e-6)
    # the body, no subject
    assert probabilities(results[1]) == pytest.approx(reference(run, [CRUISE_BODY])[0], abs=2e-6)
    assert probabilities(results[1]) != pytest.approx(reference(run, [CRUISE_EMAIL])[0], abs=2e-6)


def test_predict_help_says_what_each_recipe_takes(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as stop:
        main(["predict", "--help"])
    assert stop.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert f"spam: {' '.join(SpamRecipe.inputs.split())}" in shown
    assert "bare text (a sentence) only if trained with --body-only" in shown
    assert "sentiment: sentences" in shown
