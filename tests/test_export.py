"""``rnnkit export``: ONNX graphs and TorchScript modules equal to the PyTorch model they came from.

Parity in onnxruntime on random inputs of several batch sizes and lengths (one exported file,
so the batch and time axes really are dynamic), for every cell, both directions, stacks and
projections; the char-LM's sequence and step graphs; an onnxruntime sampling loop that writes
what ``rnnkit sample --seed`` writes, character for character; the TorchScript module.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_serve_helpers import random_charlm, train_tiny_charlm

import rnnkit
from rnnkit import export
from rnnkit.cli import main
from rnnkit.export import charlm_onnx, charlm_torchscript, layer_graphs
from rnnkit.export.runtime import OnnxCharLM, distribution
from rnnkit.lm import load_model
from rnnkit.lm.sample import next_char_distribution

I, H = 4, 6
CASES = [
    ("lstm", {}), ("lstm", {"num_layers": 2}), ("lstm", {"bidirectional": True}), ("lstm", {"proj_size": 3}),
    ("lstm", {"proj_size": 3, "num_layers": 2, "bidirectional": True}), ("gru", {}), ("gru", {"num_layers": 3, "bidirectional": True}),
    ("rnn_tanh", {"num_layers": 2}), ("rnn_relu", {"bidirectional": True}), ("gru", {"bias": False}),
]


def session(model) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def make_layer(mode: str, **kw) -> rnnkit.layers.RecurrentBase:
    torch.manual_seed(0)
    if mode.startswith("rnn"):
        return rnnkit.RNN(I, H, nonlinearity=mode[4:], batch_first=True, **kw).eval()
    return {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU}[mode](I, H, batch_first=True, **kw).eval()


@pytest.mark.parametrize("mode,kw", CASES, ids=[f"{m}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for m, kw in CASES])
def test_layer_sequence_graph_equals_the_layer(mode, kw):
    layer = make_layer(mode, **kw)
    graphs = layer_graphs(layer)
    sess = session(graphs["sequence"])
    D, H_out, lstm = layer.num_directions, layer.proj_size or H, mode == "lstm"
    for B, T, lengths in [(1, 1, [1]), (3, 7, [7, 2, 5]), (5, 12, [1, 12, 12, 4, 9])]:
        g = torch.Generator().manual_seed(B * 100 + T)
        x = torch.randn(B, T, I, generator=g)
        h0 = torch.randn(layer.num_layers * D, B, H_out, generator=g)
        c0 = torch.randn(layer.num_layers * D, B, H, generator=g)
        hx = (h0, c0) if lstm else h0
        lens = torch.tensor(lengths)
        with torch.no_grad():
            out, state = layer(x, hx, lengths=lens)
        feeds = {"x": x.numpy(), "lengths": lens.numpy(), "h0": h0.numpy(), **({"c0": c0.numpy()} if lstm else {})}
        got = sess.run(None, feeds)
        want = [out, *(state if lstm else [state])]
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-5)
    assert ("step" in graphs) == (not layer.bidirectional)


@pytest.mark.parametrize("mode,kw", [c for c in CASES if not c[1].get("bidirectional")])
def test_layer_step_graph_equals_the_layer_one_step_at_a_time(mode, kw):
    layer = make_layer(mode, **kw)
    sess = session(layer_graphs(layer)["step"])
    B, T, H_out, lstm = 3, 5, layer.proj_size or H, mode == "lstm"
    x = torch.randn(B, T, I)
    with torch.no_grad():
        out, _ = layer(x)
    state = {"h": np.zeros((layer.num_layers, B, H_out), np.float32)}
    if lstm:
        state["c"] = np.zeros((layer.num_layers, B, H), np.float32)
    for t in range(T):
        y, *new = sess.run(None, {"x": x[:, t].numpy(), **state})
        state = dict(zip(state, new, strict=True))
        np.testing.assert_allclose(y, out[:, t].numpy(), rtol=1e-5, atol=1e-5)


def test_layer_norm_and_foreign_layers_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="layer-normalised"):
        layer_graphs(rnnkit.LSTM(I, H, layer_norm=True))
    with pytest.raises(TypeError, match="from_torch"):
        layer_graphs(torch.nn.LSTM(I, H))


# ---- the char-LM ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def charlms(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {"lstm": train_tiny_charlm(root / "lstm"), "gru": random_charlm(root / "gru", "gru"),
            "rnn": random_charlm(root / "rnn", "rnn", num_layers=1)}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_charlm_graphs_equal_the_model(charlms, cell):
    model, vocab, _ = load_model(charlms[cell])
    graphs = charlm_onnx(model)
    seq, step = session(graphs["sequence"]), session(graphs["step"])
    assert json.loads(seq.get_modelmeta().custom_metadata_map["rnnkit.vocab"]) == vocab.chars
    lstm, L, Hm = cell == "lstm", model.config.num_layers, model.config.hidden_size
    ids = torch.randint(0, len(vocab), (4, 15), generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([15, 3, 9, 1])
    zero = np.zeros((L, 4, Hm), np.float32)
    got = seq.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy(), "h0": zero, **({"c0": zero} if lstm else {})})
    for b, n in enumerate(lengths.tolist()):  # each row against the model run on that row alone, unpadded
        with torch.no_grad():
            logits, _ = model(ids[b : b + 1, :n])
        state = model.final_state
        np.testing.assert_allclose(got[0][b, :n], logits[0].numpy(), rtol=1e-5, atol=1e-5)
        for k, s in enumerate(state if lstm else [state]):
            np.testing.assert_allclose(got[1 + k][:, b], s[:, 0].detach().numpy(), rtol=1e-5, atol=1e-5)
    # the step graph, from the sequence graph's state of row 0, continues as the model does
    state = {"h": got[1][:, :1], **({"c": got[2][:, :1]} if lstm else {})}
    more = torch.randint(0, len(vocab), (1, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want, _ = model(more, state=tuple(torch.from_numpy(v) for v in state.values()) if lstm else torch.from_numpy(state["h"]))
    for t in range(6):
        logits, *new = step.run(None, {"ids": more[:, t].numpy(), **state})
        state = dict(zip(state, new, strict=True))
        np.testing.assert_allclose(logits[0], want[0, t].numpy(), rtol=1e-5, atol=1e-5)


def test_numpy_distribution_equals_next_char_distribution():
    logits = torch.randn(1, 30, generator=torch.Generator().manual_seed(0)) * 3
    for kw in [{}, {"temperature": 0.6}, {"top_k": 4}, {"top_p": 0.7}, {"temperature": 1.4, "top_k": 10, "top_p": 0.9}]:
        np.testing.assert_allclose(distribution(logits[0].numpy(), **kw), next_char_distribution(logits, **kw)[0].numpy(),
                                   rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cell,prime,kw", [("lstm", "the ", {}), ("lstm", "", {"temperature": 0.8, "top_k": 6}),
                                           ("gru", 'said "', {"top_p": 0.9}), ("rnn", "dog", {})])
def test_onnxruntime_sampling_reproduces_rnnkit_sample_seed(charlms, tmp_path, capsys, cell, prime, kw):
    """The same logits and the same Exp(1) draws that torch.multinomial takes from a seeded generator."""
    out = tmp_path / "lm.onnx"
    assert main(["export", str(charlms[cell]), "--format", "onnx", "--out", str(out)]) == 0
    kw = {"temperature": 1.0, **kw}  # given explicitly: the command's default is 0.8
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    capsys.readouterr()
    assert main(["sample", str(charlms[cell]), "--prime", prime, "--length", "300", "--seed", "7", *flags]) == 0
    want = capsys.readouterr().out[len(prime) : -1]
    generator = torch.Generator().manual_seed(7)
    draws = lambda V: torch.empty(1, V).exponential_(generator=generator)[0].numpy()  # noqa: E731
    got = OnnxCharLM(out).sample(prime, 300, draws, **kw)
    assert len(want) == 300 and got == want


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_torchscript_module_equals_the_model(charlms, tmp_path, cell):
    model, vocab, _ = load_model(charlms[cell])
    path = tmp_path / "lm.pt"
    charlm_torchscript(model).save(str(path))
    scripted = torch.jit.load(str(path))
    lstm, L, Hm = cell == "lstm", model.config.num_layers, model.config.hidden_size
    ids = torch.randint(0, len(vocab), (3, 10), generator=torch.Generator().manual_seed(3))
    lengths = torch.tensor([10, 4, 7])
    zero = torch.zeros(L, 3, Hm)
    with torch.no_grad():
        got = scripted(ids, lengths, zero, zero) if lstm else scripted(ids, lengths, zero)
        for b, n in enumerate(lengths.tolist()):
            logits, _ = model(ids[b : b + 1, :n])
            torch.testing.assert_close(got[0][b, :n], logits[0], rtol=1e-5, atol=1e-5)
        state = (zero[:, :1], zero[:, :1]) if lstm else (zero[:, :1],)
        want, _ = model(ids[:1])
        for t in range(10):
            logits, *state = scripted.step(ids[:1, t], *state)
            torch.testing.assert_close(logits[0], want[0, t], rtol=1e-5, atol=1e-5)


def test_export_cli_writes_the_files_and_says_what_is_wrong(charlms, tmp_path, capsys):
    assert main(["export", str(charlms["lstm"]), "--format", "torchscript", "--out", str(tmp_path / "ts" / "lm.pt")]) == 0
    info = json.loads((tmp_path / "ts" / "lm.json").read_text())
    model, vocab, _ = load_model(charlms["lstm"])
    assert info["vocab"] == vocab.chars and info["config"]["cell"] == "lstm" and info["files"] == {"module": "lm.pt"}
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


# ---- the text classifiers ------------------------------------------------------------------------


@pytest.mark.parametrize("pooling,cell,bidirectional", [("max", "lstm", True), ("last", "gru", True), ("mean", "rnn", False),
                                                        ("attention", "lstm", True), ("last", "lstm", False)])
def test_classifier_graph_equals_the_model(tmp_path, pooling, cell, bidirectional):
    from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig

    torch.manual_seed(0)
    model = ManyToOne(ManyToOneConfig(num_outputs=3, vocab_size=20, input_size=5, hidden_size=6, num_layers=2, cell=cell,
                                      bidirectional=bidirectional, pooling=pooling)).eval()
    sess = session(export.classifier_onnx(model))
    for B, T, lengths in [(1, 1, [1]), (4, 9, [9, 1, 4, 7])]:
        ids = torch.randint(0, 20, (B, T), generator=torch.Generator().manual_seed(T))
        lens = torch.tensor(lengths)
        with torch.no_grad():
            want, _ = model(ids, lengths=lens)
        (got,) = sess.run(None, {"inputs": ids.numpy(), "lengths": lens.numpy()})
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_export_cli_writes_a_text_classifier_with_its_vocabulary(tmp_path):
    from test_serve_helpers import sentiment_checkpoint, sentiment_reference

    from rnnkit.recipes.text import tokenize

    run = sentiment_checkpoint(tmp_path / "sentiment")
    assert main(["export", str(run), "--out", str(tmp_path / "clf.onnx")]) == 0
    info = json.loads((tmp_path / "clf.json").read_text())
    sess = ort.InferenceSession(str(tmp_path / "clf.onnx"))
    texts = ["the quick dog", "no fox said the lazy dog"]
    # a runtime without rnnkit: tokenise as the sidecar says, look the words up, run, softmax
    index = {w: i for i, w in enumerate(info["vocab"])}
    ids = [[index.get(w, info["unk_id"]) for w in tokenize(t)][: info["max_len"]] for t in texts]
    T = max(map(len, ids))
    padded = np.array([row + [0] * (T - len(row)) for row in ids], dtype=np.int64)
    (logits,) = sess.run(None, {"inputs": padded, "lengths": np.array([len(r) for r in ids], dtype=np.int64)})
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    classes, want = sentiment_reference(run, texts)
    np.testing.assert_allclose(probs, want.numpy(), rtol=1e-5, atol=1e-6)
    assert info["classes"] == classes
    assert main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "clf.pt")]) == 2
