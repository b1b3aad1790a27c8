"""``rnnkit convert-checkpoint``: rewrite a trusted checkpoint from an older rnnkit so that it loads safely."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    convert = sub.add_parser(
        "convert-checkpoint",
        help="rewrite a checkpoint from an older rnnkit as plain data, so it loads without running code",
        description="rnnkit loads checkpoints with torch.load(weights_only=True), which refuses files that hold "
                    "arbitrary Python objects. This reads OLD unrestricted (which runs any code the file holds: "
                    "only do it for a file you made or fully trust), and writes NEW as tensors, numbers, strings, "
                    "lists and dicts.",
    )
    convert.add_argument("old", help="the checkpoint to convert (a .pt file or a run directory)")
    convert.add_argument("new", help="where to write the converted checkpoint (.pt)")
    convert.add_argument("--trust", action="store_true",
                         help="required: you trust OLD enough to let it run code while it is read")
    convert.set_defaults(run=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from rnnkit.utils.checkpoint import convert_checkpoint

    written = convert_checkpoint(args.old, args.new, trust=args.trust)
    print(f"wrote {written}; it loads with weights_only=True")
    return 0
