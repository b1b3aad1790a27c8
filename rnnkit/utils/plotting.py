"""The one way rnnkit draws a picture: a matplotlib Figure written to a file, never a window.

Figures are made without pyplot, so that drawing one neither opens a window nor switches the
backend of a notebook or a program that uses rnnkit; and matplotlib is imported only when a
picture is drawn, so importing rnnkit stays fast::

    with figure(out / "loss.png", size=(6, 3.5)) as (fig, ax):
        ax.plot(steps, losses)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def new_figure(size: tuple[float, float] = (6.0, 4.0), dpi: int = 100) -> Any:
    """A matplotlib Figure of ``size`` inches that belongs to no window (saving it picks the file's backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=dpi)


def colormap(name: str, levels: int | None = None) -> Any:
    """matplotlib's colormap ``name``, cut into ``levels`` steps if given."""
    import matplotlib

    cmap = matplotlib.colormaps[name]
    return cmap.resampled(levels) if levels else cmap


@contextmanager
def figure(path: str | Path, size: tuple[float, float] = (6.0, 4.0), dpi: int = 120,
           **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """Yield ``(fig, axes)`` with ``axes = fig.subplots(**subplots)``; on leaving, save to ``path`` (folders made)."""
    fig = new_figure(size, dpi)
    yield fig, fig.subplots(**subplots)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
