"""``rnnkit recipe NAME``, ``rnnkit predict``, ``rnnkit translate`` and ``rnnkit generate``.

Each recipe is one module in ``rnnkit.tasks`` exposing:
    add_arguments(parser)                      flags of ``rnnkit recipe NAME``
    run(args) -> int                           prepare data, build, train, evaluate, save, summarise
    predict(checkpoint, inputs, args) -> int   apply a trained model (``rnnkit predict``)
and, for generative recipes, ``generate(checkpoint, args) -> int`` (``rnnkit generate``).
A checkpoint names its recipe in ``checkpoint["task"]``, which is how predict finds it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from types import ModuleType

# recipe name -> module; importing happens only when a recipe is asked for
RECIPES = {
    "sentiment": "rnnkit.tasks.sentiment",
    "spam": "rnnkit.tasks.spam",
    "gesture": "rnnkit.tasks.gesture",
    "digits": "rnnkit.tasks.digits",
    "pos": "rnnkit.tasks.pos",
    "ner": "rnnkit.tasks.ner",
    "translate": "rnnkit.tasks.translate",
    "music": "rnnkit.tasks.music",
    "caption": "rnnkit.tasks.caption",
    "forecast": "rnnkit.tasks.forecast",
}


def recipe_module(name: str) -> ModuleType:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; available recipes: {', '.join(sorted(RECIPES))}.")
    try:
        return importlib.import_module(RECIPES[name])
    except ModuleNotFoundError as e:
        if e.name == RECIPES[name]:
            raise ValueError(f"recipe {name!r} is not available in this version of rnnkit.") from None
        raise


def _available() -> list[str]:
    return [n for n, m in RECIPES.items() if importlib.util.find_spec(m) is not None]


def register(sub: argparse._SubParsersAction) -> None:
    recipe = sub.add_parser("recipe", help="train and evaluate a recipe on real data")
    recipes = recipe.add_subparsers(dest="recipe", required=True, metavar="NAME")
    for name in _available():
        module = recipe_module(name)
        p = recipes.add_parser(name, help=(module.__doc__ or name).strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(run=module.run)

    predict = sub.add_parser("predict", help="apply a trained recipe checkpoint to new inputs")
    predict.add_argument("checkpoint", help="a checkpoint file (or run directory) written by `rnnkit recipe`")
    predict.add_argument("inputs", nargs="*", help="inputs: text lines, or paths to files in the recipe's format")
    predict.set_defaults(run=_run_predict)

    generate = sub.add_parser("generate", help="generate from a trained generative recipe (music, caption, ...)")
    generate.add_argument("checkpoint", help="a checkpoint file (or run directory) written by `rnnkit recipe`")
    generate.add_argument("--out", default=None, help="directory for generated files")
    generate.add_argument("--num", type=int, default=4, help="how many outputs to generate")
    generate.add_argument("--seed", type=int, default=0, help="random seed")
    generate.add_argument("--prime", default=None, help="what to condition on (recipe-specific: a seed note, a key, ...)")
    generate.set_defaults(run=_run_generate)

    translate = sub.add_parser("translate", help="translate sentences with a trained `recipe translate` checkpoint")
    translate.add_argument("checkpoint", help="a checkpoint written by `rnnkit recipe translate`")
    translate.add_argument("sentences", nargs="+", help="sentences in the source language")
    translate.add_argument("--beam", type=int, default=5, help="beam width (1 = greedy)")
    translate.set_defaults(run=_run_translate)


def _load_task(path: str) -> tuple[dict, ModuleType]:
    from rnnkit.utils.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    task = checkpoint.get("task")
    if task is None:
        raise ValueError(f"{path} has no 'task' entry: it was not written by `rnnkit recipe`.")
    return checkpoint, recipe_module(task)


def _run_predict(args: argparse.Namespace) -> int:
    checkpoint, module = _load_task(args.checkpoint)
    return int(module.predict(checkpoint, args.inputs, args))


def _run_generate(args: argparse.Namespace) -> int:
    checkpoint, module = _load_task(args.checkpoint)
    if not hasattr(module, "generate"):
        raise ValueError(f"recipe {checkpoint['task']!r} does not generate; use `rnnkit predict`.")
    return int(module.generate(checkpoint, args))


def _run_translate(args: argparse.Namespace) -> int:
    checkpoint, module = _load_task(args.checkpoint)
    if not hasattr(module, "translate"):
        raise ValueError(f"{args.checkpoint} is a {checkpoint['task']!r} checkpoint, not a translation model.")
    return int(module.translate(checkpoint, args.sentences, args))
