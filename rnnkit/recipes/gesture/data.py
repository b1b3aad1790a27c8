"""Gesture and activity recognition (many-to-one over multichannel real-valued sequences).

Data: UEA/UCR archive problems in the ``.ts`` format, read from the files shipped inside the
PyPI ``aeon`` wheel (``pip download --no-deps aeon==1.6.0`` into the cache; aeon itself and
its heavy dependencies are not installed): BasicMotions (6-channel accelerometer and
gyroscope, 4 activities, 40 train / 40 test, T = 100), PickupGestureWiimoteZ (10 gestures,
variable length 29-361), GunPoint (2 classes, T = 150), and the others in that folder.
``--data TRAIN.ts --test TEST.ts`` reads your own ``.ts`` files, or UCR-style CSV/TSV files
(class label in the first column, then the values of one univariate series; trailing empty
cells end a shorter series).

Each channel is standardised with the training set's mean and deviation. With
``--dev-fraction 0`` (the default, since these training sets have 40-50 series) the model
trains for the given epochs and keeps the epoch with the lowest training loss.

Expected: 100% test accuracy on BasicMotions with the defaults (measured, 20 seconds),
as most classifiers in the UEA multivariate bake-off reach (Ruiz et al., 2021).

    rnnkit recipe gesture --dataset BasicMotions
    rnnkit predict runs/gesture BasicMotions_TEST.ts
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.recipes import classify
from rnnkit.recipes.classify import Labelled
from rnnkit.recipes.data_cache import archive_files, pypi_archive
from rnnkit.recipes.training import TrainConfig, fit
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args
from rnnkit.utils.reading import DataFormatError, decode_utf8, split_lines

AEON = ("aeon", "1.6.0")


@dataclass
class Series:
    """Sequences (T_n, C) with their class names, and the class names the file declares."""

    values: list[Tensor]
    labels: list[str]
    classes: list[str]


def parse_ts(text: str, name: str) -> Series:
    """The sktime/aeon ``.ts`` format: ``@`` header lines, then ``@data`` and one case per line,
    ``dim1values:dim2values:...:label`` with comma-separated values and ``?`` (or NaN) for missing.
    Errors are DataFormatErrors naming the file and line."""
    classes: list[str] = []
    values: list[Tensor] = []
    labels: list[str] = []
    in_data, has_labels, channels = False, True, None
    number = 0
    for number, line in enumerate(split_lines(text), start=1):
        line = line.strip()
        if not line or line.startswith(("#", "%")):  # comments (% as in ARFF, which .ts grew from)
            continue
        if not in_data:
            key, _, rest = line.partition(" ")
            key = key.lower()
            if key == "@data":
                in_data = True
            elif key == "@classlabel":
                words = rest.split()
                has_labels = bool(words) and words[0].lower() == "true"
                classes = words[1:]
            elif key == "@timestamps" and rest.strip().lower() == "true":
                raise DataFormatError(name, "time-stamped .ts files are not supported", "@timeStamps false", line=number,
                                      hint="Export the values without timestamps.")
            elif not key.startswith("@"):
                raise DataFormatError(name, f"{line[:60]!r} comes before '@data'", "a header line starting with '@'", line=number)
            continue
        fields = line.split(":")
        label = fields.pop().strip() if has_labels else ""
        if has_labels and classes and label not in classes:
            raise DataFormatError(name, f"class {label!r} is not among the declared classes {classes}",
                                  "one of the @classLabel classes", line=number)
        if has_labels and not label:
            raise DataFormatError(name, "the class label is empty", "'v1,v2,...:v1,v2,...:label'", line=number)
        dims = [[_value(v, name, number) for v in f.split(",")] for f in fields if f.strip()]
        if not dims or len(dims) != len(fields):
            raise DataFormatError(name, "a channel has no values", "'v1,v2,...:v1,v2,...:label'", line=number)
        if channels is None:
            channels = len(dims)
        if len(dims) != channels:
            raise DataFormatError(name, f"{len(dims)} channels, but earlier cases have {channels}", f"{channels} channels", line=number)
        if len({len(d) for d in dims}) != 1:
            raise DataFormatError(name, f"channels have different lengths {[len(d) for d in dims]}",
                                  "equal-length channels in each case", line=number)
        values.append(torch.tensor(dims, dtype=torch.float32).T)  # (T, C)
        labels.append(label)
    if not values:
        raise DataFormatError(name, "no cases after '@data'", "'@data' and then one case per line", line=number + 1)
    return Series(values, labels, classes or sorted(set(labels)))


def _value(cell: str, name: str, line: int) -> float:
    """One value of a series: a finite number, or ``?``/NaN for a missing one (becomes NaN)."""
    cell = cell.strip()
    if cell == "?" or cell.lower() == "nan":
        return math.nan
    if not cell:
        raise DataFormatError(name, "a value is empty", "comma-separated numbers (? for a missing one)", line=line)
    try:
        value = float(cell)
    except ValueError:
        raise DataFormatError(name, f"a value is not a number ({cell[:40]!r})",
                              "comma-separated numbers, ':' between channels (? for a missing one)", line=line) from None
    if not math.isfinite(value):
        raise DataFormatError(name, f"a value is {cell!r}", "finite numbers (? for a missing one)", line=line)
    return value


def parse_ucr(text: str, name: str, delimiter: str) -> Series:
    """UCR CSV/TSV: ``label,v1,v2,...`` per line (univariate); empty or NaN trailing cells end the series,
    a NaN elsewhere is a missing value."""
    values, labels = [], []
    number = 0
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        cells = line.rstrip().split(delimiter)
        while cells and cells[-1].strip() in ("", "NaN", "nan"):
            cells.pop()
        if len(cells) < 2 or not cells[0].strip():
            raise DataFormatError(name, f"got {line[:60]!r}", "a label and at least one value", line=number)
        series = [_value(v, name, number) for v in cells[1:]]
        values.append(torch.tensor(series, dtype=torch.float32).unsqueeze(1))  # (T, 1)
        labels.append(cells[0].strip())
    if not values:
        raise DataFormatError(name, "no series found", "a label and the values of one series per line", line=number + 1)
    return Series(values, labels, sorted(set(labels)))


def read_series(path: str | Path) -> Series:
    """Labelled multichannel series from a UEA/UCR ``.ts`` file, or a CSV/TSV with the label first on each line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}; pass a UEA/UCR .ts file or a CSV/TSV with the label first.")
    text = decode_utf8(path.read_bytes(), str(path))
    if path.suffix.lower() == ".ts":
        return parse_ts(text, str(path))
    return parse_ucr(text, str(path), "\t" if path.suffix.lower() in (".tsv", ".txt") else ",")


def aeon_dataset(name: str) -> tuple[Series, Series]:
    """Train and test splits of a problem bundled with aeon (``aeon/datasets/data/<name>/``)."""
    hint = "Pass --data TRAIN.ts --test TEST.ts to use your own files."
    archive = pypi_archive(*AEON, hint=hint)
    files = archive_files(archive, f"aeon/datasets/data/{name}/{name}_T*.ts")
    parts = {}
    for split in ("TRAIN", "TEST"):
        member = f"aeon/datasets/data/{name}/{name}_{split}.ts"
        if member not in files:
            known = sorted({m.split("/")[3] for m in archive_files(archive, "aeon/datasets/data/*/*_TRAIN.ts")})
            raise ValueError(f"recipe gesture: aeon has no data set {name!r}; available: {', '.join(known)}. {hint}")
        parts[split] = parse_ts(files[member].decode("utf-8", errors="replace"), f"{archive.name}:{member}")
    return parts["TRAIN"], parts["TEST"]


def standardise(values: list[Tensor], mean: Tensor, std: Tensor) -> list[Tensor]:
    """(x - mean) / std per channel; missing values (NaN) become 0, the channel mean."""
    return [torch.nan_to_num((v - mean) / std, nan=0.0) for v in values]


@dataclass(frozen=True)
class GestureConfig(TrainConfig):
    """Gesture/activity recognition: data, model and training settings."""

    dataset: str = field(default="BasicMotions", metadata={"help": "a data set bundled with aeon (BasicMotions, PickupGestureWiimoteZ, GunPoint, ...)"})
    data: str | None = field(default=None, metadata={"help": "your own training file (.ts, or CSV/TSV with the label first)"})
    test: str | None = field(default=None, metadata={"help": "your own test file (needed with --data)"})
    dev_fraction: float = field(default=0.0, metadata={"help": "fraction of training series held out for early stopping"})  # 0: the sets are tiny
    hidden_size: int = field(default=64, metadata={"help": "recurrent units"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    cell: str = field(default="gru", metadata={"help": "rnn, lstm or gru", "choices": ["rnn", "lstm", "gru"]})  # GRU trained best on these short sets
    bidirectional: bool = field(default=True, metadata={"help": "read the series both ways"})
    pooling: str = field(default="mean", metadata={"help": "last, mean, max or attention", "choices": ["last", "mean", "max", "attention"]})  # the whole movement matters
    dropout: float = field(default=0.1, metadata={"help": "dropout on inputs and before the head"})
    batch_size: int = field(default=8, metadata={"help": "series per batch"})
    epochs: int = field(default=60, metadata={"help": "passes over the training set"})  # 40 series: 5 steps per epoch
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate"})
    patience: int = field(default=0, metadata={"help": "stop after this many epochs without improvement (0 = never)"})
    out: str = field(default="runs/gesture", metadata={"help": "directory for best.pt, last.pt and results.json"})


def prepare_data(cfg: GestureConfig) -> tuple[Series, Series]:
    """The train and test series: your files (``--data`` and ``--test``) or the bundled UEA problem."""
    if cfg.data is not None:
        if cfg.test is None:
            raise ValueError("recipe gesture: --data needs --test too (UEA/UCR problems come as TRAIN and TEST files).")
        return read_series(cfg.data), read_series(cfg.test)
    return aeon_dataset(cfg.dataset)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the recipe's flags (GestureConfig) to ``parser``."""
    add_dataclass_flags(parser, GestureConfig)


def run(args: argparse.Namespace) -> int:
    """``rnnkit recipe gesture``: read the series, train a many-to-one classifier, report test accuracy; returns the exit code."""
    cfg = dataclass_from_args(GestureConfig, args)
    print(f"gesture: config {dataclasses.asdict(cfg)}")
    train_set, test_set = prepare_data(cfg)
    classes = sorted(set(train_set.labels) | set(test_set.labels))
    channels = train_set.values[0].shape[1]
    if test_set.values[0].shape[1] != channels:
        raise ValueError(f"recipe gesture: training series have {channels} channels, test series {test_set.values[0].shape[1]}.")
    stacked = torch.cat(train_set.values)  # (sum T, C)
    mean = stacked.nanmean(0)
    std = torch.sqrt(torch.nanmean((stacked - mean) ** 2, 0)).clamp(min=1e-6)
    data = Labelled(standardise(train_set.values, mean, std), [classes.index(y) for y in train_set.labels])
    test = Labelled(standardise(test_set.values, mean, std), [classes.index(y) for y in test_set.labels])
    train_data, dev = data, None
    if cfg.dev_fraction > 0:
        tr, de = classify.split(len(data), [1 - cfg.dev_fraction, cfg.dev_fraction], cfg.seed)
        train_data, dev = data.subset(tr), data.subset(de)
    lengths = sorted({len(v) for v in data.inputs})
    print(f"gesture: {len(train_data)} train, {len(dev) if dev else 0} dev, {len(test)} test series; {channels} channels, "
          f"length {lengths[0]}-{lengths[-1]}; classes {classes}")

    torch.manual_seed(cfg.seed)
    model_config = ManyToOneConfig(num_outputs=len(classes), vocab_size=None, input_size=channels, hidden_size=cfg.hidden_size,
                                   num_layers=cfg.num_layers, cell=cfg.cell, bidirectional=cfg.bidirectional,
                                   dropout=cfg.dropout, pooling=cfg.pooling)
    model = ManyToOne(model_config)

    def checkpoint(m: torch.nn.Module, info: dict[str, Any]) -> dict[str, Any]:
        return {"task": "gesture", "config": dataclasses.asdict(cfg), "model_config": dataclasses.asdict(model_config),
                "model": m.state_dict(), "classes": classes, "mean": mean, "std": std, **info}

    result = fit(
        model,
        lambda epoch: classify.batches(train_data, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch),
        config=cfg,
        evaluate=(lambda m: {"dev_accuracy": classify.accuracy(m, dev)}) if dev is not None else None,
        monitor="dev_accuracy",
        checkpoint=checkpoint,
        out_dir=cfg.out,
    )
    classify.summarise("gesture", cfg.out, {"test_accuracy": classify.accuracy(model, test)}, cfg, result)
    return 0


def predict(checkpoint: dict[str, Any], inputs: list[str], args: argparse.Namespace) -> int:
    """Each input is a .ts or UCR CSV/TSV file; every series in it gets a line (with its true label if given)."""
    if not inputs:
        raise ValueError("predict gesture: give one or more .ts or CSV/TSV files of series.")
    model = ManyToOne(ManyToOneConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    for item in inputs:
        series = read_series(item)
        if series.values[0].shape[1] != model.config.input_size:
            raise ValueError(f"predict gesture: {item} has {series.values[0].shape[1]} channels; the model expects {model.config.input_size}.")
        probs = classify.predict_proba(model, standardise(series.values, checkpoint["mean"], checkpoint["std"]))
        shown = [f"{item} #{n + 1}" + (f" (true: {y})" if y else "") for n, y in enumerate(series.labels)]
        classify.print_predictions(probs, checkpoint["classes"], shown)
    return 0
