"""Token accuracy and entity-level F1 (seqeval in its default, conlleval, mode) worked by hand."""

from __future__ import annotations

import pytest

from rnnkit.recipes.tagging.recipe import tag_metrics


def test_entity_scores_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O", "B-LOC"]]
    # gold: PER(0,0-1) LOC(0,3) ORG(1,0) PER(1,2) = 4; pred: PER(0,0) LOC(0,3) ORG(1,0) LOC(1,2) = 4
    # exact matches: LOC(0,3), ORG(1,0) = 2 (the truncated PER span does not count): P = R = F1 = 50%
    m = tag_metrics(gold, pred, bio=True)
    assert m == pytest.approx({"accuracy": 5 / 7, "precision": 50.0, "recall": 50.0, "f1": 50.0})


def test_inside_tag_after_o_or_another_type_opens_an_entity_as_conlleval_does():
    # gold: PER(0-1) LOC(3) LOC(4) ORG(5-6) PER(8): I-ORG after B-LOC, and I-PER after O, open entities
    gold = [["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG", "I-ORG", "O", "I-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "O", "B-PER"]]
    # pred: PER(0-1) LOC(3-4) ORG(5-6) PER(8): matches PER(0-1), ORG(5-6), PER(8) -> P = 3/4, R = 3/5
    m = tag_metrics(gold, pred, bio=True)
    assert (m["precision"], m["recall"]) == pytest.approx((75.0, 60.0))
    assert m["f1"] == pytest.approx(100 * 2 * 0.75 * 0.6 / 1.35)


def test_entities_do_not_run_across_sentences():
    # one sentence ending in B-A, the next starting with I-A: two entities, not one spanning the boundary
    gold = [["O", "B-A"], ["I-A", "O"]]
    assert tag_metrics(gold, [["O", "B-A"], ["B-A", "O"]], bio=True)["f1"] == pytest.approx(100.0)


def test_nothing_to_find_and_nothing_found_scores_zero_and_plain_tags_only_accuracy():
    assert tag_metrics([["O", "O"]], [["O", "O"]],
                       bio=True) == {"accuracy": 1.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    # an empty split
    assert tag_metrics([], [], bio=True) == {"accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert tag_metrics([["NOUN", "VERB"]], [["NOUN", "NOUN"]], bio=False) == {"accuracy": 0.5}
    with pytest.raises(ValueError, match=r"do not align with the gold tags \(sentence lengths \[1\] against \[2\]\)"):
        tag_metrics([["O", "O"]], [["O"]], bio=False)
