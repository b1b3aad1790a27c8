"""``rnnkit recipe NAME``, ``rnnkit predict``, ``rnnkit generate`` and ``rnnkit translate``.

Each recipe gets its flags from its config dataclass (one flag per field, with the field's help
text) and runs through ``run_recipe``; its checkpoints name it in ``kind``, which is how
predict, generate and translate find the recipe that rebuilds the model (``load_run``).
"""

from __future__ import annotations

import argparse
import json

import torch

from rnnkit.recipes import all_recipes, get_recipe, load_run, run_recipe
from rnnkit.recipes.chat import command as chat_command
from rnnkit.recipes.contract import GenerateOptions
from rnnkit.recipes.speech import command as speech_command
from rnnkit.recipes.summarize import command as summarize_command
from rnnkit.recipes.video import command as video_command
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rnnkit recipe NAME`` to the CLI: one subcommand per recipe, its flags from the recipe's config."""
    recipe = sub.add_parser("recipe", help="train and evaluate a recipe on real data")
    recipes = recipe.add_subparsers(dest="recipe", required=True, metavar="NAME")
    known = all_recipes()
    for name, r in sorted(known.items()):
        doc = " ".join((type(r).__doc__ or name).strip().split("\n\n")[0].split())  # the first paragraph, whole
        p = recipes.add_parser(name, help=doc, description=doc)
        add_dataclass_flags(p, r.config_class)
        p.set_defaults(run=_run_recipe)

    inputs = "; ".join(f"{n}: {r.inputs}" for n, r in known.items())
    predict = sub.add_parser("predict", help="apply a trained recipe checkpoint to new inputs",
                             description="Apply a trained recipe model to new inputs. What each recipe takes: "
                                         f"{inputs}.")
    predict.add_argument("checkpoint", help="a checkpoint file (or run directory) written by `rnnkit recipe`")
    predict.add_argument("inputs", nargs="*",
                         help="what the recipe's model was trained on (see above): texts, or files in its format")
    predict.add_argument("--json", action="store_true", help="one JSON object per result instead of a line of text")
    predict.set_defaults(run=_run_predict)

    generate = sub.add_parser("generate", help="generate from a trained generative recipe (music, caption, ...)")
    generate.add_argument("checkpoint", help="a checkpoint file (or run directory) written by `rnnkit recipe`")
    generate.add_argument("--out", default=None, help="directory for generated files")
    generate.add_argument("--num", type=int, default=4, help="how many outputs to generate")
    generate.add_argument("--seed", type=int, default=0, help="random seed")
    generate.add_argument("--prime", default=None,
                          help="what to condition on (recipe-specific: a seed note, a key, ...)")
    generate.set_defaults(run=_run_generate)

    translate = sub.add_parser("translate", help="translate sentences with a trained `recipe translate` checkpoint")
    translate.add_argument("checkpoint", help="a checkpoint written by `rnnkit recipe translate`")
    translate.add_argument("sentences", nargs="+", help="sentences in the source language")
    translate.add_argument("--beam", type=int, default=5, help="beam width (1 = greedy)")
    translate.set_defaults(run=_run_translate)
    chat_command.register(sub)  # rnnkit chat RUN_DIR
    summarize_command.register(sub)  # rnnkit summarize RUN_DIR FILE...
    speech_command.register(sub)  # rnnkit listen RUN_DIR FILE.wav...
    video_command.register(sub)  # rnnkit caption-video RUN_DIR CLIP...


def _run_recipe(args: argparse.Namespace) -> int:
    recipe = get_recipe(args.recipe)
    run_recipe(recipe, dataclass_from_args(recipe.config_class, args))
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    run = load_run(args.checkpoint, all_recipes())
    if not args.inputs:
        raise ValueError(f"predict {run.recipe.name}: give the inputs: {run.recipe.inputs}.")
    with torch.no_grad():
        results = run.recipe.predict(run.model, run.config, run.meta, args.inputs)
    for result in results:
        print(json.dumps(result) if args.json else run.recipe.show(result))
    return 0


def _run_generate(args: argparse.Namespace) -> int:
    run = load_run(args.checkpoint, all_recipes())
    options = GenerateOptions(num=args.num, seed=args.seed, out=args.out, prime=args.prime)
    with torch.no_grad():
        results = run.recipe.generate(run.model, run.config, run.meta, options)
    shown = [run.recipe.show(result) for result in results]
    print("\n".join(shown))
    for path in dict.fromkeys(f for result in results for f in result.get("files", [])):
        if not any(path in line for line in shown):  # a file the recipe's lines do not name already
            print(f"saved {path}")
    return 0


def _run_translate(args: argparse.Namespace) -> int:
    run = load_run(args.checkpoint, all_recipes())
    translate = getattr(run.recipe, "translate", None)  # an optional method of the recipes that translate
    if translate is None:
        raise ValueError(f"{args.checkpoint} is a {run.recipe.name!r} checkpoint, not a translation model.")
    with torch.no_grad():
        results = translate(run.model, run.config, run.meta, args.sentences, args.beam)
    for result in results:
        print(run.recipe.show(result))
    return 0
