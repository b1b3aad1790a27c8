"""``inspect_report``: trace a character model over a text and write every view of it to a directory.

The directory gets ``index.html`` (self-contained), ``correlations.csv`` (every unit's r
with every feature), ``neuron_L<layer>_<state><unit>.png`` per shown unit,
``saturation.png`` (LSTM and GRU) and ``heatmap_L<layer>.png`` per layer.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from torch import nn

from rnnkit.lab.features import compute_features
from rnnkit.lab.neurons import SIGMOID_GATES, Neuron, correlations, top_neurons, trace_text
from rnnkit.lab.render import heatmap_png, html_page, saturation_png, text_png


def inspect_report(
    model: nn.Module,
    encode: Callable[[str], list[int]],
    text: str,
    out: str | Path,
    features: list[str] | None = None,
    extra: list[tuple[int, str, int]] | None = None,
    top: int = 3,
    heatmap_chars: int = 100,
    title: str = "Inside a character-level model",
) -> Path:
    """Write the inspection page and figures for ``model`` on ``text``; returns the HTML path.

    Args:
        model: has ``.embedding`` and ``.rnn`` (see ``trace_text``).
        encode: text -> token ids, e.g. ``vocab.encode``.
        features: names from ``rnnkit.lab.features.FEATURES`` (all by default).
        extra: units to show besides the best per feature, as (layer from 0, state, unit).
        top: how many units the table lists per feature.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trace = trace_text(model, encode, text)
    values = compute_features(text, features)
    table: list[tuple[str, list[Neuron]]] = []
    shown: list[tuple[Neuron, str]] = []
    for name, feature_values in values.items():
        found = [] if feature_values.std() == 0 else top_neurons(trace, feature_values, k=top)
        table.append((name, found))
        if found and all(n != found[0] for n, _ in shown):
            shown.append((found[0], name))
    for layer, state, unit in extra or []:
        shown.append((_extra_neuron(trace.steps, layer, state, unit, values), "the first feature (chosen by hand)"))
    _write_correlations(trace.steps, values, out / "correlations.csv")

    images = []
    for neuron, feature in shown:
        values_t = trace.steps[neuron.layer][neuron.state][:, neuron.unit]
        path = out / f"neuron_L{neuron.layer + 1}_{neuron.state}{neuron.unit}.png"
        text_png(text, values_t, path, title=f"{neuron.label()}, r = {neuron.r:+.2f} with {feature}")
        images.append((f"{neuron.label()} over the text (r = {neuron.r:+.2f} with {feature})", path))
    if trace.mode in SIGMOID_GATES:
        images.append(("Gate saturation (Karpathy et al., 2015, Fig. 3)",
                       saturation_png(trace, out / "saturation.png")))
    for layer in range(trace.num_layers):
        path = heatmap_png(trace, out / f"heatmap_L{layer + 1}.png", layer=layer, length=heatmap_chars)
        images.append((f"Layer {layer + 1}: gates and states over the first {heatmap_chars} characters", path))
    notes = (f"{len(text)} characters. Recurrent layer: {trace.mode.upper()}, {trace.num_layers} layer(s) of "
             f"{trace.steps[0]['h'].shape[1]} units. A unit's value at a character is its value after reading it.")
    page = html_page(trace, title, shown, table, [i for i in images if not i[1].name.startswith("neuron_")], notes)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _extra_neuron(steps: list[dict], layer: int, state: str, unit: int, values: dict) -> Neuron:
    """A unit named on the command line, checked, with its r against the first feature."""
    if not 0 <= layer < len(steps) or state not in steps[layer] or not 0 <= unit < steps[layer][state].shape[1]:
        raise ValueError(f"inspect_report: no unit layer {layer + 1}, state {state!r}, unit {unit}; the model has "
                         f"{len(steps)} layer(s), states {sorted(steps[0])}, {steps[0]['h'].shape[1]} units.")
    first = next(iter(values.values()))
    return Neuron(layer, state, unit, float(correlations(steps[layer][state], first)[unit]))


def _write_correlations(steps: list[dict], values: dict, path: Path) -> None:
    """One row per (layer, state, unit): its Pearson r with each feature."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["layer", "state", "unit", *values])
        for layer, names in enumerate(steps):
            for state in ("h", "c"):
                if state not in names:
                    continue
                rs = [correlations(names[state], feature) for feature in values.values()]
                for unit in range(names[state].shape[1]):
                    writer.writerow([layer + 1, state, unit, *(f"{r[unit]:.4f}" for r in rs)])
