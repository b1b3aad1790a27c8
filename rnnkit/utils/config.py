"""Command-line flags derived from a frozen dataclass, one flag per field.

A field's help text is its ``metadata["help"]``; ``--hidden-size`` maps to ``hidden_size``.
``--config FILE.json`` supplies values too (flags given on the command line win), and an
unknown key in the file is an error that lists the valid ones.

Why not a library (tried 2026-12-02 on ``SpamConfig``): jsonargparse 4.53 shows no help text from the fields
(only type and default), names flags ``--spam.hidden_size``, takes booleans as ``{true,false}`` and lets
``--spam.cell foo`` through; tyro 1.0.17 shows the help texts, but has no ``--config FILE``, lets
``--cell foo`` through (it reads no ``choices``) and parses a whole command line itself, where ``rnnkit train
charlm`` puts two dataclasses and hand-written flags on one argparse parser.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rnnkit.utils.reading import read_json_object

if TYPE_CHECKING:
    from _typeshed import DataclassInstance  # typeshed's name for "any dataclass"; it exists for the checker only

C = TypeVar("C", bound="DataclassInstance")


def option(default: Any, help: str, choices: Sequence[Any] | None = None) -> Any:
    """A config field with its default and the help text its flag shows (``choices``: the values allowed).

    ``hidden_size: int = option(64, "hidden units")`` is ``field(default=64, metadata={"help": "hidden units"})``.
    """
    metadata = {"help": help} if choices is None else {"help": help, "choices": list(choices)}
    return dataclasses.field(default=default, metadata=metadata)


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, exclude: tuple[str, ...] = ()) -> None:
    """Add one flag per field of ``cls`` (defaults come from the dataclass, help from metadata)."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{cls.__name__} settings")
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind, optional = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata.get("help", "") + f" (default: {default})"
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=kind, default=None, help=help_text,
                               metavar=f.name.upper(), choices=f.metadata.get("choices"))
    if not any(a.dest == "config" for a in parser._actions):
        parser.add_argument("--config", type=Path, default=None, help="JSON file of settings; flags override it")


def dataclass_from_args(cls: type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """Build ``cls`` from a JSON config (if ``args.config``), then flags that were given, then ``overrides``."""
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    config_path = getattr(args, "config", None)
    if config_path is not None:
        data = read_json_object(config_path)
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{config_path}: unknown setting(s) {unknown}; valid settings are {sorted(names)}.")
        values.update(data)
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    values.update({k: v for k, v in overrides.items() if k in names})
    return cls(**values)


def _base_type(hint: Any) -> tuple[type, bool]:
    """int | None -> (int, True); str -> (str, False)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner[0], True
    return hint, False
