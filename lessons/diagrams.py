"""Pictures for the lessons: boxes and arrows drawn with matplotlib. No network math lives here.

Colours follow Karpathy's "Unreasonable Effectiveness" figure: inputs red, recurrent states
green, outputs blue. An output that a loss reads is drawn solid; one the model computes but
nobody uses is drawn faded.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

INPUT, STATE, OUTPUT, UNUSED = "#f4a6a6", "#9fd89f", "#9ec5f0", "#eeeeee"


def box(ax: Axes, x: float, y: float, colour: str, label: str = "", w: float = 0.7, h: float = 0.55) -> None:
    """A rounded box centred at (x, y) with a label."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=colour, ec="#444", lw=1))
    if label:
        ax.text(x, y, label, ha="center", va="center", fontsize=9)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], colour: str = "#444") -> None:
    """An arrow from start to end."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color=colour, lw=1, shrinkA=0, shrinkB=0))


def unrolled(ax: Axes, steps: int, x_label: str, h_label: str, y_label: str | None = None, title: str = "") -> None:
    """The recurrence h_t = f(h_{t-1}, x_t) unrolled over ``steps`` steps, with shape labels."""
    for t in range(steps):
        box(ax, t * 1.6 + 1.6, 0, INPUT, f"x_{t + 1}\n{x_label}")
        box(ax, t * 1.6 + 1.6, 1.2, STATE, f"h_{t + 1}\n{h_label}")
        arrow(ax, (t * 1.6 + 1.6, 0.28), (t * 1.6 + 1.6, 0.92))
        arrow(ax, (t * 1.6 + 0.35, 1.2), (t * 1.6 + 1.25, 1.2))
        if y_label:
            box(ax, t * 1.6 + 1.6, 2.4, OUTPUT, f"y_{t + 1}\n{y_label}")
            arrow(ax, (t * 1.6 + 1.6, 1.48), (t * 1.6 + 1.6, 2.12))
    box(ax, 0, 1.2, STATE, f"h_0\n{h_label}")
    _finish(ax, steps, 3.0 if y_label else 1.8, title)


def configuration(ax: Axes, name: str) -> None:
    """One of the five input/output configurations: which inputs exist, which outputs a loss reads."""
    layouts = {
        # name: (steps, which steps get an input, which steps have a used output, encoder steps)
        "one-to-one": (1, {0}, {0}, 0),
        "one-to-many": (4, {0}, {0, 1, 2, 3}, 0),
        "many-to-one": (4, {0, 1, 2, 3}, {3}, 0),
        "many-to-many (aligned)": (4, {0, 1, 2, 3}, {0, 1, 2, 3}, 0),
        "encoder-decoder": (6, {0, 1, 2}, {3, 4, 5}, 3),
    }
    steps, inputs, outputs, encoder = layouts[name]
    for t in range(steps):
        x = t * 1.2
        box(ax, x, 1.2, STATE, "h", w=0.6)
        if t:
            arrow(ax, (x - 0.9, 1.2), (x - 0.3, 1.2))
        if t in inputs:
            box(ax, x, 0, INPUT, "x", w=0.6)
            arrow(ax, (x, 0.28), (x, 0.92))
        used = t in outputs
        box(ax, x, 2.4, OUTPUT if used else UNUSED, "loss" if used else "", w=0.6)
        arrow(ax, (x, 1.48), (x, 2.12), "#444" if used else "#bbb")
    if encoder:
        ax.axvline(encoder * 1.2 - 0.6, color="#888", ls="--", lw=1)
        ax.text(encoder * 0.6 - 0.6, -0.6, "encoder", ha="center", fontsize=9)
        ax.text((encoder + steps) * 0.6 - 0.6, -0.6, "decoder (reads its own last output)", ha="center", fontsize=9)
    ax.set_xlim(-0.8, max(steps, 2) * 1.2 - 0.4)
    ax.set_ylim(-0.9, 2.9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(name, fontsize=11)


def five_configurations() -> plt.Figure:
    """All five configurations, in two rows."""
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4), gridspec_kw={"width_ratios": [1, 1, 1]})
    names = ["one-to-one", "one-to-many", "many-to-one", "many-to-many (aligned)", "encoder-decoder"]
    for ax, name in zip(axes.flat, names, strict=False):
        configuration(ax, name)
    legend = axes[1, 2]
    legend.axis("off")
    for k, (colour, text) in enumerate([(INPUT, "input x_t"), (STATE, "recurrent state h_t"),
                                        (OUTPUT, "an output a loss reads"), (UNUSED, "computed, not used")]):
        box(legend, 0.15, 0.8 - 0.2 * k, colour, w=0.12, h=0.12)
        legend.text(0.3, 0.8 - 0.2 * k, text, va="center", fontsize=10)
    legend.set_xlim(0, 1)
    legend.set_ylim(0, 1)
    fig.tight_layout()
    return fig


def _finish(ax: Axes, steps: int, top: float, title: str) -> None:
    ax.set_xlim(-0.6, steps * 1.6 + 2.2)
    ax.set_ylim(-0.5, top)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
