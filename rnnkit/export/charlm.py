"""A trained char-LM as files a runtime without rnnkit can use: ONNX (two graphs) or TorchScript.

ONNX, ``rnnkit export RUN --format onnx --out lm.onnx`` writes

    lm.onnx        ids (B, T) int64, lengths (B,), h0 (L, B, H)[, c0]  ->  logits (B, T, V), h_n[, c_n]
    lm.step.onnx   ids (B,) int64, h (L, B, H)[, c]                    ->  logits (B, V), h_new[, c_new]
    lm.json        the vocabulary (id -> character), the model config, the inputs and outputs, how to sample

and the same vocabulary and config are in each ONNX file's metadata (``rnnkit.vocab``,
``rnnkit.config``). To sample: run lm.onnx on the prime but its last character (B = 1) for the
state, then feed one id at a time to lm.step.onnx; ``rnnkit sample`` draws the next id as
``argmax(p / E)`` with E ~ Exp(1) per character (that is how ``torch.multinomial`` draws one
sample), p the softmax of logits / temperature, cut to top-k / top-p.

TorchScript, ``--format torchscript --out lm.pt``: one module with ``forward(ids, lengths, h0[, c0])``
and ``step(ids, h[, c])``, the same contract, plus ``lm.json``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import onnx
import torch
from onnx import TensorProto, helper
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.export.onnx_graph import Graph, model_proto, stack_sequence, stack_step, state_io, value
from rnnkit.layers import to_torch
from rnnkit.lm.char_lm import CharLM, classic_rnn

SAMPLING = ("p = softmax(logits / temperature), cut to top_k / top_p as rnnkit.lm.sample.next_char_distribution; "
            "next id = argmax(p / E), E ~ Exp(1), one per vocabulary entry (torch.multinomial's draw of one sample)")


def describe(model: CharLM, fmt: str) -> dict[str, Any]:
    """The sidecar JSON: what the files contain and how to use them."""
    assert model.vocab is not None
    c = model.config
    lstm = c.cell == "lstm"
    state = "h (L, B, H)" + (", c (L, B, H)" if lstm else "")
    return {
        "format": f"rnnkit.charlm.{fmt}/1", "config": dataclasses.asdict(c), "vocab": model.vocab.chars,
        "sequence": {"inputs": "ids (B, T) int64, lengths (B,) int64, "
                     + state.replace("h (", "h0 (").replace("c (", "c0 ("),
                     "outputs": "logits (B, T, V), h_n" + (", c_n" if lstm else "")},
        "step": {"inputs": "ids (B,) int64, " + state, "outputs": "logits (B, V), h_new" + (", c_new" if lstm else "")},
        "prime": "an empty prime starts from the id of '\\n' (or 0); the state is the sequence graph's over all but "
                 "the prime's last character",
        "sampling": SAMPLING,
    }


def charlm_onnx(model: CharLM) -> dict[str, onnx.ModelProto]:
    """The "sequence" and "step" graphs of a char-LM, with its vocabulary and config as metadata."""
    rnn = classic_rnn(model, "export")
    c = model.config
    L, H, V, lstm = c.num_layers, c.hidden_size, c.vocab_size, c.cell == "lstm"
    info = describe(model, "onnx")
    meta = {"rnnkit.kind": "charlm", "rnnkit.vocab": json.dumps(info["vocab"]),
            "rnnkit.config": json.dumps(info["config"]), "rnnkit.sampling": SAMPLING}
    graphs = {}
    # the whole sequence: embedding -> stack (a Scan over time) -> head
    g = Graph()
    emb, w, b = g.tensor(model.embedding.weight,
                         "embedding"), g.tensor(model.head.weight, "head_w", True), g.tensor(model.head.bias, "head_b")
    x = g.op("Gather", [emb, "ids"], axis=0)  # (B, T, E)
    out, h_n, c_n = stack_sequence(g, rnn, x, "lengths", "h0", "c0" if lstm else None)
    g.nodes.append(helper.make_node("Add", [g.op("MatMul", [out, w]), b], ["logits"]))
    state_ins, state_outs = state_io(g, h_n, c_n, ("h0", "c0"), ("h_n", "c_n"), [L, "B", H], [L, "B", H])
    ins = [value("ids", ["B", "T"], TensorProto.INT64), value("lengths", ["B"], TensorProto.INT64), *state_ins]
    outs = [value("logits", ["B", "T", V]), *state_outs]
    graphs["sequence"] = model_proto(g, ins, outs, "rnnkit_charlm_sequence", meta)
    # one step: the state goes in and comes out, so the caller owns it
    s = Graph()
    emb, w, b = s.tensor(model.embedding.weight,
                         "embedding"), s.tensor(model.head.weight, "head_w", True), s.tensor(model.head.bias, "head_b")
    x = s.op("Gather", [emb, "ids"], axis=0)  # (B, E)
    y, h_new, c_new = stack_step(s, rnn, x, "h", "c" if lstm else None)
    s.nodes.append(helper.make_node("Add", [s.op("MatMul", [y, w]), b], ["logits"]))
    state_ins, state_outs = state_io(s, h_new, c_new, ("h", "c"), ("h_new", "c_new"), [L, "B", H], [L, "B", H])
    ins = [value("ids", ["B"], TensorProto.INT64), *state_ins]
    outs = [value("logits", ["B", V]), *state_outs]
    graphs["step"] = model_proto(s, ins, outs, "rnnkit_charlm_step", meta)
    return graphs


class _ScriptedLSTM(nn.Module):
    """The char-LM on torch.nn modules, for TorchScript: forward over padded sequences, step for generation."""

    def __init__(self, model: CharLM) -> None:
        super().__init__()
        self.embedding, self.rnn, self.head = model.embedding, to_torch(classic_rnn(model, "export")), model.head

    def forward(self, ids: Tensor, lengths: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        packed = pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, c) = self.rnn(packed, (h0, c0))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))  # zeros past each length
        return self.head(out), h, c

    @torch.jit.export
    def step(self, ids: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out, (h, c) = self.rnn(self.embedding(ids).unsqueeze(1), (h, c))
        return self.head(out[:, 0]), h, c


class _ScriptedRNN(nn.Module):
    """As _ScriptedLSTM, for a GRU or Elman stack (one state tensor)."""

    def __init__(self, model: CharLM) -> None:
        super().__init__()
        self.embedding, self.rnn, self.head = model.embedding, to_torch(classic_rnn(model, "export")), model.head

    def forward(self, ids: Tensor, lengths: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
        packed = pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h = self.rnn(packed, h0)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
        return self.head(out), h

    @torch.jit.export
    def step(self, ids: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        out, h = self.rnn(self.embedding(ids).unsqueeze(1), h)
        return self.head(out[:, 0]), h


def charlm_torchscript(model: CharLM) -> torch.jit.ScriptModule:
    """A scripted copy of the model (its own weights), with ``forward`` and ``step``."""
    import copy

    copied = copy.deepcopy(model).eval()
    wrapper = _ScriptedLSTM(copied) if model.config.cell == "lstm" else _ScriptedRNN(copied)
    return torch.jit.script(wrapper.eval())
