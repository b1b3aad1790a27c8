"""rnnkit draws pictures into files without touching the caller's matplotlib backend (a notebook's stays inline)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from rnnkit.lab.render import text_png
from rnnkit.utils.plotting import figure


@pytest.fixture
def svg_backend():
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # stands for a notebook's inline backend: anything but Agg
    yield
    matplotlib.use(before)


def test_drawing_keeps_the_callers_backend(svg_backend, tmp_path: Path):
    with figure(tmp_path / "a" / "line.png", size=(3, 2), ncols=2) as (_, (left, right)):
        left.plot([0, 1], [1, 0])
        right.plot([0, 1], [0, 1])
    text_png("hello", np.linspace(-1, 1, 5), tmp_path / "text.png")
    assert matplotlib.get_backend() == "svg"
    for png in (tmp_path / "a" / "line.png", tmp_path / "text.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
