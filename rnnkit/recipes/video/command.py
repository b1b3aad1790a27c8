"""``rnnkit caption-video RUN_DIR CLIP...``: the sentence a trained video-caption model writes for each clip."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rnnkit caption-video`` to the CLI."""
    p = sub.add_parser("caption-video", help="caption clips with a trained `rnnkit recipe video-caption` model",
                       description="Print one caption per clip. A clip is (T, 64, 64) grey frames, light digits on "
                                   "black: "
                                   ".npy (uint8 0-255 or float 0-1) or an animated .gif; MP4 is not read (no "
                                   "maintained reader installs with rnnkit), convert it to .npy first.")
    p.add_argument("checkpoint", help="a run directory (or its best.pt) written by `rnnkit recipe video-caption`")
    p.add_argument("clips", nargs="+", help="clip files: .npy or .gif")
    p.add_argument("--beam", type=int, default=None, help="beam width (default: the run's --beam; 1 = greedy)")
    p.add_argument("--json", action="store_true", help="one JSON object per clip instead of a line of text")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from rnnkit.recipes import all_recipes, load_run
    from rnnkit.recipes.video.caption_recipe import VideoCaptionConfig, VideoCaptionRecipe

    run = load_run(args.checkpoint, all_recipes())
    if not isinstance(run.recipe, VideoCaptionRecipe) or not isinstance(run.config, VideoCaptionConfig):
        raise ValueError(f"{args.checkpoint} is a {run.recipe.name!r} run, not a video-caption model; "
                         "train one with `rnnkit recipe video-caption`.")
    config = run.config if args.beam is None else dataclasses.replace(run.config, beam=args.beam)
    if config.beam < 1:
        raise ValueError(f"caption-video: --beam must be 1 or more, got {config.beam}.")
    with torch.no_grad():
        results = run.recipe.predict(run.model, config, run.meta, args.clips)
    for result in results:
        print(json.dumps(result) if args.json else run.recipe.show(result))
    return 0
