"""``rnnkit summarize RUN_DIR FILE...``: the summary of a man page (roff, .gz ok) or a plain-text file.

Works for every recipe whose class has ``summarize(model, config, meta, text) -> dict``: the abstractive
``summarize`` recipe (the NAME line it writes) and the extractive ``extract`` (the sentences it picks);
each result is printed by its recipe's ``show``, so the extractive one marks the chosen sentences.
"""

from __future__ import annotations

import argparse
import json

import torch

from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.summarize.data import read_document


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rnnkit summarize`` to the CLI."""
    p = sub.add_parser("summarize", help="summarise a man page or a text file with a trained summarisation run",
                       description="Print the summary of each FILE: a man page (roff source, .gz ok; its DESCRIPTION "
                                   "is "
                                   "read) or a plain-text file, by a run of `rnnkit recipe summarize` or `rnnkit "
                                   "recipe extract`.")
    p.add_argument("checkpoint", help="a run directory (or .pt file) written by a summarisation recipe")
    p.add_argument("files", nargs="+", help="man pages (roff, .gz ok) or plain-text files")
    p.add_argument("--json", action="store_true", help="one JSON object per file instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the run, read every file, print each summary (the recipe's ``show``, or JSON)."""
    loaded = load_run(args.checkpoint, all_recipes())
    summarize = getattr(loaded.recipe, "summarize", None)  # the method the summarisation recipes share
    if summarize is None:
        raise ValueError(f"{args.checkpoint} is a {loaded.recipe.name!r} run, which does not summarise; give a run of "
                         "`rnnkit recipe summarize` or `rnnkit recipe extract`.")
    texts = [read_document(f) for f in args.files]  # every file read first: a bad one fails before any output
    for file, text in zip(args.files, texts, strict=True):
        with torch.no_grad():
            result = {"input": file, **summarize(loaded.model, loaded.config, loaded.meta, text)}
        print(json.dumps(result) if args.json else loaded.recipe.show(result))
    return 0
