"""The ``rnnkit`` command. Each group of subcommands lives beside the code it drives and
exposes ``register(subparsers)``; heavy imports happen inside the commands, not here."""

from __future__ import annotations

import argparse
import importlib
import sys

from rnnkit.utils.checkpoint import CheckpointWriteError

# the modules that add subcommands, in the order they appear in --help
COMMAND_MODULES = ("rnnkit.lm.commands", "rnnkit.lab.commands", "rnnkit.recipes.commands", "rnnkit.utils.commands",
                   "rnnkit.serve.commands", "rnnkit.layers.commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit", description="Recurrent neural networks: train, sample, inspect, and run recipes."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue  # that group is not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError) as e:
        # our own errors are written to be read: show the message, not a traceback
        print(f"rnnkit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except CheckpointWriteError as e:
        print(f"rnnkit {args.command}: error: {e.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
