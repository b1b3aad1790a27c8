"""``rnnkit export``: ONNX graphs and TorchScript modules equal to the PyTorch model they came from.

Parity in onnxruntime on random inputs of several batch sizes and lengths (one exported file,
so the batch and time axes really are dynamic), for every cell, both directions, stacks and
projections; the char-LM's sequence and step graphs; an onnxruntime sampling loop that writes
what ``rnnkit sample --seed`` writes, character for character; the TorchScript module.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

import numpy as np
import onnxruntime as ort
import pytest
import torch
from serve_support import random_charlm, train_tiny_charlm

import rnnkit
from rnnkit import export
from rnnkit.cli import main
from rnnkit.export import charlm_onnx, charlm_torchscript, layer_graphs
from rnnkit.export.runtime import OnnxCharLM, distribution
from rnnkit.lm import load_model
from rnnkit.lm.sample import next_char_distribution

I, H = 4, 6
CASES: list[tuple[str, dict[str, Any]]] = [
    ("lstm", {}), ("lstm", {"num_layers": 2}), ("lstm", {"bidirectional": True}), ("lstm", {"proj_size": 3}),
    ("lstm", {"proj_size": 3, "num_layers": 2, "bidirectional": True}), ("gru", {}),
    ("gru", {"num_layers": 3, "bidirectional": True}),
    ("rnn_tanh", {"num_layers": 2}), ("rnn_relu", {"bidirectional": True}), ("gru", {"bias": False}),
]


def session(model) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def make_layer(mode: str, **kw) -> rnnkit.layers.RecurrentBase:
    torch.manual_seed(0)
    if mode.startswith("rnn"):
        return rnnkit.RNN(I, H, nonlinearity=mode[4:], batch_first=True, **kw).eval()
    return {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU}[mode](I, H, batch_first=True, **kw).eval()


@pytest.mark.parametrize(("mode", "kw"), CASES,
                         ids=[f"{m}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for m, kw in CASES])
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


@pytest.mark.parametrize(("mode", "kw"), [c for c in CASES if not c[1].get("bidirectional")])
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
        layer_graphs(cast(Any, torch.nn.LSTM(I, H)))


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
        final = model.final_state
        assert final is not None
        np.testing.assert_allclose(got[0][b, :n], logits[0].numpy(), rtol=1e-5, atol=1e-5)
        for k, s in enumerate(final if lstm else [final]):
            np.testing.assert_allclose(got[1 + k][:, b], s[:, 0].detach().numpy(), rtol=1e-5, atol=1e-5)
    # the step graph, from the sequence graph's state of row 0, continues as the model does
    state = {"h": got[1][:, :1], **({"c": got[2][:, :1]} if lstm else {})}
    more = torch.randint(0, len(vocab), (1, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want, _ = model(more, state=tuple(torch.from_numpy(v) for v in state.values()) if lstm
                        else torch.from_numpy(state["h"]))
    for t in range(6):
        logits, *new = step.run(None, {"ids": more[:, t].numpy(), **state})
        state = dict(zip(state, new, strict=True))
        np.testing.assert_allclose(logits[0], want[0, t].numpy(), rtol=1e-5, atol=1e-5)


def test_numpy_distribution_equals_next_char_distribution():
    logits = torch.randn(1, 30, generator=torch.Generator().manual_seed(0)) * 3
    settings: list[dict[str, Any]] = [{}, {"temperature": 0.6}, {"top_k": 4}, {"top_p": 0.7},
                                      {"temperature": 1.4, "top_k": 10, "top_p": 0.9}]
    for kw in settings:
        np.testing.assert_allclose(distribution(logits[0].numpy(), **kw),
                                   next_char_distribution(logits, **kw)[0].numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("cell", "prime", "kw"), [("lstm", "the ", {}), ("lstm", "", {"temperature": 0.8, "top_k": 6}),
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
    assert len(want) == 300
    assert got == want


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
    assert main(["export", str(charlms["lstm"]), "--format", "torchscript", "--out",
                 str(tmp_path / "ts" / "lm.pt")]) == 0
    info = json.loads((tmp_path / "ts" / "lm.json").read_text())
    model, vocab, _ = load_model(charlms["lstm"])
    assert info["vocab"] == vocab.chars
    assert info["config"]["cell"] == "lstm"
    assert info["files"] == {"module": "lm.pt"}
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    for out in ("", str(tmp_path) + "/"):  # '' was "PosixPath('.') has an empty name"
        assert main(["export", str(charlms["lstm"]), "--out", out]) == 2
        assert "--out needs a file name, such as model.onnx" in capsys.readouterr().err


# ---- the text classifiers ------------------------------------------------------------------------


@pytest.mark.parametrize(("pooling", "cell", "bidirectional"),
                         [("max", "lstm", True), ("last", "gru", True), ("mean", "rnn", False),
                          ("attention", "lstm", True), ("last", "lstm", False)])
def test_classifier_graph_equals_the_model(tmp_path, pooling, cell, bidirectional):
    from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig

    torch.manual_seed(0)
    model = ManyToOne(ManyToOneConfig(num_outputs=3, vocab_size=20, input_size=5, hidden_size=6, num_layers=2,
                                      cell=cell, bidirectional=bidirectional, pooling=pooling)).eval()
    sess = session(export.classifier_onnx(model))
    for B, T, lengths in [(1, 1, [1]), (4, 9, [9, 1, 4, 7])]:
        ids = torch.randint(0, 20, (B, T), generator=torch.Generator().manual_seed(T))
        lens = torch.tensor(lengths)
        with torch.no_grad():
            want, _ = model(ids, lengths=lens)
        (got,) = sess.run(None, {"inputs": ids.numpy(), "lengths": lens.numpy()})
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_export_cli_writes_a_text_classifier_with_its_vocabulary(tmp_path):
    from serve_support import sentiment_checkpoint, sentiment_reference

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


# ---- the encoder-decoder -------------------------------------------------------------------------


def greedy_onnx(encoder: ort.InferenceSession, decoder: ort.InferenceSession, inputs: np.ndarray, lengths: np.ndarray,
                bos: int, eos: int, max_length: int) -> tuple[list[list[int]], list[np.ndarray]]:
    """Greedy decoding in onnxruntime alone: argmax fed back from bos until eos (or max_length)."""
    memory, mask, *state = encoder.run(None, {"inputs": inputs, "lengths": lengths})
    names = [i.name for i in decoder.get_inputs()]
    tokens = np.full(len(inputs), bos, dtype=np.int64)
    out: list[list[int]] = [[] for _ in inputs]
    done = np.zeros(len(inputs), dtype=bool)
    weights = []
    for _ in range(max_length):
        feeds = dict(zip(names, [tokens, *state, memory, mask], strict=True))
        logits, *state, w = decoder.run(None, feeds)
        weights.append(w)
        tokens = logits.argmax(-1).astype(np.int64)
        for b, t in enumerate(tokens):
            if not done[b]:
                out[b].append(int(t))
                done[b] = t == eos
        if done.all():
            break
    return out, weights


@pytest.mark.parametrize(("cell", "attention", "layers"),
                         [("lstm", "additive", 1), ("gru", "dot", 2), ("lstm", "general", 2), ("rnn", "additive", 1),
                          ("gru", "none", 1)])
def test_seq2seq_graphs_decode_as_the_model_does(cell, attention, layers):
    from rnnkit.export.seq2seq import seq2seq_onnx
    from rnnkit.models import Seq2Seq, Seq2SeqConfig

    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(vocab_size=15, input_vocab_size=12, input_size=6, embed_size=5, hidden_size=7,
                                  num_layers=layers, cell=cell, bidirectional=True, attention=attention,
                                  bos_id=1, eos_id=2, max_length=12)).eval()
    graphs = seq2seq_onnx(model)
    encoder, decoder = session(graphs["encoder"]), session(graphs["decoder"])
    inputs = torch.randint(3, 12, (4, 9), generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([9, 3, 6, 1])
    with torch.no_grad():
        encoded = model.encode(inputs, lengths)
        tokens, n, weights = model.generate(inputs, lengths, max_length=12)
    memory, mask, *state = encoder.run(None, {"inputs": inputs.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_allclose(memory, encoded.memory.numpy(), rtol=1e-5, atol=1e-5)
    assert (mask == encoded.mask.numpy()).all()
    for got, want in zip(state, encoded.state if cell == "lstm" else [encoded.state], strict=True):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)
    got, got_weights = greedy_onnx(encoder, decoder, inputs.numpy(), lengths.numpy(), 1, 2, 12)
    assert got == [tokens[b, : int(n[b])].tolist() for b in range(4)]
    if weights is not None:  # the attention of every step, for the rows still decoding
        for b in range(4):
            for t in range(int(n[b])):
                np.testing.assert_allclose(got_weights[t][b], weights[b, t].numpy(), rtol=1e-5, atol=1e-5)


def test_export_cli_writes_a_translator_that_translates_without_rnnkit(tmp_path):
    from serve_support import translate_checkpoint
    from tokenizers import Tokenizer

    from rnnkit.models.seq2seq import Seq2Seq
    from rnnkit.recipes import all_recipes, load_run
    from rnnkit.recipes.translate.recipe import tokenizers, translate_sentences

    run = translate_checkpoint(tmp_path / "translate", beam=1)
    assert main(["export", str(run), "--out", str(tmp_path / "tr.onnx")]) == 0
    info = json.loads((tmp_path / "tr.json").read_text())
    encoder, decoder = ort.InferenceSession(str(tmp_path
                                                / "tr.onnx")), ort.InferenceSession(str(tmp_path / "tr.decoder.onnx"))
    source, target = Tokenizer.from_str(info["source_tokenizer"]), Tokenizer.from_str(info["target_tokenizer"])
    loaded = load_run(run, all_recipes())
    assert isinstance(loaded.model, Seq2Seq)
    for sentence in ["the quick brown fox", "and the dog said no"]:
        ids = source.encode(sentence).ids[: info["max_tokens"]]
        got, _ = greedy_onnx(encoder, decoder, np.array([ids], dtype=np.int64), np.array([len(ids)], dtype=np.int64),
                             info["bos_id"], info["eos_id"], min(info["max_length"], 2 * len(ids) + 10))
        text = target.decode([i for i in got[0] if i >= 4])  # the four specials dropped
        assert text == translate_sentences(loaded.model, *tokenizers(loaded.meta), [sentence], 1, info["max_tokens"])[0]


# ---- the taggers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("chars", "cell", "crf", "layers"),
                         [(True, "lstm", False, 1), (False, "gru", True, 2), (True, "rnn", True, 1)])
def test_tagger_graph_gives_the_models_emissions_and_tags(chars, cell, crf, layers):
    from rnnkit.export.tagger import tagger_onnx, viterbi
    from rnnkit.models.many_to_many import ManyToManyConfig
    from rnnkit.recipes.tagging.model import Tagger, WordFeaturesConfig

    torch.manual_seed(0)
    features = WordFeaturesConfig(vocab_size=30, embedding_size=6, char_vocab_size=20 if chars else None,
                                  char_filters=5)
    model = Tagger(features, ManyToManyConfig(num_tags=7, input_size=features.size, hidden_size=5, num_layers=layers,
                                              cell=cell, bidirectional=True, crf=crf)).eval()
    sess = session(tagger_onnx(model))
    g = torch.Generator().manual_seed(3)
    B, T, W = 4, 8, 6
    words, cases = torch.randint(1, 30, (B, T), generator=g), torch.randint(0, 4, (B, T), generator=g)
    char_ids = torch.randint(1, 20, (B, T, W), generator=g)
    char_ids[:, :, 4:] = 0  # words of four characters, then padding
    char_ids[1, 2, 1:] = 0  # one of a single character
    lengths = torch.tensor([8, 3, 5, 1])
    feeds = {"words": words.numpy(), "cases": cases.numpy(), "lengths": lengths.numpy(),
             **({"chars": char_ids.numpy()} if chars else {})}
    (emissions,) = sess.run(None, feeds)
    with torch.no_grad():
        want, _ = model(words, None, lengths, cases, char_ids if chars else None)
        tags = model.tagger.decode(model.features(words, cases, char_ids if chars else None), lengths)
    for b, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(emissions[b, :n], want[b, :n].numpy(), rtol=1e-5, atol=1e-5)
        if crf:
            crf_layer = model.tagger.crf
            assert crf_layer is not None
            path = viterbi(emissions[b, :n], crf_layer.transitions.detach().numpy(), crf_layer.start.detach().numpy(),
                           crf_layer.end.detach().numpy())
        else:
            path = emissions[b, :n].argmax(-1).tolist()
        assert path == tags[b, :n].tolist()


def test_export_cli_writes_a_tagger_that_tags_without_rnnkit(tmp_path):
    from serve_support import tagger_checkpoint

    from rnnkit.serve.models import load_models

    run = tagger_checkpoint(tmp_path / "pos")
    assert main(["export", str(run), "--out", str(tmp_path / "pos.onnx")]) == 0
    info = json.loads((tmp_path / "pos.json").read_text())
    sess = ort.InferenceSession(str(tmp_path / "pos.onnx"))
    sentence = ["The", "quick", "Brown", "fox", "said", "NO", "42"]
    # a runtime without rnnkit: the sidecar's vocabularies and rules make the inputs
    words = {w: i for i, w in enumerate(info["words"])}
    chars = {c: i for i, c in enumerate(info["chars"])}
    def case(t: str) -> int:
        return 3 if not any(c.isalpha() for c in t) else 2 if t.isupper() else 1 if t[0].isupper() else 0

    norm = lambda t: "".join("0" if c.isdigit() else c for c in t.lower())  # noqa: E731
    ids = [[chars.get(c, info["chars_unk_id"]) for c in t[: info["max_word"]]] for t in sentence]
    W = max(map(len, ids))
    feeds = {"words": np.array([[words.get(norm(t), info["words_unk_id"]) for t in sentence]], dtype=np.int64),
             "cases": np.array([[case(t) for t in sentence]], dtype=np.int64),
             "chars": np.array([[row + [0] * (W - len(row)) for row in ids]], dtype=np.int64),
             "lengths": np.array([len(sentence)], dtype=np.int64)}
    (emissions,) = sess.run(None, feeds)
    p = np.exp(emissions[0] - emissions[0].max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    got = [(info["tags"][k], float(p[t, k])) for t, k in enumerate(p.argmax(-1))]
    want = load_models([str(run)])["pos"].predict([" ".join(sentence)])[0]["tokens"]
    assert [tag for tag, _ in got] == [t["tag"] for t in want]
    assert [q for _, q in got] == pytest.approx([t["p"] for t in want], abs=1e-5)


def test_export_cli_writes_a_feature_classifier_recipe(tmp_path):
    """A recipe on real-valued features (gesture): its ManyToOne as one graph, its meta beside it."""
    from rnnkit.recipes import all_recipes, load_run
    from rnnkit.recipes.gesture.recipe import GestureConfig, GestureRecipe
    from rnnkit.utils.checkpoint import atomic_save, make_checkpoint

    torch.manual_seed(0)
    config, meta = GestureConfig(hidden_size=6,
                                 pooling="attention"), {"classes": ["a", "b", "c"], "mean": [0.0] * 3, "std": [1.0] * 3}
    model = GestureRecipe().build_model(config, meta)
    atomic_save(make_checkpoint("gesture", model, dataclasses.asdict(config), meta), tmp_path / "gesture" / "best.pt")
    assert main(["export", str(tmp_path / "gesture"), "--out", str(tmp_path / "g.onnx")]) == 0
    info = json.loads((tmp_path / "g.json").read_text())
    assert info["meta"] == meta
    assert info["task"] == "gesture"
    x, lengths = torch.randn(3, 11, 3), torch.tensor([11, 4, 7])
    (got,) = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"inputs": x.numpy(), "lengths": lengths.numpy()})
    with torch.no_grad():
        want, _ = load_run(tmp_path / "gesture", all_recipes()).model(x, lengths=lengths)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)
    assert main(["export", str(tmp_path / "gesture"), "--format", "torchscript", "--out", str(tmp_path / "g.pt")]) == 2
