"""The chat recipe end to end on the hand-written fixture: it learns the two scripts (whose replies depend on
the turn before the query), beats its baselines there, and `rnnkit chat` answers piped lines in context."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.models.pointer import PointerGenerator
from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.chat import data as cd
from rnnkit.recipes.chat.recipe import (
    SPECIALS,
    ChatConfig,
    ChatRecipe,
    candidate_scores,
    detokenize,
    no_context,
    source_ids,
)
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
    assert test["recall@1"] == test["pmi_recall@1"]  # the default score
    assert {"likelihood_recall@1", "likelihood_recall@2"} <= set(test)  # the plain likelihood's ranking, reported too
    assert 0 < test["beam_distinct_1"] <= 1
    assert test["beam_length"] > 1
    examples = (trained / "examples.md").read_text()
    counts = [examples.count(f"- {what}: ") for what in ("true response", "model, beam", "TF-IDF retrieval")]
    assert counts[0] == counts[1] == counts[2] > 3


def test_vocabulary_comes_from_the_training_conversations_only(trained: Path):
    run = load_run(trained, all_recipes())
    conversations = cd.read_conversations(FIXTURE)
    train = cd.split_conversations(list(conversations), seed=0, dev=0.25, test=0.25)["train"]
    words = {w for cid in train for turn in conversations[cid] for w in tokenize(turn)}
    vocab = TokenVocab.from_dict(run.meta["vocab"])
    assert vocab.itos[: len(SPECIALS)] == list(SPECIALS)
    assert set(vocab.itos[len(SPECIALS) :]) == words


def chat(run_dir: Path, lines: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         *flags: str) -> list[str]:
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


def test_candidate_scores_are_the_models_likelihoods_per_token(trained: Path):
    # independent path: the model's own forward (teacher forcing, mean negative log-likelihood per token)
    run = load_run(trained, all_recipes())
    model, vocab = run.model, TokenVocab.from_dict(run.meta["vocab"])
    assert isinstance(model, PointerGenerator)
    assert model.pg_config.copy
    eos = vocab.stoi["<eos>"]
    texts = [(["i feel tired"], "you should rest"), (["hi there, how are you?"], "i feel hungry"),
             (["ok, any tips?"], "try the taco place")]
    rows = [(source_ids([tokenize(t) for t in turns], vocab, 40), vocab.encode(tokenize(r))) for turns, r in texts]
    rankings = [(0, [1, 2]), (2, [0, 1])]
    scores = candidate_scores(model, rows, rankings, no_context(vocab))

    def logp(source: list[int], response: list[int]) -> float:
        targets = torch.tensor([[*response, eos]])
        _, loss = model(torch.tensor([source]), targets)
        assert loss is not None
        return -loss.item() * targets.size(1)

    with torch.no_grad():
        pairs = [(q, j) for q, others in rankings for j in [q, *others]]
        given = [logp(rows[q][0], rows[j][1]) / (len(rows[j][1]) + 1) for q, j in pairs]
        alone = [logp(no_context(vocab), rows[j][1]) / (len(rows[j][1]) + 1) for _, j in pairs]
    torch.testing.assert_close(scores["likelihood"], given, rtol=1e-5, atol=1e-6)  # float32, summed in another order
    torch.testing.assert_close(scores["pmi"], [g - a for g, a in zip(given, alone, strict=True)], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.0])
def test_context_dropout_hides_that_share_of_training_contexts(rate: float):
    recipe = ChatRecipe()
    config = ChatConfig(data=str(FIXTURE), dev_fraction=0.25, test_fraction=0.25, candidates=4, batch_size=4,
                        context_dropout=rate)
    data = recipe.prepare_data(config)
    batches = list(recipe.batches(config, data, 1))
    hidden = no_context(data.vocab)
    sources = [row[: int(n)].tolist() for b in batches for row, n in zip(b["inputs"], b["lengths"], strict=True)]
    share = sum(s == hidden for s in sources) / len(sources)
    assert len(sources) == len(data.ids["train"])
    assert share == rate if rate in (0.0, 1.0) else 0.2 < share < 0.8
