"""Pictures of a ``TextTrace``: PNG figures (matplotlib) and one self-contained HTML page.

* ``text_png`` / ``text_html``: the text, each character's background coloured by one
  unit's activation after reading it (red positive, blue negative), as in Karpathy,
  Johnson & Fei-Fei (2015);
* ``saturation_png``: per sigmoid gate, each unit's left- against right-saturated fraction;
* ``heatmap_png``: every gate and state of one layer, units against time, for a stretch of text;
* ``html_page``: all of it in one file, images inlined as base64, no external resources.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

from rnnkit.lab.neurons import SIGMOID_GATES, Neuron, TextTrace, saturation
from rnnkit.utils.plotting import colormap, new_figure

LEVELS = 21  # colour steps in the HTML text view; an odd number keeps a neutral white middle




def activation_levels(values: np.ndarray) -> np.ndarray:
    """Values (T,) -> integer colour levels 0..LEVELS-1, symmetric around 0 (scaled by max |value|)."""
    scale = float(np.abs(values).max()) or 1.0
    return np.rint((values / scale + 1.0) / 2.0 * (LEVELS - 1)).astype(int)


def relative_luminance(r: float, g: float, b: float) -> float:
    """WCAG 2 relative luminance of an sRGB colour with channels in [0, 1]: 0 for black, 1 for white."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def text_colour(r: float, g: float, b: float) -> str:
    """Black or white, whichever contrasts more with the background (r, g, b) in [0, 1].

    The WCAG contrast ratio is (L1 + 0.05) / (L2 + 0.05); black wins when the background's luminance
    is above ~0.18, so the dark ends of RdBu_r (deep blue, deep red) get white characters.
    """
    luminance = relative_luminance(r, g, b)
    return "#000000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#ffffff"


def _wrap(text: str, columns: int) -> list[list[int]]:
    """Character indices laid out in rows: a newline ends a row (it is drawn as its row's last cell)."""
    rows: list[list[int]] = [[]]
    for t, ch in enumerate(text):
        if len(rows[-1]) >= columns:
            rows.append([])
        rows[-1].append(t)
        if ch == "\n":
            rows.append([])
    return [r for r in rows if r]


def text_png(text: str, values: np.ndarray, path: str | Path, title: str = "", columns: int = 80) -> Path:
    """The text as a grid of characters, each cell coloured by ``values`` (T,); returns the path."""
    rows = _wrap(text, columns)
    levels = activation_levels(values)
    cmap = colormap("RdBu_r", LEVELS)
    grid = np.ones((len(rows), columns, 4))  # (rows, columns, RGBA), white where there is no character
    for y, row in enumerate(rows):
        for x, t in enumerate(row):
            grid[y, x] = cmap(levels[t])
    fig = new_figure((columns * 0.085, len(rows) * 0.16 + 0.5))
    ax = fig.add_axes((0.0, 0.0, 1.0, len(rows) * 0.16 / (len(rows) * 0.16 + 0.5)))
    ax.imshow(grid, aspect="auto", interpolation="nearest")
    for y, row in enumerate(rows):
        for x, t in enumerate(row):
            ch = "↵" if text[t] == "\n" else text[t]
            colour = text_colour(*grid[y, x, :3])  # white on the darkest cells, where black cannot be read
            ax.text(x, y, ch, ha="center", va="center", fontsize=7, family="monospace", color=colour)
    ax.set_axis_off()
    fig.suptitle(title, fontsize=9, y=1.0 - 0.12 / (len(rows) * 0.16 + 0.5), va="top")
    fig.savefig(path)
    return Path(path)


def saturation_png(trace: TextTrace, path: str | Path, low: float = 0.1, high: float = 0.9) -> Path:
    """One scatter per sigmoid gate: a dot per unit at (left-saturated fraction, right-saturated fraction)."""
    gates = SIGMOID_GATES.get(trace.mode)
    if not gates:
        raise ValueError(f"saturation_png: a {trace.mode!r} layer has no sigmoid gates; use an LSTM or a GRU.")
    fig = new_figure((3.2 * len(gates), 3.3))
    axes = fig.subplots(1, len(gates), squeeze=False)
    for ax, gate in zip(axes[0], gates, strict=True):
        for layer, steps in enumerate(trace.steps):
            left, right = saturation(steps[gate], low, high)
            ax.scatter(left, right, s=10, alpha=0.7, label=f"layer {layer + 1}")
        ax.plot([0, 1], [1, 0], color="0.7", linewidth=0.8)  # left + right = 1: always saturated
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"fraction of steps < {low}")
        ax.set_ylabel(f"fraction of steps > {high}")
        ax.set_title(f"gate {gate}")
        ax.legend(fontsize=7)
    fig.suptitle("Gate saturation, one dot per unit", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def heatmap_png(trace: TextTrace, path: str | Path, layer: int = 0, start: int = 0, length: int = 100) -> Path:
    """Every gate and state of ``layer`` over text[start:start + length], one panel each (units x time)."""
    if not 0 <= layer < trace.num_layers:
        raise ValueError(f"heatmap_png: layer must be in 0..{trace.num_layers - 1}, got {layer}.")
    steps = trace.steps[layer]
    names = [n for n in ("i", "f", "g", "o", "r", "z", "n", "a", "c", "h") if n in steps]
    stop = min(start + length, len(trace.text))
    chars = ["↵" if ch == "\n" else ch for ch in trace.text[start:stop]]
    fig = new_figure((max(6.0, 0.09 * len(chars) + 1.5), 1.5 * len(names) + 0.6))
    axes = fig.subplots(len(names), 1, squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        values = steps[name][start:stop].T  # (H, length)
        sigmoid = name in ("i", "f", "o", "r", "z")
        bound = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values, aspect="auto", interpolation="nearest", cmap="viridis" if sigmoid else "RdBu_r",
                          vmin=0.0 if sigmoid else -bound, vmax=1.0 if sigmoid else bound)
        ax.set_ylabel(f"{name}\nunit")
        ax.set_xticks(range(len(chars)), chars, fontsize=6, family="monospace")
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.02)
    fig.suptitle(f"Layer {layer + 1}: gates and states at each character", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def text_html(text: str, values: np.ndarray) -> str:
    """The text as <pre> with one coloured span per character (class c0..c20); hover shows the value."""
    levels = activation_levels(values)
    spans = []
    for ch, level, v in zip(text, levels, values, strict=True):
        shown = "↵\n" if ch == "\n" else html.escape(ch)
        spans.append(f'<span class="c{level}" title="{v:.2f}">{shown}</span>')
    return '<pre class="text">' + "".join(spans) + "</pre>"


def _css() -> str:
    cmap = colormap("RdBu_r", LEVELS)
    rules = []
    for level in range(LEVELS):
        r, g, b, _ = cmap(level)
        background = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
        rules.append(f".c{level}{{background:{background};color:{text_colour(r, g, b)}}}")
    return (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "pre.text{font-family:monospace;font-size:13px;line-height:1.45;white-space:pre-wrap;"
        "border:1px solid #ddd;padding:.6em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "img{max-width:100%}" + "".join(rules)
    )


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def html_page(
    trace: TextTrace,
    title: str,
    neurons: list[tuple[Neuron, str]],
    table: list[tuple[str, list[Neuron]]],
    images: list[tuple[str, Path]],
    notes: str = "",
) -> str:
    """One page: the neuron views (neuron, the feature it was chosen for), the correlation table, the figures."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_css()}</style></head><body><h1>{html.escape(title)}</h1>"]
    if notes:
        parts.append(f"<p>{notes}</p>")
    parts.append("<h2>Units most correlated with each feature</h2><table><tr><th>feature</th>"
                 "<th style='text-align:left'>units (Pearson r)</th></tr>")
    for feature, found in table:
        cells = ", ".join(f"{n.label()} ({n.r:+.2f})" for n in found) or "constant on this text"
        parts.append(f"<tr><td>{html.escape(feature)}</td><td style='text-align:left'>{cells}</td></tr>")
    parts.append("</table>")
    for neuron, feature in neurons:
        values = trace.steps[neuron.layer][neuron.state][:, neuron.unit]
        parts.append(f"<h2>{neuron.label()}: r = {neuron.r:+.2f} with {html.escape(feature)}</h2>"
                     "<p>Background: the unit's value after reading each character (red positive, blue "
                     "negative, white near zero); hover for the number.</p>")
        parts.append(text_html(trace.text, values))
    for caption, path in images:
        parts.append(f"<h2>{html.escape(caption)}</h2>{_image(path)}")
    parts.append("</body></html>")
    return "\n".join(parts)
