"""The recipe contract: what a recipe writes, and what it leaves to ``run_recipe``.

A recipe is an application on real data (spam filtering, tagging, translation, ...): a small class with
a typed config and six methods; the rest (settings, seeding, the training loop, checkpoints,
``results.json``, the report) is the runner's, the same for every recipe::

    config  = Recipe.config_class(...)               # a frozen dataclass of RecipeConfig
    data    = recipe.prepare_data(config)            # read, split, build vocabularies
    meta    = recipe.describe(data)                  # plain data the model needs at inference
    model   = recipe.build_model(config, meta)       # an nn.Module: forward(..., targets) -> (output, loss)
    batches = recipe.batches(config, data, epoch)    # what fit feeds to recipe.loss(model, batch)
    metrics = recipe.evaluate(model, config, data, "dev" | "test")
    results = recipe.predict(model, config, meta, inputs)   # rnnkit predict RUN_DIR INPUT...; JSON dicts

``meta`` is the bridge between training and use: it is stored in the checkpoint (so it must be plain:
lists, dicts, strings, numbers, tensors), and ``build_model`` plus ``predict`` need nothing else, so a
trained model is used without its training data. The optional hooks are below the required ones.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import torch
from torch import Tensor, nn

from rnnkit.recipes.training import TrainConfig, default_loss
from rnnkit.utils.checkpoint import FORMAT, VERSION
from rnnkit.utils.config import option

Meta = dict[str, Any]  # plain data (vocabularies, class names, scales) stored in the checkpoint


@dataclass(frozen=True)
class RecipeConfig(TrainConfig):
    """Settings every recipe has: the shared training settings, and where the run is written."""

    out: str = option("", "run directory: best.pt, last.pt, results.json, pictures (default: runs/NAME)")


@dataclass(frozen=True)
class GenerateOptions:
    """What ``rnnkit generate`` passes to a generative recipe's ``generate``."""

    num: int = 4
    seed: int = 0  # of the sampling (or of the composed inputs)
    out: str | None = None  # directory for generated files (default: the run directory)
    prime: str | None = None  # what to condition on, recipe-specific (a key, a seed note, ...)


C = TypeVar("C", bound=RecipeConfig)
D = TypeVar("D")  # the recipe's prepared data: its splits and whatever it built from them
M = TypeVar("M", bound=nn.Module)


class Recipe(ABC, Generic[C, D]):
    """One application on real data. Subclass, set the class attributes, implement the methods."""

    name: ClassVar[str]  # the NAME of `rnnkit recipe NAME`
    config_class: ClassVar[type[RecipeConfig]]  # its settings; every field becomes a flag with its help text
    monitor: ClassVar[str]  # the validation metric (a key of evaluate's dict) that picks the best epoch
    mode: ClassVar[str] = "max"  # "max" if a higher monitor is better, "min" if lower
    inputs: ClassVar[str] = "inputs"  # what `rnnkit predict` takes, shown in its help

    @abstractmethod
    def prepare_data(self, config: C) -> D:
        """Read the data and split it (train, dev, test), building vocabularies from train only."""

    @abstractmethod
    def describe(self, data: D) -> Meta:
        """What the model and ``predict`` need besides the weights, as plain data (stored in checkpoints)."""

    @abstractmethod
    def build_model(self, config: C, meta: Meta) -> nn.Module:
        """A fresh model; the runner seeds torch before calling this."""

    @abstractmethod
    def batches(self, config: C, data: D, epoch: int) -> Iterable[Any]:
        """The training batches of ``epoch`` (counted from 1); shuffle with a generator seeded from both."""

    def loss(self, model: nn.Module, batch: Any) -> Tensor:
        """The training loss of one batch: by default the model's ``(output, loss)`` contract."""
        return default_loss(model, batch)

    @abstractmethod
    def evaluate(self, model: nn.Module, config: C, data: D, split: str) -> dict[str, float]:
        """Metrics of the model on ``split`` ("dev" or "test"); the runner calls it in eval mode, without grad."""

    @abstractmethod
    def predict(self, model: nn.Module, config: C, meta: Meta, inputs: Sequence[str]) -> list[dict[str, Any]]:
        """Apply a trained model (eval mode, no grad) to ``inputs`` (as ``inputs`` says): one JSON-able dict each."""

    # ---- optional ---------------------------------------------------------------------------

    def show(self, result: dict[str, Any]) -> str:
        """One line of ``predict``'s output for the terminal (by default its fields as key=value)."""
        return "  ".join(f"{k}={v}" for k, v in result.items())

    def validates(self, config: C, data: D) -> bool:
        """Whether the run has a validation split; without one fit keeps the epoch with the lowest training loss
        and ``evaluate`` is called for "test" only."""
        return True

    def generators(self, data: D) -> list[torch.Generator]:
        """The recipe's own generators that ``batches`` draws from across epochs (restored on ``--resume``)."""
        return []

    def baselines(self, config: C, data: D) -> dict[str, dict[str, float]]:
        """Test metrics of simple baselines measured in the same run, by name (none by default)."""
        return {}

    def report(self, model: nn.Module, config: C, data: D, out: Path) -> list[Path]:
        """Pictures of the trained model at work, written into ``out`` (none by default)."""
        return []

    def generate(self, model: nn.Module, config: C, meta: Meta, options: GenerateOptions) -> list[dict[str, Any]]:
        """New outputs of a trained model (``rnnkit generate``): a JSON-able dict each, files written under "files"."""
        raise ValueError(f"recipe {self.name!r} does not generate; use `rnnkit predict`.")

    def runs(self, config: C) -> list[C] | None:
        """The configs (each with its own ``out``) of the several models one command trains (forecast's ``--series
        all``); None (the default): one run of ``config``."""
        return None

    def combine(self, config: C, summaries: list[dict[str, Any]]) -> dict[str, Any]:
        """The results of ``runs(config)`` as one summary (written to ``config.out``/results.json; print its table)."""
        return {"recipe": self.name, "runs": summaries}

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint written before the recipe contract, in the current layout (by default: refused)."""
        raise ValueError(f"this {self.name} checkpoint was written before the recipe contract and cannot be read "
                         f"by this version; train it again with `rnnkit recipe {self.name}`.")

    def model_as(self, model: nn.Module, cls: type[M]) -> M:
        """``model`` as the ``cls`` this recipe builds (typed for the caller); a TypeError if it is not one."""
        if not isinstance(model, cls):
            raise TypeError(f"{self.name}: expected a {cls.__name__} model, got {type(model).__name__}.")
        return model

    def upgraded(self, checkpoint: dict[str, Any], meta: Meta, config: dict[str, Any] | None = None,
                 model: dict[str, Any] | None = None) -> dict[str, Any]:
        """What ``upgrade`` returns for a pre-contract ``checkpoint`` with ``meta``: its settings kept to this recipe's
        fields (an old ``out_dir`` becomes ``out``) and updated by ``config``; its weights, or ``model`` if renamed."""
        old = checkpoint["config"]
        known = {f.name for f in dataclasses.fields(self.config_class)}
        settings = {k: v for k, v in old.items() if k in known} | ({"out": old["out_dir"]} if "out_dir" in old else {})
        return {"format": FORMAT, "version": VERSION, "kind": self.name, "config": settings | (config or {}),
                "model": checkpoint["model"] if model is None else model, "meta": meta,
                "epoch": checkpoint.get("epoch"), "step": checkpoint.get("step"),
                "metrics": checkpoint.get("metrics", {})}
