"""A sequence tagger (the ``pos`` and ``ner`` recipes: word features -> ``ManyToMany``) as one ONNX graph.

    words (B, T) int64, cases (B, T) int64, [chars (B, T, W) int64,] lengths (B,) int64  ->  emissions (B, T, K)

The same steps as ``Tagger``: the word embedding, the case as a one-hot of 4, the character CNN
(embedding, a 1-D convolution, ReLU, padding characters zeroed, max over the word), the
recurrent stack (``onnx_graph``) and the emission layer. Without a CRF a tag is the argmax of its
emissions and its probability their softmax; with one, the runtime runs Viterbi over the
emissions with the transition scores the sidecar holds (``viterbi`` below is the whole of it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from rnnkit.export.onnx_graph import Graph, model_proto, stack_sequence, value
from rnnkit.layers.recurrent import RecurrentBase


def tagger_onnx(model: Any, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """The emissions of a ``rnnkit.recipes.tagging.model.Tagger`` (any cell, directions, depth; with or without
    chars)."""
    features, tagger = model.features, model.tagger
    rnn = tagger.rnn
    if not isinstance(rnn, RecurrentBase) or tagger.inputs.embedding is not None:
        raise TypeError(f"tagger_onnx: expected a Tagger (word features -> ManyToMany), got {type(model).__name__}.")
    c = tagger.config
    L, D, H = c.num_layers, rnn.num_directions, c.hidden_size
    g = Graph()
    axes = lambda *a: g.const(list(a), "axes", np.int64)  # noqa: E731
    parts = [g.op("Gather", [g.tensor(features.word.weight, "word_embedding"), "words"], axis=0)]  # (B, T, E)
    # (B, T, 4)
    onehot = g.op("OneHot", ["cases", g.const(4, "depth", np.int64), g.const([0.0, 1.0], "onoff")], axis=-1)
    parts.append(g.op("Cast", [onehot], to=TensorProto.FLOAT))
    inputs = [value("words", ["B", "T"], TensorProto.INT64), value("cases", ["B", "T"], TensorProto.INT64)]
    if features.char is not None and features.conv is not None:
        inputs.append(value("chars", ["B", "T", "W"], TensorProto.INT64))
        W = g.op("Gather", [g.op("Shape", ["chars"]), g.const(2, "two", np.int64)], axis=0)
        # (B*T, W)
        flat = g.op("Reshape", ["chars", g.op("Concat", [g.const([-1], "minus_one", np.int64),
                                                         g.op("Unsqueeze", [W, axes(0)])], axis=0)])
        # (B*T, Ce, W)
        e = g.op("Transpose", [g.op("Gather", [g.tensor(features.char.weight, "char_embedding"), flat], axis=0)],
                 perm=[0, 2, 1])
        conv = features.conv
        pad = conv.padding[0]
        # (B*T, Cf, W)
        h = g.op("Relu",
                 [g.op("Conv", [e, g.tensor(conv.weight, "conv_w"), g.tensor(conv.bias, "conv_b")], pads=[pad, pad])])
        # (B*T, 1, W): padding characters
        real = g.op("Unsqueeze", [g.op("Equal", [flat, g.const(0, "zero", np.int64)]), axes(1)])
        h = g.op("Where", [real, g.const(0.0, "zero_f"), h])  # padding characters do not vote
        pooled = g.op("ReduceMax", [h, axes(2)], keepdims=0)  # (B*T, Cf)
        shape = g.op("Concat", [g.op("Shape", ["words"]), g.const([-1], "minus_one", np.int64)], axis=0)
        parts.append(g.op("Reshape", [pooled, shape]))  # (B, T, Cf)
    x = g.op("Concat", parts, axis=2)  # (B, T, F)
    B = g.op("Gather", [g.op("Shape", ["lengths"]), g.const(0, "zero", np.int64)], axis=0)
    zshape = g.op("Concat", [g.const([L * D], "ld", np.int64), g.op("Unsqueeze", [B, axes(0)]),
                             g.const([H], "h", np.int64)], axis=0)
    zeros = g.op("ConstantOfShape", [zshape], value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0]))
    outputs, _, _ = stack_sequence(g, rnn, x, "lengths", zeros, zeros if rnn.mode == "lstm" else None)  # (B, T, D*H)
    emissions = g.op("MatMul", [outputs, g.tensor(tagger.emissions.weight, "emissions_w", True)])
    g.nodes.append(helper.make_node("Add", [emissions, g.tensor(tagger.emissions.bias, "emissions_b")], ["emissions"]))
    inputs.append(value("lengths", ["B"], TensorProto.INT64))
    meta = {"rnnkit.kind": "tagger", **(metadata or {})}
    return model_proto(g, inputs, [value("emissions", ["B", "T", c.num_tags])], "rnnkit_tagger", meta, opset=18)


def viterbi(emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[int]:
    """The best tag path of one sentence: emissions (T, K), transitions A[i, j] for i -> j, start and end scores
    (K,)."""
    delta = start + emissions[0]  # (K,)
    pointers = []
    for t in range(1, len(emissions)):
        scores = delta[:, None] + transitions  # (K, K): from i to j
        pointers.append(scores.argmax(0))
        delta = scores.max(0) + emissions[t]
    path = [int((delta + end).argmax())]
    for back in reversed(pointers):
        path.append(int(back[path[-1]]))
    return path[::-1]
