"""The one cache directory of rnnkit: compiled kernels, fetched data packages, parsed data.

``$RNNKIT_CACHE`` if set, else ``$XDG_CACHE_HOME/rnnkit``, else ``~/.cache/rnnkit``. Each user of
it takes a subfolder (``native/``, ``pypi/``, ``npm/``, ``music/``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "RNNKIT_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache root, or the subfolder ``parts`` of it (not created here)."""
    root = os.environ.get(ENV)
    if root:
        base = Path(root).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnnkit"
    return base.joinpath(*parts)
