"""AUPRC, ROC-AUC, recall at a false-positive rate and the F1 threshold: hand-worked cases, then scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from rnnkit.recipes.fraud import metrics


def test_hand_worked_ranking():
    # ranked by score: fraud, genuine, fraud, genuine.
    # AP = (1/2) * 1/1 + (1/2) * 2/3 = 5/6 (recall steps of 1/2 at precisions 1 and 2/3)
    # AUC: fraud 0.9 beats both genuines, fraud 0.7 beats one: 3 of 4 pairs
    y, s = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])
    assert metrics.average_precision(y, s) == pytest.approx(5 / 6)
    assert metrics.roc_auc(y, s) == pytest.approx(3 / 4)
    assert metrics.recall_at_fpr(y, s, 0.0) == 0.5  # flagging 0.9 alone: no false alarm
    assert metrics.recall_at_fpr(y, s, 0.5) == 1.0  # down to 0.7: one of two genuines flagged


def test_ties_flag_together():
    # one fraud and one genuine with equal scores: a tie counts half in AUC; AP is the precision 1/2 at recall 1
    y, s = np.array([1, 0]), np.array([0.5, 0.5])
    assert metrics.roc_auc(y, s) == 0.5
    assert metrics.average_precision(y, s) == 0.5
    assert metrics.recall_at_fpr(y, s, 0.9) == 0.0  # the only threshold that catches the fraud flags the genuine too


def test_recall_at_a_tenth_of_a_percent():
    # 1,000 genuine scores 0..999; frauds at 1000.5 and 999.5 (above every genuine), 998.5 (above all but 999), 500
    genuine, fraud = np.arange(1000.0), np.array([1000.5, 999.5, 998.5, 500.0])
    y, s = np.r_[np.zeros(1000, int), np.ones(4, int)], np.r_[genuine, fraud]
    assert metrics.recall_at_fpr(y, s, 0.001) == 0.75  # one false alarm in 1,000 allowed: the third fraud is caught
    assert metrics.recall_at_fpr(y, s, 0.0) == 0.5
    assert metrics.recall_at_fpr(y, s, 0.5) == 1.0  # 500 needs genuines 500..999 flagged: 500/1000


def test_best_f1_threshold_and_the_figures_at_it():
    # thresholds 0.9, 0.8, 0.7, 0.6, 0.5: F1 = 2TP/(2TP+FP+FN) = 2/4, 4/5, 4/6, 6/7, 6/8, ...: best at 0.6
    y, s = np.array([1, 1, 0, 1, 0, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert metrics.best_f1_threshold(y, s) == 0.6
    assert metrics.at_threshold(y, s, 0.6) == pytest.approx({"precision": 3 / 4, "recall": 1.0, "f1": 6 / 7})
    assert metrics.at_threshold(y, s, 0.95) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


@pytest.mark.parametrize("seed", range(5))
def test_against_scikit_learn_with_ties(seed: int):
    rng = np.random.default_rng(seed)
    y = (rng.random(3000) < 0.02).astype(int)
    s = np.round(rng.normal(size=3000) + 2 * y, 1)  # rounded: many ties, inside and across classes
    assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    for a in (0.0, 0.001, 0.01, 0.1):
        assert metrics.recall_at_fpr(y, s, a) == pytest.approx(tpr[fpr <= a].max(), abs=1e-12)


def test_metrics_refuse_what_they_cannot_score():
    with pytest.raises(ValueError, match=r"need frauds and genuine transactions both, got 0 frauds of 3"):
        metrics.average_precision(np.zeros(3, int), np.arange(3.0))
    with pytest.raises(ValueError, match=r"labels must be 0 \(genuine\) or 1 \(fraud\), got \[2\]"):
        metrics.roc_auc(np.array([0, 1, 2]), np.arange(3.0))
    with pytest.raises(ValueError, match=r"two 1-D arrays of one length"):
        metrics.recall_at_fpr(np.array([0, 1]), np.arange(3.0))
