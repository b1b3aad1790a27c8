"""rnnkit layers and char-LMs as ONNX graphs, written node by node with ``onnx.helper``.

Why not ``torch.onnx.export``: with torch 2.13 the legacy exporter writes ONNX's LSTM op, which
has no projection (``proj_size`` fails), and the dynamo exporter fails on packed (variable
length) input. The recurrence is a few matrix products and gates, so it is written here
directly, the same equations as ``rnnkit.cells``, and the whole stack is an ONNX ``Scan``
over time: any batch size, any length, variable lengths, every cell, both directions, any
depth, projections.

    whole sequence   x (B, T, I), lengths (B,), h0 (L*D, B, H_out)[, c0 (L*D, B, H)]
                     -> output (B, T, D*H_out) (zero past each length), h_n[, c_n]
    one step         x (B, I), h (L, B, H_out)[, c (L, B, H)] -> y (B, H_out), h', c'

Inside a Scan body, a step past a sequence's length keeps the state (``Where(mask, new, old)``)
and outputs zeros; the reverse direction reads ``ReverseSequence(x, lengths)``, as rnnkit's
reference loop reads the reversed valid part of each sequence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import Tensor

from rnnkit.layers.recurrent import RecurrentBase

OPSET = 17
FLOAT = TensorProto.FLOAT


class Graph:
    """Nodes and initializers of one ONNX graph; a Scan body is a Graph sharing its parent's initializers."""

    def __init__(self, parent: Graph | None = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = parent.initializers if parent is not None else []
        self.counter: list[int] = parent.counter if parent is not None else [0]

    def fresh(self, base: str) -> str:
        self.counter[0] += 1
        return f"{base}_{self.counter[0]}"

    def const(self, value: Any, base: str = "const", dtype: Any = np.float32) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(self, t: Tensor | None, base: str, transpose: bool = False) -> str | None:
        """A parameter as float32 (transposed for ``x @ W^T``); None stays None (a layer without biases)."""
        return None if t is None else self.tensor(t, base, transpose)

    def tensor(self, t: Tensor, base: str, transpose: bool = False) -> str:
        a = t.detach().cpu().float().numpy()
        return self.const(a.T.copy() if transpose else a, base)

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if outputs == 1 else names


def _affine(g: Graph, x: str, w_t: str, b: str | None) -> str:
    y = g.op("MatMul", [x, w_t])
    return g.op("Add", [y, b]) if b is not None else y


def _params(g: Graph, layer: RecurrentBase, l: int, d: int) -> dict[str, str | None]:
    p = layer.direction_params(l, d)
    return {"w_ih": g.weight(p.weight_ih, "w_ih", True), "w_hh": g.weight(p.weight_hh, "w_hh", True),
            "b_ih": g.weight(p.bias_ih, "b_ih"), "b_hh": g.weight(p.bias_hh, "b_hh"),
            "w_hr": g.weight(p.weight_hr, "w_hr", True)}


def cell_step(g: Graph, mode: str, H: int, p: dict[str, Any], x: str, h: str, c: str | None) -> tuple[str, str | None]:
    """One step of one layer, x (B, I), h (B, H_out), c (B, H) -> h', c' (the equations of rnnkit.cells)."""
    if mode == "lstm":
        gates = g.op("Add", [_affine(g, x, p["w_ih"], p["b_ih"]), _affine(g, h, p["w_hh"], p["b_hh"])])  # (B, 4H)
        i, f, gg, o = g.op("Split", [gates, g.const([H] * 4, "split", np.int64)], outputs=4, axis=-1)
        i, f, o, gg = g.op("Sigmoid", [i]), g.op("Sigmoid", [f]), g.op("Sigmoid", [o]), g.op("Tanh", [gg])
        assert c is not None
        c_new = g.op("Add", [g.op("Mul", [f, c]), g.op("Mul", [i, gg])])  # c = f * c_prev + i * g
        h_new = g.op("Mul", [o, g.op("Tanh", [c_new])])  # h = o * tanh(c)
        if p["w_hr"] is not None:
            h_new = g.op("MatMul", [h_new, p["w_hr"]])  # h = W_hr (o * tanh(c))
        return h_new, c_new
    if mode == "gru":
        gi = _affine(g, x, p["w_ih"], p["b_ih"])  # (B, 3H): r, z, n blocks of W_i x + b_i
        gh = _affine(g, h, p["w_hh"], p["b_hh"])  # (B, 3H): same blocks of W_h h_prev + b_h
        split = g.const([H] * 3, "split", np.int64)
        ri, zi, ni = g.op("Split", [gi, split], outputs=3, axis=-1)
        rh, zh, nh = g.op("Split", [gh, split], outputs=3, axis=-1)
        r, z = g.op("Sigmoid", [g.op("Add", [ri, rh])]), g.op("Sigmoid", [g.op("Add", [zi, zh])])
        n = g.op("Tanh", [g.op("Add", [ni, g.op("Mul", [r, nh])])])  # n = tanh(i_n + r * h_n)
        return g.op("Add", [n, g.op("Mul", [z, g.op("Sub", [h, n])])]), None  # h = (1 - z) * n + z * h_prev
    a = g.op("Add", [_affine(g, x, p["w_ih"], p["b_ih"]), _affine(g, h, p["w_hh"], p["b_hh"])])
    return g.op("Tanh" if mode == "rnn_tanh" else "Relu", [a]), None


def _direction(g: Graph, layer: RecurrentBase, l: int, d: int, x: str, mask: str, lengths: str,
               h0: str, c0: str | None) -> tuple[str, str, str | None]:
    """One direction of one layer over the whole (T, B, I) input: a Scan. Returns output (T, B, H_out), h_n, c_n."""
    mode, H, is_lstm = layer.mode, layer.hidden_size, layer.mode == "lstm"
    p = _params(g, layer, l, d)
    if d:
        x = g.op("ReverseSequence", [x, lengths], batch_axis=1, time_axis=0)
    body = Graph(g)  # the names of a body are fresh too: one graph, one namespace
    h_in, c_in, x_in, m_in = body.fresh("h_in"), body.fresh("c_in"), body.fresh("x_t"), body.fresh("m_t")
    h_new, c_new = cell_step(body, mode, H, p, x_in, h_in, c_in if is_lstm else None)
    h_out = body.op("Where", [m_in, h_new, h_in])  # past its length a sequence keeps its state
    y = body.op("Where", [m_in, h_new, body.const(0.0, "zero")])  # ... and outputs zeros
    state_in = [helper.make_tensor_value_info(h_in, FLOAT, None)]
    state_out = [helper.make_tensor_value_info(h_out, FLOAT, None)]
    if is_lstm:
        assert c_new is not None
        c_out = body.op("Where", [m_in, c_new, c_in])
        state_in.append(helper.make_tensor_value_info(c_in, FLOAT, None))
        state_out.append(helper.make_tensor_value_info(c_out, FLOAT, None))
    graph = helper.make_graph(body.nodes, g.fresh("step"),
                              [*state_in, helper.make_tensor_value_info(x_in, FLOAT, None),
                               helper.make_tensor_value_info(m_in, TensorProto.BOOL, None)],
                              [*state_out, helper.make_tensor_value_info(y, FLOAT, None)])
    inputs = [h0, c0] if is_lstm else [h0]
    outs = g.op("Scan", [*inputs, x, mask], outputs=len(inputs) + 1, body=graph, num_scan_inputs=2)
    out = outs[-1]
    if d:
        out = g.op("ReverseSequence", [out, lengths], batch_axis=1, time_axis=0)
    return out, outs[0], (outs[1] if is_lstm else None)


def stack_sequence(g: Graph, layer: RecurrentBase, x: str, lengths: str, h0: str,
                   c0: str | None) -> tuple[str, str, str | None]:
    """The whole stack on x (B, T, I): output (B, T, D*H_out), h_n (L*D, B, H_out), c_n (L*D, B, H) or None."""
    _check_exportable(layer)
    xt = g.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, I)
    T = g.op("Gather", [g.op("Shape", [xt]), g.const(0, "zero", np.int64)], axis=0)
    steps = g.op("Range", [g.const(0, "zero", np.int64), T, g.const(1, "one", np.int64)])  # (T,)
    mask = g.op("Less", [g.op("Unsqueeze", [steps, g.const([1], "axes", np.int64)]),
                         g.op("Unsqueeze", [lengths, g.const([0], "axes", np.int64)])])  # (T, B): t < length
    mask = g.op("Unsqueeze", [mask, g.const([2], "axes", np.int64)])  # (T, B, 1)
    hs, cs = [], []
    for l in range(layer.num_layers):
        outputs = []
        for d in range(layer.num_directions):
            k = g.const(l * layer.num_directions + d, "k", np.int64)
            h_k = g.op("Gather", [h0, k], axis=0)  # (B, H_out)
            c_k = g.op("Gather", [c0, k], axis=0) if c0 is not None else None
            out, h_n, c_n = _direction(g, layer, l, d, xt, mask, lengths, h_k, c_k)
            outputs.append(out)
            hs.append(g.op("Unsqueeze", [h_n, g.const([0], "axes", np.int64)]))
            if c_n is not None:
                cs.append(g.op("Unsqueeze", [c_n, g.const([0], "axes", np.int64)]))
        xt = outputs[0] if len(outputs) == 1 else g.op("Concat", outputs, axis=-1)  # (T, B, D*H_out)
    out = g.op("Transpose", [xt], perm=[1, 0, 2])  # (B, T, D*H_out)
    h_n = hs[0] if len(hs) == 1 else g.op("Concat", hs, axis=0)
    c_n = (cs[0] if len(cs) == 1 else g.op("Concat", cs, axis=0)) if cs else None
    return out, h_n, c_n


def stack_step(g: Graph, layer: RecurrentBase, x: str, h: str, c: str | None) -> tuple[str, str, str | None]:
    """One step of the whole (unidirectional) stack: x (B, I), h (L, B, H_out), c -> top output (B, H_out), h', c'."""
    _check_exportable(layer)
    if layer.bidirectional:
        raise ValueError("export: a bidirectional layer has no step graph (its reverse direction needs the whole "
                         "sequence).")
    hs, cs = [], []
    for l in range(layer.num_layers):
        k = g.const(l, "k", np.int64)
        h_l = g.op("Gather", [h, k], axis=0)
        c_l = g.op("Gather", [c, k], axis=0) if c is not None else None
        x, c_new = cell_step(g, layer.mode, layer.hidden_size, _params(g, layer, l, 0), x, h_l, c_l)
        hs.append(g.op("Unsqueeze", [x, g.const([0], "axes", np.int64)]))
        if c_new is not None:
            cs.append(g.op("Unsqueeze", [c_new, g.const([0], "axes", np.int64)]))
    h_new = hs[0] if len(hs) == 1 else g.op("Concat", hs, axis=0)
    c_out = (cs[0] if len(cs) == 1 else g.op("Concat", cs, axis=0)) if cs else None
    return x, h_new, c_out


def _check_exportable(layer: RecurrentBase) -> None:
    if not isinstance(layer, RecurrentBase):
        raise TypeError(f"export: expected an rnnkit LSTM, GRU or RNN layer, got {type(layer).__name__}; "
                        "convert a torch.nn layer first with rnnkit.from_torch(layer).")
    if layer.layer_norm:
        raise ValueError("export: the layer-normalised LSTM is not exported yet; export a plain LSTM, GRU or RNN.")


def model_proto(g: Graph, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto], name: str,
                metadata: dict[str, str], opset: int = OPSET) -> onnx.ModelProto:
    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="rnnkit")
    model.ir_version = 8  # what onnxruntime releases of the last years all read
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def state_io(g: Graph, h: str, c: str | None, inputs: tuple[str, str], outputs: tuple[str, str], h_dims: list[Any],
             c_dims: list[Any]) -> tuple[list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
    """The recurrent state as explicit graph inputs and outputs: h (and c for an LSTM) in under ``inputs``'
    names, the final ``h``/``c`` out under ``outputs``' names. Returns (inputs, outputs) to append to the graph's."""
    g.nodes.append(helper.make_node("Identity", [h], [outputs[0]]))
    ins, outs = [value(inputs[0], h_dims)], [value(outputs[0], h_dims)]
    if c is not None:
        g.nodes.append(helper.make_node("Identity", [c], [outputs[1]]))
        ins.append(value(inputs[1], c_dims))
        outs.append(value(outputs[1], c_dims))
    return ins, outs


def value(name: str, dims: list[Any], dtype: int = FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, dims)


def layer_graphs(layer: RecurrentBase) -> dict[str, onnx.ModelProto]:
    """The layer alone: "sequence" (any B, T, lengths) and, for a unidirectional layer, "step"."""
    _check_exportable(layer)
    L, D, H = layer.num_layers, layer.num_directions, layer.hidden_size
    H_out, I, is_lstm = layer.proj_size or H, layer.input_size, layer.mode == "lstm"
    meta = {"rnnkit.mode": layer.mode, "rnnkit.layout": "batch-first x (B, T, I); states (L*D, B, H)"}
    g = Graph()
    out, h_n, c_n = stack_sequence(g, layer, "x", "lengths", "h0", "c0" if is_lstm else None)
    g.nodes.append(helper.make_node("Identity", [out], ["output"]))
    state_ins, state_outs = state_io(g, h_n, c_n, ("h0", "c0"), ("h_n", "c_n"), [L * D, "B", H_out], [L * D, "B", H])
    ins = [value("x", ["B", "T", I]), value("lengths", ["B"], TensorProto.INT64), *state_ins]
    outs = [value("output", ["B", "T", D * H_out]), *state_outs]
    graphs = {"sequence": model_proto(g, ins, outs, "rnnkit_sequence", meta)}
    if not layer.bidirectional:
        s = Graph()
        y, h, c = stack_step(s, layer, "x", "h", "c" if is_lstm else None)
        s.nodes.append(helper.make_node("Identity", [y], ["y"]))
        state_ins, state_outs = state_io(s, h, c, ("h", "c"), ("h_new", "c_new"), [L, "B", H_out], [L, "B", H])
        ins = [value("x", ["B", I]), *state_ins]
        outs = [value("y", ["B", H_out]), *state_outs]
        graphs["step"] = model_proto(s, ins, outs, "rnnkit_step", meta)
    return graphs
