"""Fixtures every test directory shares. Helper functions live in ``support.py`` (``from support import ...``)."""

from __future__ import annotations

from typing import Any

import pytest
import torch


@pytest.fixture
def one_thread() -> Any:
    """Run a test on one intra-op thread. On tensors this small, a second thread only adds wake-up
    latency: a float64 layer_norm of shape (2, 20) takes ~3 us on one thread and up to milliseconds
    on two when the machine is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
