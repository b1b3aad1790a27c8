"""The Chit-Chat reader on the hand-written fixture (real format): turns joined per sender, pairs, the
split by conversation, and bad files named with the place; the metrics and baselines on hand-made cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from support import fetched

from rnnkit.recipes.chat import data as cd
from rnnkit.recipes.chat import metrics
from rnnkit.recipes.chat.baselines import BigramLM, TfidfRetrieval
from rnnkit.recipes.text import tokenize
from rnnkit.utils.reading import DataFormatError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "recipes" / "chat" / "dataset.json"
TIRED = ["Hello!", "hi there, how are you?", "i feel tired", "you should rest", "ok, any tips?", "sleep early tonight",
         "thanks, good night", "good night!"]
HUNGRY = ["Hello!", "hi there, how are you?", "i feel hungry", "you should eat", "ok, any tips?", "try the taco place",
          "thanks, see you", "see you!"]


def expected_turns(c: int) -> list[str]:
    """Conversation c of the fixture: six turns of one of the two scripts, from turn (c // 2) % 3."""
    chain = TIRED if c % 2 == 0 else HUNGRY
    return chain[(c // 2) % 3 : (c // 2) % 3 + 6]


def test_fixture_turns_join_back_to_back_messages_of_one_sender():
    conversations = cd.read_conversations(FIXTURE)
    assert len(conversations) == 12
    for n, (cid, turns) in enumerate(conversations.items()):
        assert cid.startswith(f"0000000{n:x}-")
        assert turns == expected_turns(n)
    raw = json.loads(FIXTURE.read_text())
    first = raw["00000000-1111-4222-8333-444444444444"]["messages"][1]
    assert [m["text"] for m in first] == ["hi there,", "how are you?"]  # two messages -> one turn
    split = raw["00000003-1111-4222-8333-444444444444"]["messages"]
    # ... and two groups of one sender, with a double space and an empty message -> "try the taco place"
    assert [[m["text"] for m in g] for g in split[4:6]] == [["try the"], ["taco  place", "  "]]


def test_pairs_take_the_turns_before_each_response():
    turns = ["a", "b", "c", "d"]
    assert cd.conversation_pairs(turns, 2) == [(["a"], "b"), (["a", "b"], "c"), (["b", "c"], "d")]
    assert cd.conversation_pairs(turns, 1) == [(["a"], "b"), (["b"], "c"), (["c"], "d")]
    assert cd.conversation_pairs(["only"], 2) == []
    with pytest.raises(ValueError, match="context_turns must be >= 1"):
        cd.conversation_pairs(turns, 0)


def test_split_is_by_conversation_seeded_and_complete():
    ids = [f"c{i}" for i in range(40)]
    parts = cd.split_conversations(ids, seed=3)
    assert [len(parts[s]) for s in ("train", "dev", "test")] == [36, 2, 2]
    assert sorted(parts["train"] + parts["dev"] + parts["test"]) == sorted(ids)
    assert parts == cd.split_conversations(list(reversed(ids)), seed=3)  # the order given does not matter
    assert parts != cd.split_conversations(ids, seed=4)
    with pytest.raises(ValueError, match="at least 3"):
        cd.split_conversations(["a", "b"], seed=0)


@pytest.mark.parametrize(("text", "message"), [
    ('{"c1": {"messages": [[{"text": "hi", "sender": "a"}]]},\n "c2": {"messages": [[', r"bad\.json:2: not valid JSON"),
    ('[1, 2]', r"bad\.json:1: the file holds a JSON list"),
    ('{"c1": {"messages": [[{"text": "hi", "sender": "a"}]]},\n"c2": {"prompt": "x"}}',
     r"bad\.json:2: conversation 'c2':  has no list 'messages'"),
    ('{\n"c1": {"messages": [[{"text": "hi", "sender": "a"}],\n [{"text": 5, "sender": "b"}]]}}',
     r"bad\.json:2: conversation 'c1': messages\[1\]\[0\]\.text is missing or not a string"),
    ('{"c1": {"messages": [[{"text": "hi"}]]}}', r"bad\.json:1: conversation 'c1': messages\[0\]\[0\]\.sender"),
    ('{"c1": {"messages": ["hi"]}}', r"messages\[0\] is a str; expected a list of messages"),
])
def test_bad_files_are_named_with_the_line_and_place(tmp_path: Path, text: str, message: str):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        cd.read_conversations(bad)


def test_missing_file_and_missing_package(tmp_path: Path, offline_cache: Path):
    with pytest.raises(FileNotFoundError, match="no file"):
        cd.read_conversations(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError,
                       match=r"chitchat-dataset 0\.9\.0.*pip download --no-deps chitchat-dataset==0\.9\.0"):
        cd.load_packaged()


# ---- metrics ------------------------------------------------------------------------------------


def test_recall_at_k_on_a_hand_made_ranking():
    # query 1: true 0.9 beats all; query 2: two above it; query 3: one above, tied with one (rank 2 or 3)
    rankings = [(0.9, [0.1, 0.5, 0.3]), (0.4, [0.6, 0.7, 0.2]), (0.5, [0.8, 0.5, 0.1])]
    assert metrics.mean_recall_at_k(rankings, 1) == pytest.approx((1 + 0 + 0) / 3)
    assert metrics.mean_recall_at_k(rankings, 2) == pytest.approx((1 + 0 + 0.5) / 3)
    assert metrics.mean_recall_at_k(rankings, 3) == pytest.approx((1 + 1 + 1) / 3)
    assert metrics.recall_at_k(0.0, [0.0] * 9, 1) == pytest.approx(0.1)  # all tied: chance
    with pytest.raises(ValueError, match="no queries"):
        metrics.mean_recall_at_k([], 1)


def test_distinct_n_and_length_by_hand():
    replies = [["i", "am", "fine"], ["i", "am", "tired"], ["ok"]]
    # unigrams: i am fine i am tired ok -> 5 distinct of 7; bigrams: (i am) (am fine) (i am) (am tired) -> 3 of 4
    assert metrics.distinct_n(replies, 1) == pytest.approx(5 / 7)
    assert metrics.distinct_n(replies, 2) == pytest.approx(3 / 4)
    assert metrics.distinct_n([["ok"]], 2) == 0.0
    assert metrics.mean_length(replies) == pytest.approx(7 / 3)


def test_perplexity_is_exp_of_the_mean_negative_log_probability():
    assert metrics.perplexity(2 * math.log(0.25), 2) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="at least one token"):
        metrics.perplexity(0.0, 0)


def test_add_k_bigram_on_a_hand_computed_case():
    # training responses "a b" and "a"; outcomes O = {a, b, <unk>, </s>}: |O| = 4, k = 1
    lm = BigramLM([["a", "b"], ["a"]], "<s>", "</s>", outcomes=4, k=1.0)
    # c(<s>)=2, c(<s>,a)=2; c(a)=2, c(a,b)=1, c(a,</s>)=1; c(b)=1, c(b,</s>)=1
    # p("a b") = p(a|<s>) p(b|a) p(</s>|b) = (3/6) (2/6) (2/5)
    logp, n = lm.log_prob(["a", "b"])
    assert n == 3
    assert logp == pytest.approx(math.log(3 / 6 * 2 / 6 * 2 / 5))
    # an unseen pair still has probability: p(b|<s>) = 1/6, p(</s>|b) = 2/5
    assert lm.log_prob(["b"])[0] == pytest.approx(math.log(1 / 6 * 2 / 5))
    total, tokens = lm.corpus_log_prob([["a", "b"], ["b"]])
    assert tokens == 5
    assert metrics.perplexity(total, tokens) == pytest.approx((3 / 6 * 2 / 6 * 2 / 5 * 1 / 6 * 2 / 5) ** (-1 / 5))
    # with k = 0.5: p(a|<s>) = 2.5 / 4
    assert lm.with_k(0.5).log_prob(["a"])[0] == pytest.approx(math.log(2.5 / 4 * 1.5 / 4))
    with pytest.raises(ValueError, match="k must be > 0"):
        lm.with_k(0.0)
    # the probabilities of every next token after "a" sum to one over O
    probs = [(lm.pairs["a", w] + 1) / (lm.history["a"] + 4) for w in ("a", "b", "<unk>", "</s>")]
    assert sum(probs) == pytest.approx(1.0)


def test_tfidf_retrieval_ranks_by_cosine_and_replies_from_the_nearest_context():
    contexts = ["do you like pizza", "what is your major", "where do you live"]
    responses = ["pizza is great", "i study physics", "i live in provo"]
    tfidf = TfidfRetrieval(contexts, responses, tokenize)
    assert tfidf.reply(["what major are you", "favourite pizza topping?"]) == ["i study physics", "pizza is great"]
    sims = tfidf.similarity(["love pizza"] * 3, responses)
    assert sims[0] > 0
    assert sims[1] == sims[2] == 0  # no word in common
    assert tfidf.similarity(["pizza is great"], ["pizza is great"])[0] == pytest.approx(1.0)


@pytest.mark.slow
def test_the_packaged_data_has_the_counts_the_issue_gives():
    conversations = fetched(cd.load_packaged, "chitchat-dataset")
    assert len(conversations) == cd.CONVERSATIONS == 7168
    # the issue's count, adjacent message groups read with json alone: 131,569; 12 groups are all empty text
    raw = json.loads(cd.package_file(*cd.PACKAGE))
    assert sum(len(c["messages"]) - 1 for c in raw.values()) == 131_569
    assert sum(len(g) for c in raw.values() for g in c["messages"]) == cd.MESSAGES
    empty = sum(not "".join(m["text"] for m in g).strip() for c in raw.values() for g in c["messages"])
    assert empty == 12
    # dropping an empty turn joins its neighbours (both the other person's): 21 pairs fewer
    assert sum(len(cd.conversation_pairs(t, 1)) for t in conversations.values()) == cd.PAIRS == 131_548
