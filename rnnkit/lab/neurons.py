"""Look inside a character-level model: every gate and state at every character of a text.

``trace_text`` runs the model's recurrent layer through its ``record()`` method (the
reference loop keeps each step's gates and states; nothing is recomputed here) and keeps
the result as numpy arrays. The other functions are the measurements of Karpathy,
Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent Networks":

* ``correlations`` / ``top_neurons``: Pearson's r between each unit's activation and a
  feature of the text (``rnnkit.lab.features``), to find the "interpretable cells";
* ``saturation``: for each gate, the fraction of steps each unit spends left-saturated
  (< 0.1) or right-saturated (> 0.9), their Figure 3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnnkit.layers import RecurrentBase

SIGMOID_GATES = {"lstm": ("i", "f", "o"), "gru": ("r", "z")}  # gates in (0, 1); g and n are tanh candidates


@dataclass
class TextTrace:
    """What a model computed at each character of ``text``.

    ``steps[layer][name]`` is a (T, H) array for every gate (i, f, g, o; r, z, n; a) and
    state (h; c for an LSTM) of the first direction of that layer.
    """

    text: str
    mode: str  # "lstm", "gru", "rnn_tanh" or "rnn_relu"
    steps: list[dict[str, np.ndarray]]

    @property
    def num_layers(self) -> int:
        return len(self.steps)


def trace_text(model: nn.Module, encode: Callable[[str], list[int]], text: str) -> TextTrace:
    """Record ``model.rnn`` on ``text``, fed through ``model.embedding`` as the model itself would be.

    ``model`` needs an ``embedding`` (token ids -> (B, T, I)) and an ``rnn`` (an rnnkit LSTM, GRU or RNN layer
    with batch_first=True), which is what ``rnnkit.lm.CharLM`` has.
    """
    rnn = getattr(model, "rnn", None)
    embedding = getattr(model, "embedding", None)
    if not isinstance(rnn, RecurrentBase) or embedding is None:
        raise TypeError(f"trace_text: expected a model with .embedding and an rnnkit LSTM, GRU or RNN layer as .rnn "
                        f"(their record() gives the gates; minGRU and minLSTM have none), got {type(model).__name__} "
                        f"with rnn={type(rnn).__name__}.")
    if not rnn.batch_first:
        raise ValueError("trace_text: the model's rnn must be batch_first=True, as rnnkit's CharLM is.")
    if not text:
        raise ValueError("trace_text: the text is empty; pass at least one character.")
    ids = torch.tensor([encode(text)], dtype=torch.long)  # (1, T)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            recording = rnn.record(embedding(ids))
    finally:
        model.train(was_training)
    steps = [{name: v[0].numpy() for name, v in layer[0].items()} for layer in recording.steps]  # (T, H) each
    return TextTrace(text, rnn.mode, steps)


def correlations(activations: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson's r between each unit and the feature: activations (T, H), feature (T,) -> (H,).

    A unit or feature that never changes has no correlation; it gets 0, not NaN.
    """
    a = activations - activations.mean(0)  # (T, H)
    f = feature - feature.mean()  # (T,)
    denominator = np.sqrt((a**2).sum(0) * (f**2).sum())  # (H,)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * f[:, None]).sum(0) / denominator
    return np.where(denominator > 0, r, 0.0)


@dataclass(frozen=True)
class Neuron:
    layer: int
    state: str  # "h" or "c" (or a gate name)
    unit: int
    r: float  # Pearson correlation with the feature it was found for

    def label(self) -> str:
        return f"layer {self.layer + 1} {self.state}[{self.unit}]"


def top_neurons(trace: TextTrace, feature: np.ndarray, k: int = 3,
                states: tuple[str, ...] = ("h", "c")) -> list[Neuron]:
    """The k units (over all layers and the given states) with the largest |r| with ``feature``."""
    if len(feature) != len(trace.text):
        raise ValueError(f"top_neurons: feature has {len(feature)} values, the text {len(trace.text)} characters.")
    found = []
    for layer, names in enumerate(trace.steps):
        for state in states:
            if state in names:
                r = correlations(names[state], feature)
                found += [Neuron(layer, state, u, float(r[u])) for u in range(len(r))]
    return sorted(found, key=lambda n: -abs(n.r))[:k]


def saturation(gate: np.ndarray, low: float = 0.1, high: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of steps each unit is left-saturated (< low) and right-saturated (> high): (T, H) -> (H,), (H,)."""
    return (gate < low).mean(0), (gate > high).mean(0)
