"""The one way rnnkit draws a picture: a matplotlib figure written to a file, never a window.

matplotlib is imported here, only when a picture is drawn, so that importing rnnkit stays fast
and works where no display exists::

    with figure(out / "loss.png", size=(6, 3.5)) as (fig, ax):
        ax.plot(steps, losses)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed, and none is opened
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def figure(path: str | Path, size: tuple[float, float] = (6.0, 4.0), dpi: int = 120, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """Yield ``(fig, axes)`` from ``plt.subplots(**subplots)``; on leaving, save to ``path`` (folders made) and close."""
    plt = pyplot()
    fig, axes = plt.subplots(figsize=size, **subplots)
    try:
        yield fig, axes
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
