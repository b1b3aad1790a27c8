"""ROUGE, lead-k and the greedy oracle on hand cases whose answers are worked out in the comments,
and the oracle against a brute-force search over every subset of small documents."""

from __future__ import annotations

import random
from itertools import combinations

import pytest
from rouge_score import rouge_scorer

from rnnkit.recipes.extract.baselines import greedy_oracle, lead, oracle_score
from rnnkit.recipes.rouge import ngram_f1, ngrams, rouge, tokens

DOC = ["the cat sat on the mat .", "dogs bark at night .", "the cat ate a fish .", "it rained all day .",
       "a cat is an animal ."]
SUMMARY = "The cat sat on the mat and ate a fish."


def test_rouge_of_a_hand_case():
    # "the cat sat" against "the cat sat on the mat":
    # ROUGE-1: 3 of 3 predicted words match, 3 of 6 reference words: P = 1, R = 1/2, F = 2/3
    # ROUGE-2: both predicted bigrams match, 2 of the 5 reference bigrams: P = 1, R = 2/5, F = 0.8/1.4 = 4/7
    # ROUGE-L: the longest common subsequence is the 3 words: as ROUGE-1, 2/3
    scores = rouge(["the cat sat on the mat"], ["the cat sat"])
    assert scores == pytest.approx({"rouge1": 200 / 3, "rouge2": 400 / 7, "rougeL": 200 / 3})
    # the mean over pairs: a perfect pair (100) and a disjoint one (0)
    assert rouge(["a b c", "a b c"],
                 ["a b c", "x y"]) == pytest.approx({"rouge1": 50.0, "rouge2": 50.0, "rougeL": 50.0})
    with pytest.raises(ValueError, match="2 references but 1 predictions"):
        rouge(["a", "b"], ["a"])


def test_rnnkit_rouge_equals_rouge_score_with_its_default_stemming_tokenizer():
    reference = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rng = random.Random(0)
    words = ["models", "modelling", "modeled", "the", "a", "running", "runs", "ran", "cats", "cat's",
             "state-of-the-art", "20", "%", "BLEU", "improves", "improved"]
    for _ in range(50):
        target, prediction = (" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(2))
        theirs = reference.score(target, prediction)
        ours = rouge([target], [prediction])
        assert ours == pytest.approx({k: 100 * theirs[k].fmeasure for k in ours}, abs=1e-9)
        # and the n-gram F1 the oracle searches with is rouge-score's ROUGE-1 and ROUGE-2
        for n in (1, 2):
            f1 = ngram_f1(ngrams(tokens(prediction), n), ngrams(tokens(target), n))
            assert f1 == pytest.approx(theirs[f"rouge{n}"].fmeasure, abs=1e-12)


def test_lead_takes_the_first_sentences():
    assert lead(5, 3) == [0, 1, 2]
    assert lead(2, 3) == [0, 1]  # a document shorter than k gives all it has
    with pytest.raises(ValueError, match="k must be at least 1"):
        lead(5, 0)


def brute_force(doc: list[str], summary: str) -> tuple[tuple[int, ...], float]:
    """The subset with the highest ROUGE-1 + ROUGE-2 F1, every subset scored by rouge-score itself."""
    def score(subset: tuple[int, ...]) -> float:
        r = rouge([summary], [" ".join(doc[i] for i in subset)])
        return r["rouge1"] + r["rouge2"]
    best = max((c for k in range(1, len(doc) + 1) for c in combinations(range(len(doc)), k)), key=score)
    return best, score(best)


def test_greedy_oracle_finds_the_best_subset_of_a_hand_case():
    # greedy: sentence 0 alone scores R1 + R2 = 146.4, the most of any one sentence; adding 2 ("ate a fish")
    # raises it to 159.4; adding any third sentence lowers it (0, 2, 4: 127.6), so it stops at [0, 2],
    # which is also the best of all 31 subsets
    chosen = greedy_oracle([tokens(s) for s in DOC], tokens(SUMMARY))
    assert chosen == [0, 2]
    best, score = brute_force(DOC, SUMMARY)
    assert best == (0, 2)
    assert 100 * oracle_score(chosen, [tokens(s) for s in DOC], tokens(SUMMARY)) == pytest.approx(score)
    assert greedy_oracle([tokens(s) for s in DOC], tokens(SUMMARY), max_sentences=1) == [0]
    assert greedy_oracle([tokens(s) for s in DOC], tokens("nothing in common")) == []  # no sentence scores above 0


def test_greedy_oracle_against_brute_force_on_random_small_documents():
    rng = random.Random(1)
    words = ["the", "cat", "dog", "sat", "ran", "on", "mat", "fish", "a", "rug", "ate"]
    hits = 0
    for _ in range(25):
        doc = [" ".join(rng.choices(words, k=rng.randint(2, 6))) for _ in range(rng.randint(2, 6))]
        summary = " ".join(rng.choices(words, k=rng.randint(3, 8)))
        toks, ref = [tokens(s) for s in doc], tokens(summary)
        chosen = greedy_oracle(toks, ref)
        greedy_score = 100 * oracle_score(chosen, toks, ref)
        best, best_score = brute_force(doc, summary)
        assert greedy_score <= best_score + 1e-9  # greedy never beats the exhaustive search
        if chosen:  # what it reports is what rouge-score gives its choice
            r = rouge([summary], [" ".join(doc[i] for i in chosen)])
            assert greedy_score == pytest.approx(r["rouge1"] + r["rouge2"])
        # and no single sentence added to its choice would raise the score: it stopped at a local optimum
        for j in set(range(len(doc))) - set(chosen):
            assert oracle_score([*chosen, j], toks, ref) <= greedy_score / 100 + 1e-12
        hits += greedy_score == pytest.approx(best_score)
    assert hits >= 20  # on documents this small greedy is almost always the optimum
