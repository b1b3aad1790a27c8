"""Checkpoints that cannot run code and survive a crash.

Reading: ``torch.load(..., weights_only=True)``. A ``.pt`` file is a pickle, and a pickle can
name any Python callable (``os.system`` included) to be called while it is read; PyTorch's
restricted unpickler refuses every global but tensors, plain containers and numbers. rnnkit
stores only those (configs as dicts, vocabularies as lists, RNG states as tensors), so nothing
else is ever allowed. A file written by an older rnnkit that holds other objects is refused
with the command that converts it (``rnnkit convert-checkpoint OLD NEW --trust``), the one
place that unpickles, and only when the user says they trust the file.

Writing: to a temporary file beside the target, fsync, ``os.replace`` (atomic on POSIX and
Windows: a reader sees the old file or the new one, never half of one), then fsync the
directory so that a power cut cannot lose the rename. If the write fails (a full disk), the
temporary file is removed, the previous checkpoint is left as it was, and the error says so.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

RUN_FILES = ("best.pt", "last.pt")  # what a run directory holds, in the order a loader prefers
# classes beyond torch's own safe set that rnnkit's checkpoints may hold: torch.__version__ is a TorchVersion
# (a str subclass with comparisons, nothing more), and checkpoints written before 2026-12 stored it as such
SAFE_GLOBALS: list[Any] = [torch.torch_version.TorchVersion]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: missing, truncated, corrupt, or asking to run code."""


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (the previous one at that path is left intact)."""


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """torch.save ``obj`` to ``path`` atomically and durably; the directory is created if needed.

    Raises CheckpointWriteError (an OSError) if the file cannot be written, e.g. on a full disk;
    whatever was at ``path`` before is then still there, unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        kept = "the previous checkpoint there is intact" if path.exists() else "nothing was written there"
        fix = "Free some space (or choose another --out) and resume" if e.errno == errno.ENOSPC else \
            "Choose another path and try again"  # a directory of that name, no permission, ...
        raise CheckpointWriteError(e.errno, f"could not write checkpoint {path}: {why}; {kept}. {fix}.") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    _remove_stale_temporaries(path)
    return path


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of ``path`` left by a writer killed mid-write (one writer per file; the rename is done)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; Windows cannot open a directory, and needs nothing)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """The .pt file meant by ``path``: the file itself, or best.pt (else last.pt) in a run directory."""
    path = Path(path)
    if path.is_dir():
        for name in RUN_FILES:
            if (path / name).exists():
                return path / name
        raise FileNotFoundError(f"no checkpoint in {path}: a run directory holds {' or '.join(RUN_FILES)}; "
                                "pass the .pt file or the directory `--out` named when training.")
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; pass the .pt file or the run directory that holds it.")
    return path


def load_weights(model: torch.nn.Module, weights: Mapping[str, Any], path: str | os.PathLike[str], what: str,
                 retrain: str, most: int = 4) -> None:
    """``model.load_state_dict(weights)``; weights that do not fit the model (names or shapes, e.g. a file from
    another version) are a CheckpointError naming the file, the first ``most`` misfits and ``retrain``, the command
    that makes a model this rnnkit reads."""
    mine = model.state_dict()
    missing = [k for k, v in mine.items() if k not in weights or tuple(weights[k].shape) != tuple(v.shape)]
    unexpected = [k for k in weights if k not in mine]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: its weights do not fit the {what} model this rnnkit builds from the run's settings "
            f"(missing: {', '.join(missing[:most]) or 'none'}; not expected: {', '.join(unexpected[:most]) or 'none'})."
            f" It was written by a different version; train it again with `{retrain}`.")
    model.load_state_dict(weights)


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint (a .pt file or a run directory) onto ``map_location``, never running code from it.

    Raises CheckpointError naming the file if it is truncated or corrupt, not a checkpoint, or
    holds objects other than tensors, containers and numbers (which is what code injection needs).
    """
    path = resolve_checkpoint(path)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a checkpoint: {_describe_non_zip(path)}. "
                              "rnnkit writes .pt files with torch.save (a zip archive); was the file cut short or "
                              "overwritten?")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(_refused(path, e)) from None
    except Exception as e:  # a corrupt archive fails anywhere inside torch.load: zip, pickle or storage reader
        raise CheckpointError(f"{path} is corrupt and cannot be read ({type(e).__name__}: {_first_line(e)}). "
                              "Use another checkpoint of the run (best.pt or last.pt) or train again.") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} is not an rnnkit checkpoint (expected a dict, got {type(obj).__name__}).")
    return obj


def _describe_non_zip(path: Path) -> str:
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    with path.open("rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        return f"its zip archive is cut short or damaged ({size:,} bytes)"
    if head[:1] == b"\x80":
        return "it is a bare pickle in torch's legacy format, which can run code when read"
    return f"it does not start like a zip archive ({size:,} bytes, first bytes {head!r})"


def _refused(path: Path, error: Exception) -> str:
    """The message for a file that torch's safe loader refused: what it asked for, and the way out."""
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    wanted = f"it asks for {found.group(1)}" if found else _first_line(error)
    return (f"{path} was not loaded: reading it would call or build an object that a checkpoint never needs "
            f"({wanted}). rnnkit loads checkpoints with weights_only=True, so a shared file cannot run code. "
            "If you made this file yourself with an older rnnkit and trust it, convert it once with "
            f"`rnnkit convert-checkpoint {path} NEW.pt --trust`.")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


def plain(obj: Any, where: str = "checkpoint") -> Any:
    """``obj`` with every value turned into what a weights-only load accepts (tensors, containers, numbers, strings).

    numpy arrays become tensors, numpy scalars Python numbers, dataclasses dicts, paths strings;
    anything else raises TypeError naming where in the structure it was.
    """
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):  # before the Python numbers: np.float64 is a float subclass
        return obj.item()
    if obj is None or isinstance(obj, torch.Tensor | torch.dtype | torch.device):
        return obj
    # subclasses of the plain types become the plain type (torch.__version__ is a str subclass); bool before int
    kinds: tuple[type[Any], ...] = (bool, int, float, str, bytes)
    for kind in kinds:
        if isinstance(obj, kind):
            return kind(obj)
    if isinstance(obj, PurePath):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain(dataclasses.asdict(obj), where)
    if isinstance(obj, Mapping):
        return {plain(k, f"{where} key"): plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = [plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list | set | frozenset) else tuple(items)
    raise TypeError(f"{where}: a {type(obj).__module__}.{type(obj).__qualname__} cannot be stored in a checkpoint "
                    "that loads safely; store it as tensors, numbers, strings, lists or dicts.")


def convert_checkpoint(old: str | os.PathLike[str], new: str | os.PathLike[str], *, trust: bool) -> Path:
    """Rewrite a checkpoint from an older rnnkit as plain data, so that it loads with weights_only=True.

    This is the one function in rnnkit that unpickles freely, which runs any code the file asks
    for: it refuses unless ``trust`` is True. The result is checked by loading it back safely.
    """
    if not trust:
        raise ValueError(f"convert-checkpoint: reading {old} unrestricted would run any code it holds. "
                         "Only convert a file you made yourself or fully trust, and say so with --trust.")
    source = resolve_checkpoint(old)
    try:
        obj = torch.load(source, map_location="cpu", weights_only=False)  # the user vouched for this file (--trust)
    except Exception as e:  # a cut-short or damaged file fails anywhere inside: zip, pickle or storage reader
        what = "the file is empty" if source.stat().st_size == 0 else f"{type(e).__name__}: {_first_line(e)}"
        raise CheckpointError(f"{source} cannot be read ({what}): it is not a checkpoint, or it was cut short or "
                              "damaged. Convert another copy of it.") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{source} is not an rnnkit checkpoint (expected a dict, got {type(obj).__name__}).")
    written = atomic_save(plain(obj), new)
    load_checkpoint(written)
    return written


# ---- the one layout every rnnkit checkpoint has ---------------------------------------------

FORMAT = "rnnkit.checkpoint"
VERSION = 1


def make_checkpoint(kind: str, model: torch.nn.Module, config: Mapping[str, Any], meta: Mapping[str, Any],
                    **entries: Any) -> dict[str, Any]:
    """A checkpoint in rnnkit's one layout: what it is, how to rebuild it, the weights, how far it got.

    Args:
        kind: "charlm" or a recipe's name; loaders check it.
        config: the settings (``asdict`` of the config dataclass) that rebuild the model.
        meta: what the model needs besides its weights: vocabularies, class names, scales.
        entries: step, epoch, metrics, optimizer state, ... (plain data, like everything here).
    """
    import rnnkit

    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return plain({"format": FORMAT, "version": VERSION, "kind": kind, "rnnkit_version": rnnkit.__version__,
                  "torch_version": torch.__version__, "config": dict(config), "meta": dict(meta), "model": weights,
                  **entries})


def check_kind(checkpoint: dict[str, Any], path: str | os.PathLike[str], kinds: tuple[str, ...] | None = None) -> str:
    """The checkpoint's kind, after checking its format tag, version and (if given) that the kind is one of
    ``kinds``."""
    found = checkpoint.get("format")
    if found != FORMAT:
        raise CheckpointError(f"{path}: expected an rnnkit checkpoint (format {FORMAT!r}), found "
                              f"{'format ' + repr(found) if found else 'no format tag'}.")
    version = checkpoint.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path} is a version {version!r} rnnkit checkpoint; this rnnkit reads versions up to "
                              f"{VERSION}. Upgrade rnnkit (`pip install -U rnnkit`) to read it.")
    kind = checkpoint.get("kind")
    if not isinstance(kind, str) or (kinds is not None and kind not in kinds):
        use = " It is a character-level language model: use it with `rnnkit sample`, `eval`, `inspect`, `serve` or " \
              "`export`." if kind == "charlm" else ""
        raise CheckpointError(f"{path} holds a {kind!r} model; expected {' or '.join(map(repr, kinds or ()))}.{use}")
    return kind
