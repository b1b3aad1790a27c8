"""The ``rnnkit`` command. Each group of subcommands lives beside the code it drives and
exposes ``register(subparsers)``; heavy imports happen inside the commands, not here."""

from __future__ import annotations

import argparse
import errno
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
        print(f"rnnkit {args.command}: error: {describe(e) if isinstance(e, OSError) else e}", file=sys.stderr)
        return 2
    except CheckpointWriteError as e:
        print(f"rnnkit {args.command}: error: {e.strerror}", file=sys.stderr)
        return 1
    except OSError as e:  # a path the system refused: a directory given for a file, a file in the way of a folder
        print(f"rnnkit {args.command}: error: {describe(e)}", file=sys.stderr)
        return 1


# what the system's refusal means for the path the user gave, by errno
_WHY = {
    errno.ENOENT: "there is no such file or directory",
    errno.EISDIR: "it is a directory; give a file",
    errno.ENOTDIR: "part of the path is a file, where a directory is needed; choose another path",
    errno.EEXIST: "a file of that name is in the way of a directory; choose another path",
    errno.EACCES: "permission denied; choose a path you can write to",
    errno.EPERM: "the operation is not permitted there; choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOSPC: "the disk is full",
}


def describe(e: OSError) -> str:
    """An OSError as one line naming the path and what to do: ``emptydir: it is a directory; give a file``."""
    if e.filename is None:
        return str(e)  # rnnkit's own message, or one without a path
    why = _WHY.get(e.errno or 0, e.strerror or str(e))
    return f"{e.filename}: {why}"


if __name__ == "__main__":
    sys.exit(main())
