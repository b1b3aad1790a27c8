"""``rnnkit listen RUN_DIR FILE.wav ...``: the digits a trained spoken-digit model hears in recordings.

    rnnkit listen runs/digits-ctc call.wav                         # 3o91<TAB>three oh nine one<TAB>call.wav
    rnnkit listen runs/digits-ctc call.wav --explain post.png      # and the frame-level CTC posteriors as a picture
"""

from __future__ import annotations

import argparse

import torch

from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.speech.recipe import ConnectedDigitsRecipe, SpeechRecipe


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rnnkit listen`` to the CLI."""
    p = sub.add_parser("listen", help="print the digits a trained digits-spoken or digits-ctc model hears in WAV files",
                       description="Print the digits heard in each WAV file, one line each: digits, words, file.")
    p.add_argument("checkpoint",
                   help="a run directory (or .pt file) written by `rnnkit recipe digits-ctc` or `digits-spoken`")
    p.add_argument("files", nargs="+", help="WAV files: 16-bit PCM, mono (any sample rate; it is resampled)")
    p.add_argument("--beam", type=int, default=None,
                   help="CTC prefix beam width (1 = greedy; default: the run's --beam)")
    p.add_argument("--mix", action="store_true",
                   help="mix the channels of stereo files down to mono instead of refusing them")
    p.add_argument("--explain", default=None, metavar="PNG",
                   help="write the frame-level CTC posteriors of the (first) file as a picture (digits-ctc runs only)")
    p.set_defaults(run=_run_listen)


def _run_listen(args: argparse.Namespace) -> int:
    run = load_run(args.checkpoint, all_recipes())
    recipe = run.recipe
    if not isinstance(recipe, SpeechRecipe):
        raise ValueError(f"{args.checkpoint} is a {recipe.name!r} run; `rnnkit listen` takes a digits-spoken or "
                         "digits-ctc run.")
    if args.explain and not isinstance(recipe, ConnectedDigitsRecipe):
        raise ValueError(f"--explain draws CTC posteriors; {args.checkpoint} is a {recipe.name!r} run, not digits-ctc.")
    beam = args.beam if args.beam is not None else getattr(run.config, "beam", 1)
    with torch.no_grad():
        heard = recipe.hear(run.model, run.meta, recipe.read(run.meta, args.files, args.mix), beam)
        for path, result in zip(args.files, heard, strict=True):
            print(recipe.show({"input": path, **result}))
        if args.explain:
            assert isinstance(recipe, ConnectedDigitsRecipe)
            print(f"saved {recipe.explain(run.model, run.meta, args.files[0], args.explain, args.mix)}")
    return 0
