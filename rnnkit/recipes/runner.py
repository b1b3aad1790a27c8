"""``run_recipe``: everything a recipe does not write itself, done once for all of them.

settings -> seed -> data -> model -> fit (the one training loop: progress bar, early stopping,
time budget, checkpoints) -> test metrics and baselines -> results.json, training curve, the
recipe's pictures. ``load_run`` is the way back: a run directory (or .pt file) to a ready model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.training import FitResult, check_config, fit, torch_threads
from rnnkit.utils.checkpoint import check_kind, load_checkpoint, load_weights, make_checkpoint
from rnnkit.utils.plotting import figure


def run_dir(recipe: Recipe[Any, Any], config: RecipeConfig) -> Path:
    """Where a run writes: ``config.out``, or ``runs/<recipe name>``."""
    return Path(config.out or f"runs/{recipe.name}")


def run_recipe(recipe: Recipe[Any, Any], config: RecipeConfig) -> dict[str, Any]:
    """Train and evaluate ``recipe`` with ``config``; write the run directory; return the summary."""
    if not isinstance(config, recipe.config_class):
        raise TypeError(f"run_recipe: {recipe.name} takes a {recipe.config_class.__name__}, got "
                        f"{type(config).__name__}.")
    check_config(config)  # a bad setting is refused now, not after the data is read
    parts = recipe.runs(config)
    if parts is not None:  # several models from one command: each run as below, then one summary of them all
        combined = recipe.combine(config, [run_recipe(recipe, part) for part in parts])
        write_json(run_dir(recipe, config) / "results.json", combined)
        return combined
    with torch_threads(config.threads):  # the whole run: data, training, test, baselines, pictures
        out = run_dir(recipe, config)
        print(f"{recipe.name}: {config}")
        if config.resume:
            check_resume_kind(recipe, out)

        # data and model, each from a known seed, so that a run repeats
        torch.manual_seed(config.seed)
        data = recipe.prepare_data(config)
        meta = recipe.describe(data)
        torch.manual_seed(config.seed)
        model = recipe.build_model(config, meta)

        # the one training loop; best.pt whenever the validation metric improves
        def checkpoint(m: nn.Module, info: dict[str, Any]) -> dict[str, Any]:
            return make_checkpoint(recipe.name, m, dataclasses.asdict(config), meta, **info)

        result = fit(model, lambda epoch: recipe.batches(config, data, epoch), config,
                     evaluate=(lambda m: {f"dev_{k}": v for k, v in recipe.evaluate(m, config, data, "dev").items()})
                     if recipe.validates(config, data) else None,
                     monitor=f"dev_{recipe.monitor}", mode=recipe.mode, loss_fn=recipe.loss, checkpoint=checkpoint,
                     out_dir=out, generators=recipe.generators(data))

        # test metrics of the best epoch's model, the baselines beside them, and the pictures
        model.eval()
        with torch.no_grad():
            test = recipe.evaluate(model, config, data, "test")
        baselines = recipe.baselines(config, data)
        pictures = [training_curve(result, recipe.monitor, out / "training.png"),
                    *recipe.report(model, config, data, out)]

        # results.json, and the figures a reader wants first
        summary = {"recipe": recipe.name, "test": test, "baselines": baselines, "best_epoch": result.best_epoch,
                   "epochs_run": result.epochs_run, "steps": result.steps, "train_seconds": round(result.seconds, 1),
                   "stopped_because": result.stopped_because, "history": result.history,
                   "pictures": [str(p) for p in pictures], "config": dataclasses.asdict(config)}
        if result.averages:  # checkpoint averaging was tried (config.average_last): each mean's validation figures
            summary.update({"averaged_epochs": result.averaged, "averages": result.averages})
        path = write_json(out / "results.json", summary)
        print(f"{recipe.name}: test " + ", ".join(f"{k} {v:.4f}" for k, v in test.items())
              + f"; {result.epochs_run} epochs, {result.seconds:.0f}s ({result.stopped_because})"
              + (f"; the mean weights of the last {result.averaged} epochs" if result.averaged else ""))
        for name, scores in baselines.items():
            print(f"{recipe.name}: baseline {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        print(f"{recipe.name}: checkpoint {out / 'best.pt'}; results {path}")
        return summary


def check_resume_kind(recipe: Recipe[Any, Any], out: Path) -> None:
    """Refuse to resume from a last.pt that another recipe wrote, saying so (its settings would differ from this
    recipe's in ways the user never asked for); the rest of the resume check is fit's."""
    path = out / "last.pt"
    if not path.exists():
        return
    kind = load_checkpoint(path).get("kind")
    if isinstance(kind, str) and kind != recipe.name:
        raise ValueError(f"{recipe.name}: resume: {path} is the last checkpoint of a {kind} run, not a {recipe.name} "
                         f"one. Resume it with `rnnkit recipe {kind} --out {out} --resume`, or give this run another "
                         "output directory (--out).")


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON through a temporary file, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def training_curve(result: FitResult, monitor: str, path: Path) -> Path:
    """Training loss and the validation metric per epoch, side by side."""
    epochs = [int(r["epoch"]) for r in result.history]
    with figure(path, size=(8.0, 3.0), ncols=2) as (_, (left, right)):
        left.plot(epochs, [r["train_loss"] for r in result.history], marker="o")
        left.set(xlabel="epoch", ylabel="training loss")
        right.plot(epochs, [r.get(f"dev_{monitor}", float("nan")) for r in result.history], marker="o", color="C1")
        right.set(xlabel="epoch", ylabel=f"validation {monitor}")
        if result.best_epoch:
            right.axvline(result.best_epoch, color="grey", ls=":", lw=1)
    return path


@dataclass
class Run:
    """A trained recipe model ready to use: the recipe, its settings, the model (eval mode), its meta."""

    recipe: Recipe[Any, Any]
    config: RecipeConfig
    model: nn.Module
    meta: Meta
    checkpoint: dict[str, Any]


def load_run(path: str | os.PathLike[str], recipes: dict[str, Recipe[Any, Any]]) -> Run:
    """Rebuild the model saved in ``path`` (a .pt file or run directory) by the recipe that wrote it."""
    checkpoint = load_checkpoint(path)
    if "task" in checkpoint and "format" not in checkpoint:  # written before the recipe contract
        old = checkpoint["task"]
        if old not in recipes:
            raise ValueError(f"{path} was written by the {old!r} recipe, which this rnnkit does not have.")
        checkpoint = recipes[old].upgrade(checkpoint)
    kind = check_kind(checkpoint, path, tuple(recipes))
    recipe = recipes[kind]
    config = recipe.config_class(**checkpoint["config"])
    model = recipe.build_model(config, checkpoint["meta"])
    load_weights(model, checkpoint["model"], path, kind, f"rnnkit recipe {kind}")
    return Run(recipe, config, model.eval(), checkpoint["meta"], checkpoint)

