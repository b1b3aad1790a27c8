"""The chat recipe end to end on the hand-written fixture: it learns the two scripts (whose replies depend on
the turn before the query), beats its baselines there, and `rnnkit chat` answers piped lines in context."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.chat import data as cd
from rnnkit.recipes.chat.recipe import SPECIALS, ChatConfig, ChatRecipe, detokenize, source_ids
from rnnkit.recipes.text import TokenVocab, tokenize

FIXTURE = Path(__file__).parents[2] / "fixtures" / "recipes" / "chat" / "dataset.json"
TINY = ["--data", str(FIXTURE), "--dev-fraction", "0.25", "--test-fraction", "0.25", "--embed-size", "16",
        "--hidden-size", "32", "--batch-size", "8", "--epochs", "30", "--patience", "0", "--lr", "0.02",
        "--candidates", "4", "--vocab-size", "100", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chat") / "run"
    assert main(["recipe", "chat", *TINY, "--out", str(out)]) == 0
    return out


def test_learns_the_fixture_and_beats_its_baselines(trained: Path):
    summary = json.loads((trained / "results.json").read_text())
    test = summary["test"]
    bigram = next(v for k, v in summary["baselines"].items() if k.startswith("word bigram"))
    tfidf = summary["baselines"]["TF-IDF retrieval"]
    assert summary["history"][0]["train_loss"] > 1.5 > 0.3 > summary["history"][-1]["train_loss"]
    # "hi there, how are you?" is answered "i feel tired" or "... hungry" alike: the best possible loss is above 0
    assert test["perplexity"] < 1.3 < bigram["perplexity"]
    assert test["recall@1"] > max(0.6, tfidf["recall@1"])  # chance: 1 of 4
    assert 0 < test["beam_distinct_1"] <= 1
    assert test["beam_length"] > 1
    examples = (trained / "examples.md").read_text()
    assert examples.count("- true response: ") == examples.count("- model, beam: ") == examples.count("- TF-IDF retrieval: ") > 3


def test_vocabulary_comes_from_the_training_conversations_only(trained: Path):
    run = load_run(trained, all_recipes())
    conversations = cd.read_conversations(FIXTURE)
    train = cd.split_conversations(list(conversations), seed=0, dev=0.25, test=0.25)["train"]
    words = {w for cid in train for turn in conversations[cid] for w in tokenize(turn)}
    vocab = TokenVocab.from_dict(run.meta["vocab"])
    assert vocab.itos[: len(SPECIALS)] == list(SPECIALS)
    assert set(vocab.itos[len(SPECIALS) :]) == words


def chat(run_dir: Path, lines: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *flags: str) -> list[str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    capsys.readouterr()
    assert main(["chat", str(run_dir), *flags]) == 0
    return capsys.readouterr().out.splitlines()


CONVERSATION = "i feel tired\nok, any tips?\n/reset\ni feel hungry\nok, any tips?\n"
REPLIES = ["bot> you should rest", "bot> sleep early tonight", "bot> (new conversation)", "bot> you should eat",
           "bot> try the taco place"]


@pytest.mark.parametrize("flags", [("--beam", "3"), ("--temperature", "0.05")], ids=["beam", "sampled"])
def test_chat_answers_piped_lines_in_context(trained: Path, monkeypatch, capsys, flags):
    # the same line, "ok, any tips?", gets the reply that fits what was said before it
    assert chat(trained, CONVERSATION, monkeypatch, capsys, *flags) == REPLIES


def test_chat_streams_sampled_words_as_they_are_decoded(trained: Path):
    run = load_run(trained, all_recipes())
    assert isinstance(run.recipe, ChatRecipe)
    assert isinstance(run.config, ChatConfig)
    words = run.recipe.reply(run.model, run.config, run.meta, ["i feel hungry", "you should eat", "ok, any tips?"],
                             temperature=0.05)
    assert next(words) == "try"  # the first word is out before the rest are decoded
    assert detokenize(["try", *words]) == "try the taco place"


def test_predict_and_chat_refuse_bad_input(trained: Path, tmp_path: Path, monkeypatch, capsys):
    assert main(["predict", str(trained), "i feel tired", "you should rest", "ok, any tips?"]) == 0
    assert capsys.readouterr().out.strip() == "sleep early tonight"
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    assert main(["chat", str(trained), "--beam", "-1"]) == 2
    assert "--beam must be >= 0" in capsys.readouterr().err
    assert main(["chat", str(trained), "--top-p", "1.5"]) == 2
    assert "top_p must be in (0, 1]" in capsys.readouterr().err
    assert main(["chat", str(FIXTURE)]) == 2  # not a checkpoint
    capsys.readouterr()
    bad = tmp_path / "dataset.json"
    bad.write_text('{"c1": {"messages": [[{"text": "hi", "sender": "a"}]]},\n"c2": 5}')
    assert main(["recipe", "chat", "--data", str(bad), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert f"{bad}:2: conversation 'c2'" in capsys.readouterr().err


def test_source_keeps_the_last_tokens_with_separators():
    vocab = TokenVocab([*SPECIALS, "a", "b", "c"])
    sep = vocab.stoi["<sep>"]
    assert source_ids([["a", "b"], ["c"]], vocab, 10) == [5, 6, sep, 7]
    assert source_ids([["a", "b"], ["c", "zzz"]], vocab, 3) == [sep, 7, vocab.unk_id]  # cut from the left
    assert source_ids([[]], vocab, 5) == [vocab.unk_id]  # never empty
    assert detokenize(["hi", ",", "how", "are", "you", "?", "(", "ok", ")"]) == "hi, how are you? (ok)"
