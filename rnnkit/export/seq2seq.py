"""An encoder-decoder (``rnnkit.models.Seq2Seq``: the ``translate`` recipe) as two ONNX graphs.

    encoder   inputs (B, S) int64, lengths (B,) int64  ->  memory (B, S, H), mask (B, S) bool, h (L, B, H)[, c]
    decoder   tokens (B,) int64, h (L, B, H)[, c], memory, mask  ->  logits (B, V), h_new[, c_new], weights (B, S)

The same steps as ``Seq2Seq.encode`` and one ``Seq2Seq.decode`` step: the encoder stack
(``onnx_graph``), the memory projection zeroed on padding, the bridge from the encoder's final
states (directions side by side per layer) to the decoder's; then the decoder stack one step,
attention over the memory (additive, dot or general; ``rnnkit.models.attention``), the
attentional state tanh(W [h; context]) and the output layer. Greedy decoding feeds the argmax
back from ``bos_id`` until ``eos_id``: ``greedy_onnx`` in the tests and the sidecar say how.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from torch import nn

from rnnkit.export.onnx_graph import Graph, model_proto, stack_sequence, stack_step, state_io, value
from rnnkit.layers.recurrent import RecurrentBase
from rnnkit.models.seq2seq import Seq2Seq


def _linear(g: Graph, x: str, layer: nn.Linear, base: str) -> str:
    """x @ W^T (+ b) for an nn.Linear."""
    y = g.op("MatMul", [x, g.tensor(layer.weight, f"{base}_w", True)])
    bias = getattr(layer, "bias", None)
    return g.op("Add", [y, g.tensor(bias, f"{base}_b")]) if bias is not None else y


def _axes(g: Graph, *axes: int) -> str:
    return g.const(list(axes), "axes", np.int64)


def seq2seq_onnx(model: Seq2Seq, metadata: dict[str, str] | None = None) -> dict[str, onnx.ModelProto]:
    """The "encoder" and "decoder" (one step) graphs of an encoder-decoder."""
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"seq2seq_onnx: expected a rnnkit Seq2Seq model, got {type(model).__name__}.")
    c = model.config
    encoder, decoder = model.encoder, model.decoder
    assert isinstance(encoder, RecurrentBase)
    assert isinstance(decoder, RecurrentBase)
    if model.inputs.embedding is None:
        raise ValueError("seq2seq_onnx: the model reads real-valued inputs; only token-id encoders are exported.")
    L, H, D, lstm = c.num_layers, c.hidden_size, encoder.num_directions, c.cell == "lstm"
    meta = {"rnnkit.kind": "seq2seq", "rnnkit.bos_id": str(c.bos_id), "rnnkit.eos_id": str(c.eos_id),
            **(metadata or {})}

    # ---- the encoder --------------------------------------------------------------------------
    g = Graph()
    x = g.op("Gather", [g.tensor(model.inputs.embedding.weight, "src_embedding"), "inputs"], axis=0)  # (B, S, E)
    B = g.op("Gather", [g.op("Shape", ["lengths"]), g.const(0, "zero", np.int64)], axis=0)
    shape = g.op("Concat", [g.const([L * D], "ld", np.int64), g.op("Unsqueeze", [B, _axes(g, 0)]),
                            g.const([H], "h", np.int64)], axis=0)
    zeros = g.op("ConstantOfShape", [shape], value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0]))
    outputs, h_n, c_n = stack_sequence(g, encoder, x, "lengths", zeros, zeros if lstm else None)  # (B, S, D*H)
    S = g.op("Gather", [g.op("Shape", [outputs]), g.const(1, "one", np.int64)], axis=0)
    steps = g.op("Range", [g.const(0, "zero", np.int64), S, g.const(1, "one", np.int64)])
    # (B, S)
    mask = g.op("Less", [g.op("Unsqueeze", [steps, _axes(g, 0)]), g.op("Unsqueeze", ["lengths", _axes(g, 1)])])
    g.nodes.append(helper.make_node("Identity", [mask], ["mask"]))
    keep = g.op("Unsqueeze", [g.op("Cast", [mask], to=TensorProto.FLOAT), _axes(g, 2)])  # (B, S, 1)
    # zero on padding
    g.nodes.append(helper.make_node("Mul", [_linear(g, outputs, model.memory, "memory"), keep], ["memory"]))

    def per_layer(s: str) -> str:  # (L*D, B, H) -> (L, B, D*H): directions side by side
        four = g.op("Reshape", [s, g.const([L, D, -1, H], "shape", np.int64)])  # (L, D, B, H)
        return g.op("Reshape",
                    [g.op("Transpose", [four], perm=[0, 2, 1, 3]), g.const([L, 0, D * H], "shape", np.int64)])

    g.nodes.append(helper.make_node("Tanh", [_linear(g, per_layer(h_n), model.bridge_h, "bridge_h")], ["h"]))
    ins = [value("inputs", ["B", "S"], TensorProto.INT64), value("lengths", ["B"], TensorProto.INT64)]
    outs = [value("memory", ["B", "S", H]), value("mask", ["B", "S"], TensorProto.BOOL), value("h", [L, "B", H])]
    if lstm:
        assert c_n is not None
        assert model.bridge_c is not None
        g.nodes.append(helper.make_node("Identity", [_linear(g, per_layer(c_n), model.bridge_c, "bridge_c")], ["c"]))
        outs.append(value("c", [L, "B", H]))
    graphs = {"encoder": model_proto(g, ins, outs, "rnnkit_seq2seq_encoder", meta)}

    # ---- one decoder step ---------------------------------------------------------------------
    s = Graph()
    z = s.op("Gather", [s.tensor(model.embedding.weight, "tgt_embedding"), "tokens"], axis=0)  # (B, E)
    y, h_new, c_new = stack_step(s, decoder, z, "h", "c" if lstm else None)  # (B, H)
    a = model.attention
    if a is not None and model.combine is not None:
        if a.kind == "additive":
            q = s.op("Unsqueeze", [_linear(s, y, a.w_query, "att_q"), _axes(s, 1)])  # (B, 1, A)
            k = _linear(s, "memory", a.w_key, "att_k")  # (B, S, A)
            # (B, S)
            scores = s.op("Squeeze", [_linear(s, s.op("Tanh", [s.op("Add", [q, k])]), a.v, "att_v"), _axes(s, 2)])
        else:
            keys = "memory" if a.kind == "dot" else _linear(s, "memory", a.w_key, "att_k")  # (B, S, H)
            # (B, S)
            scores = s.op("Squeeze", [s.op("MatMul", [keys, s.op("Unsqueeze", [y, _axes(s, 2)])]), _axes(s, 2)])
        weights = s.op("Softmax", [s.op("Where", ["mask", scores, s.const(-np.inf, "minus_inf")])], axis=1)  # (B, S)
        # (B, H)
        context = s.op("Squeeze", [s.op("MatMul", [s.op("Unsqueeze", [weights, _axes(s, 1)]), "memory"]), _axes(s, 1)])
        y = s.op("Tanh", [_linear(s, s.op("Concat", [y, context], axis=1), model.combine, "combine")])  # a_t
    else:  # no attention: the weights say so by being all zero
        weights = s.op("Mul", [s.op("Cast", ["mask"], to=TensorProto.FLOAT), s.const(0.0, "zero")])
    s.nodes += [helper.make_node("Identity", [_linear(s, y, model.out, "out")], ["logits"]),
                helper.make_node("Identity", [weights], ["weights"])]
    assert (c_new is not None) == lstm
    state_ins, state_outs = state_io(s, h_new, c_new, ("h", "c"), ("h_new", "c_new"), [L, "B", H], [L, "B", H])
    ins = [value("tokens", ["B"], TensorProto.INT64), *state_ins,
           value("memory", ["B", "S", H]), value("mask", ["B", "S"], TensorProto.BOOL)]
    outs = [value("logits", ["B", c.vocab_size]), *state_outs, value("weights", ["B", "S"])]
    graphs["decoder"] = model_proto(s, ins, outs, "rnnkit_seq2seq_decoder", meta)
    return graphs
