"""Scoring a fraud detector: the precision-recall curve, ROC, recall at a fixed false-positive rate.

A detector gives each transaction a score s; flagging every one with s >= t gives, over the
P frauds and N genuine transactions,

    TP(t) = #{fraud: s >= t}    FP(t) = #{genuine: s >= t}
    R(t) = TP / P (recall)      Pr(t) = TP / (TP + FP) (precision)      FPR(t) = FP / N
    AP = sum_k (R(t_k) - R(t_k-1)) Pr(t_k)   over the distinct scores t_1 > t_2 > ..., R(t_0) = 0   (1)
    AUC = P(s_fraud > s_genuine) + 1/2 P(s_fraud = s_genuine)                                     (2)
    recall@FPR a = max {R(t): FPR(t) <= a}   (0 if no threshold keeps FPR <= a)                    (3)

(1) is the area under the precision-recall curve without interpolation (scikit-learn's
``average_precision_score``): with 0.17% frauds it is the figure that says how much of what a
model flags is fraud; ROC-AUC (2) is near 1 for any reasonable model here. (3) asks what a bank
with a fixed budget of false alarms catches; thresholds are not interpolated between, since a
bank can only pick one of them.
"""

from __future__ import annotations

import numpy as np


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, s = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"fraud metrics: labels and scores must be two 1-D arrays of one length, got {y.shape} and "
                         f"{s.shape}.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("fraud metrics: labels must be 0 (genuine) or 1 (fraud), got "
                         f"{sorted(set(y.tolist()) - {0, 1})[:5]}.")
    if y.sum() == 0 or y.sum() == len(y):
        raise ValueError(f"fraud metrics: need frauds and genuine transactions both, got {int(y.sum())} frauds of "
                         f"{len(y)}.")
    return y.astype(np.int64), s


def counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP(t), FP(t) and t at each distinct score t, highest first (ties flag together)."""
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each run of equal scores
    tp = np.cumsum(y)[last]
    return tp, last + 1 - tp, s[last]


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """AP (1): the area under the precision-recall curve, as a step function."""
    tp, fp, _ = counts(labels, scores)
    recall = tp / tp[-1]
    precision = tp / (tp + fp)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))  # (1)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC (2), as the trapezoid area under (FPR, TPR): a tie between classes counts a half."""
    tp, fp, _ = counts(labels, scores)
    tpr, fpr = np.r_[0.0, tp / tp[-1]], np.r_[0.0, fp / fp[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # (2)


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float = 0.001) -> float:
    """(3): the highest recall of a threshold whose false-positive rate is at most ``max_fpr``."""
    if not 0 <= max_fpr <= 1:
        raise ValueError(f"fraud metrics: max_fpr is a rate in [0, 1], got {max_fpr}.")
    tp, fp, _ = counts(labels, scores)
    ok = fp / fp[-1] <= max_fpr
    return float(tp[ok].max() / tp[-1]) if ok.any() else 0.0  # (3)


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The threshold t (flag s >= t) with the highest F1 = 2 Pr R / (Pr + R); the highest such t on a tie."""
    tp, fp, t = counts(labels, scores)
    f1 = 2 * tp / (2 * tp + fp + (tp[-1] - tp))  # 2TP / (2TP + FP + FN)
    return float(t[int(np.argmax(f1))])


def at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of flagging every transaction with a score >= ``threshold``."""
    y, s = _check(labels, scores)
    flagged = s >= threshold
    tp = int((flagged & (y == 1)).sum())
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / int(y.sum())
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def scores_of(labels: np.ndarray, scores: np.ndarray, threshold: float, max_fpr: float) -> dict[str, float]:
    """Every figure the recipe reports, for one detector on one split."""
    return {
        "auprc": average_precision(labels, scores),
        "roc_auc": roc_auc(labels, scores),
        f"recall_at_{max_fpr * 100:g}pct_fpr": recall_at_fpr(labels, scores, max_fpr),
        **at_threshold(labels, scores, threshold),
    }
