"""A sequence classifier (``rnnkit.models.ManyToOne``: the ``sentiment`` and ``spam`` recipes) as one ONNX graph.

    ids (B, T) int64 (or features (B, T, F) float), lengths (B,) int64  ->  logits (B, C)

The same steps as ``ManyToOne.encode``: embedding, the recurrent stack (``onnx_graph``), pooling
over the real steps (last, mean, max or attention), the linear head. For a text recipe the sidecar
JSON has what a runtime needs to make the ids: the word vocabulary (id -> word; unknown words take
the ``<unk>`` id), the class names, ``max_len``, and how the recipe tokenises
(``rnnkit.recipes.text.tokenize``: lower-cased words and punctuation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from rnnkit.export.onnx_graph import Graph, model_proto, stack_sequence, value
from rnnkit.layers.recurrent import RecurrentBase
from rnnkit.models.many_to_one import ManyToOne


def classifier_onnx(model: ManyToOne, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """The whole classifier: inputs and lengths in, logits out (softmax them for probabilities)."""
    if not isinstance(model, ManyToOne):
        raise TypeError(f"classifier_onnx: expected a rnnkit ManyToOne model, got {type(model).__name__}.")
    c, rnn = model.config, model.rnn
    assert isinstance(rnn, RecurrentBase)
    D, H, L = rnn.num_directions, c.hidden_size, c.num_layers
    g = Graph()
    if model.inputs.embedding is not None:
        x = g.op("Gather", [g.tensor(model.inputs.embedding.weight, "embedding"), "inputs"], axis=0)  # (B, T, E)
        first = value("inputs", ["B", "T"], TensorProto.INT64)
    else:
        x, first = "inputs", value("inputs", ["B", "T", c.input_size])
    # the initial state is zero: built from the batch size so the graph has only the inputs a caller has
    B = g.op("Gather", [g.op("Shape", ["lengths"]), g.const(0, "zero", np.int64)], axis=0)
    zeros_shape = g.op("Concat",
                       [g.const([L * D], "ld", np.int64), g.op("Unsqueeze", [B, g.const([0], "axes", np.int64)]),
                        g.const([H], "h", np.int64)], axis=0)
    h0 = g.op("ConstantOfShape", [zeros_shape], value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0]))
    outputs, h_n, _ = stack_sequence(g, rnn, x, "lengths", h0, h0 if rnn.mode == "lstm" else None)  # (B, T, D*H)
    T = g.op("Gather", [g.op("Shape", [outputs]), g.const(1, "one", np.int64)], axis=0)
    steps = g.op("Range", [g.const(0, "zero", np.int64), T, g.const(1, "one", np.int64)])  # (T,)
    mask = g.op("Less", [g.op("Unsqueeze", [steps, g.const([0], "axes", np.int64)]),
                         g.op("Unsqueeze", ["lengths", g.const([1], "axes", np.int64)])])  # (B, T): t < length
    if c.pooling == "last":  # the top layer's final state, directions side by side
        top = g.op("Slice", [h_n, g.const([(L - 1) * D], "start", np.int64), g.const([L * D], "end", np.int64),
                             g.const([0], "axis", np.int64)])  # (D, B, H)
        pooled = g.op("Reshape", [g.op("Transpose", [top], perm=[1, 0, 2]), g.const([0, D * H], "shape", np.int64)])
    elif c.pooling == "mean":  # padding is zero, so the sum is over the real steps
        total = g.op("ReduceSum", [outputs, g.const([1], "axes", np.int64)], keepdims=0)  # (B, D*H)
        pooled = g.op("Div", [total, g.op("Unsqueeze", [g.op("Cast", ["lengths"], to=TensorProto.FLOAT),
                                                        g.const([1], "axes", np.int64)])])
    elif c.pooling == "max":
        mask3 = g.op("Unsqueeze", [mask, g.const([2], "axes", np.int64)])  # (B, T, 1)
        masked = g.op("Where", [mask3, outputs, g.const(-np.inf, "minus_inf")])
        pooled = g.op("ReduceMax", [masked, g.const([1], "axes", np.int64)], keepdims=0)  # opset 18 takes axes as input
    else:  # attention: score_t = v . tanh(W o_t + b); alpha = softmax over real steps; s = sum_t alpha_t o_t
        assert model.attention is not None
        a = model.attention
        hidden = g.op("Tanh", [g.op("Add", [g.op("MatMul", [outputs, g.tensor(a.proj.weight, "att_w", True)]),
                                            g.tensor(a.proj.bias, "att_b")])])
        scores = g.op("Squeeze", [g.op("MatMul", [hidden, g.tensor(a.query.weight, "att_v", True)]),
                                  g.const([2], "axes", np.int64)])
        weights = g.op("Softmax", [g.op("Where", [mask, scores, g.const(-np.inf, "minus_inf")])], axis=1)  # (B, T)
        # (B, D*H)
        pooled = g.op("Squeeze", [g.op("MatMul", [g.op("Unsqueeze", [weights, g.const([1], "axes", np.int64)]),
                                                  outputs]), g.const([1], "axes", np.int64)])
    g.nodes.append(helper.make_node("Add", [g.op("MatMul", [pooled, g.tensor(model.head.weight, "head_w", True)]),
                                            g.tensor(model.head.bias, "head_b")], ["logits"]))
    meta = {"rnnkit.kind": "classifier", **(metadata or {})}
    return model_proto(g, [first, value("lengths", ["B"], TensorProto.INT64)], [value("logits", ["B", c.num_outputs])],
                       "rnnkit_classifier", meta, opset=18)


def describe_text_classifier(task: str, vocab: dict[str, Any], classes: list[str], max_len: int) -> dict[str, Any]:
    """The sidecar JSON of a sentiment/spam model: vocabulary, classes and how to make the ids."""
    from rnnkit.recipes.text import TokenVocab

    words = TokenVocab.from_dict(vocab)
    return {"format": "rnnkit.classifier.onnx/1", "task": task, "classes": classes, "vocab": list(words.itos),
            "unk_id": words.unk_id, "max_len": max_len,
            "tokenize": "rnnkit.recipes.text.tokenize: lower-cased, words (with inner apostrophes or hyphens) and "
                        "single punctuation marks",
                        "inputs": "inputs (B, T) int64 word ids (at least one per text: an empty text is [unk_id]), "
                                  "lengths (B,) int64",
                                  "outputs": "logits (B, C); softmax over C gives the class probabilities"}
