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
import json
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
    config_path = getattr(args, "config", None)
    values = read_settings(config_path, cls) if config_path is not None else {}
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    values.update({k: v for k, v in overrides.items() if k in names})
    return cls(**values)


def read_settings(path: Path, *classes: type, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings in a JSON file for the fields of ``classes``, each checked as its flag would check it.

    An unknown key, a value of the wrong type (``"lr": "0.1"``, ``"tie_weights": "no"``) or a value outside a
    field's choices is an error naming the file and the setting.
    """
    fields = {f.name: (f, typing.get_type_hints(c)[f.name]) for c in classes for f in dataclasses.fields(c)
              if f.name not in exclude}
    data = read_json_object(path)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {unknown}; valid settings are {sorted(fields)}.")
    return {k: _from_file(path, k, v, fields[k][1], fields[k][0].metadata.get("choices")) for k, v in data.items()}


def _from_file(path: Path, name: str, value: Any, hint: Any, choices: list[Any] | None) -> Any:
    """A setting's value from a JSON file, checked as its flag would check it: the type, and the choices."""
    kind, optional = _base_type(hint)
    ok = (value is None and optional) or (
        isinstance(value, bool) if kind is bool else
        isinstance(value, int | float) and not isinstance(value, bool) if kind is float else
        isinstance(value, kind) and not isinstance(value, bool))
    if not ok:
        wanted = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}[kind]
        raise ValueError(f"{path}: setting {name!r} must be {wanted}{' or null' if optional else ''}, "
                         f"got {json.dumps(value)}.")
    if choices is not None and value is not None and value not in choices:
        raise ValueError(f"{path}: setting {name!r} must be one of {choices}, got {json.dumps(value)}.")
    return float(value) if kind is float and value is not None else value


def _base_type(hint: Any) -> tuple[type, bool]:
    """int | None -> (int, True); str -> (str, False)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner[0], True
    return hint, False
