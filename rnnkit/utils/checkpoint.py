"""Checkpoints that survive a crash: write to a temporary file beside the target, then rename.

``os.replace`` is atomic on POSIX and Windows, so a reader sees either the old file or the
new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """torch.save ``obj`` to ``path`` atomically; the directory is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint onto ``map_location`` (CPU by default, so a GPU-trained one loads anywhere)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).exists():
                path = path / name
                break
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; pass the .pt file or the run directory that holds it.")
    obj = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(obj, dict):
        raise ValueError(f"{path} is not an rnnkit checkpoint (expected a dict, got {type(obj).__name__}).")
    return obj
