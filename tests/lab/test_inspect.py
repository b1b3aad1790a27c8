"""Inspection: recorded gates equal a manual recomputation, features and statistics are right, renderers make valid
files."""

import argparse
import base64
import html.parser
import io
from typing import cast

import matplotlib.image
import numpy as np
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.lab import features
from rnnkit.lab.neurons import Neuron, correlations, saturation, top_neurons, trace_text
from rnnkit.lab.render import heatmap_png, html_page, saturation_png, text_html, text_png
from rnnkit.lab.report import inspect_report

TEXT = 'def f(x):\n    s = "hi there"\n    return s\nFIRST CITIZEN:\nWe are "poor" citizens.\n'
CHARS = sorted(set(TEXT))


def encode(text):
    return [CHARS.index(c) for c in text]


class TinyLM(nn.Module):
    """The shape of rnnkit.lm.CharLM: embedding -> rnnkit layer (batch_first) -> head."""

    def __init__(self, cell="lstm", num_layers=2, hidden=6):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(len(CHARS), 4)
        self.rnn = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU,
                    "rnn": rnnkit.RNN}[cell](4, hidden, num_layers, batch_first=True)
        self.head = nn.Linear(hidden, len(CHARS))


def manual_steps(model, text):
    """Every gate and state, one step at a time, straight from the equations and the layer's weights."""
    x = model.embedding(torch.tensor(encode(text)))  # (T, I)
    rnn, out = model.rnn, []
    for k in range(rnn.num_layers):
        W_ih, W_hh = getattr(rnn, f"weight_ih_l{k}"), getattr(rnn, f"weight_hh_l{k}")
        b_ih, b_hh = getattr(rnn, f"bias_ih_l{k}"), getattr(rnn, f"bias_hh_l{k}")
        h = c = torch.zeros(rnn.hidden_size, dtype=x.dtype)
        rec: dict[str, list[np.ndarray]] = {}
        hs = []
        for t in range(len(text)):
            gi, gh = W_ih @ x[t] + b_ih, W_hh @ h + b_hh
            if rnn.mode == "lstm":
                i, f, g, o = (gi + gh).chunk(4)
                i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
                c = f * c + i * g
                h = o * c.tanh()
                step = {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
            elif rnn.mode == "gru":
                (ir, iz, i_n), (hr, hz, h_n) = gi.chunk(3), gh.chunk(3)
                r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
                n = (i_n + r * h_n).tanh()
                h = (1 - z) * n + z * h
                step = {"r": r, "z": z, "n": n, "h": h}
            else:
                a = gi + gh
                h = a.tanh()
                step = {"a": a, "h": h}
            for name, v in step.items():
                rec.setdefault(name, []).append(v.detach().numpy())
            hs.append(h)
        out.append({name: np.stack(v) for name, v in rec.items()})
        x = torch.stack(hs)
    return out


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_recorded_gates_equal_a_manual_recomputation(cell):
    model = TinyLM(cell).double()
    trace = trace_text(model, encode, TEXT)
    want = manual_steps(model, TEXT)
    assert trace.num_layers == 2
    assert trace.text == TEXT
    for layer in range(2):
        assert set(trace.steps[layer]) == set(want[layer])
        for name, values in want[layer].items():
            assert trace.steps[layer][name].shape == (len(TEXT), 6)
            np.testing.assert_allclose(trace.steps[layer][name], values, rtol=1e-10, atol=1e-12)


def test_trace_text_checks_its_model():
    with pytest.raises(TypeError, match="expected a model with .embedding and an rnnkit LSTM, GRU or RNN layer"):
        trace_text(nn.Linear(2, 2), encode, "ab")
    with pytest.raises(ValueError, match="the text is empty"):
        trace_text(TinyLM(), encode, "")


def test_features_by_hand():
    text = 'a "bc" d\n  ef\n'
    np.testing.assert_array_equal(features.inside_quotes(text), [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(features.line_position(text), [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(features.indentation(text), [0] * 9 + [2] * 5)
    np.testing.assert_array_equal(features.word_position("ab c'd\n"), [1, 2, 0, 1, 2, 3, 0])
    np.testing.assert_array_equal(features.speaker_line("All:\nGo: now\nMy Lord:\n"),
                                  [1] * 4 + [0] * 9 + [1] * 8 + [0])
    assert set(features.compute_features("x")) == set(features.FEATURES)
    with pytest.raises(ValueError, match="unknown feature"):
        features.compute_features("x", ["nesting"])


def test_correlations_match_numpy_and_constants_give_zero():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(50, 4))
    acts[:, 3] = 1.0  # a dead unit
    feature = rng.normal(size=50)
    r = correlations(acts, feature)
    for u in range(3):
        assert r[u] == pytest.approx(np.corrcoef(acts[:, u], feature)[0, 1])
    assert r[3] == 0.0
    np.testing.assert_array_equal(correlations(acts, np.ones(50)), np.zeros(4))


def test_top_neurons_finds_a_planted_unit():
    trace = trace_text(TinyLM(), encode, TEXT)
    planted = features.inside_quotes(TEXT)
    trace.steps[1]["c"][:, 4] = planted * 2 - 1  # layer 2, c[4] is the quote detector
    best = top_neurons(trace, planted, k=2)
    assert best[0] == Neuron(1, "c", 4, cast(float, pytest.approx(1.0)))
    assert best[0].label() == "layer 2 c[4]"
    with pytest.raises(ValueError, match="feature has 3 values"):
        top_neurons(trace, np.zeros(3))


def test_saturation_fractions():
    gate = np.array([[0.05, 0.5], [0.95, 0.5], [0.01, 0.91], [0.5, 0.5]])  # (T=4, H=2)
    left, right = saturation(gate)
    np.testing.assert_allclose(left, [0.5, 0.0])
    np.testing.assert_allclose(right, [0.25, 0.25])


def decodes_as_png(path, min_bytes=2000):
    assert path.exists()
    assert path.stat().st_size > min_bytes
    image = matplotlib.image.imread(path)
    assert image.ndim == 3
    assert image.shape[0] > 50
    assert image.shape[1] > 50
    return image


def test_png_renderers(tmp_path):
    trace = trace_text(TinyLM("gru"), encode, TEXT)
    decodes_as_png(text_png(TEXT, trace.steps[0]["h"][:, 0], tmp_path / "text.png", title="unit 0"))
    decodes_as_png(saturation_png(trace, tmp_path / "sat.png"))
    image = decodes_as_png(heatmap_png(trace, tmp_path / "heat.png", layer=1, length=30))
    assert image.shape[0] > 4 * 100  # four panels: r, z, n, h
    with pytest.raises(ValueError, match="no sigmoid gates"):
        saturation_png(trace_text(TinyLM("rnn"), encode, TEXT), tmp_path / "x.png")
    with pytest.raises(ValueError, match="layer must be in 0..1"):
        heatmap_png(trace, tmp_path / "x.png", layer=2)


class PageParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.spans, self.images = [], 0, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.spans += tag == "span"
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def test_text_html_has_one_span_per_character_and_escapes():
    parser = PageParser()
    parser.feed(text_html('<a & "b">', np.linspace(-1, 1, 9)))
    assert parser.spans == 9
    page = text_html("<a &", np.zeros(4))
    assert ">&lt;</span>" in page
    assert ">&amp;</span>" in page
    assert "<a" not in page


def test_inspect_report_writes_a_self_contained_page(tmp_path):
    model = TinyLM("lstm")
    page = inspect_report(model, encode, TEXT, tmp_path, extra=[(0, "h", 2)], top=2, heatmap_chars=20)
    assert page == tmp_path / "index.html"
    source = page.read_text(encoding="utf-8")
    assert 5_000 < len(source.encode()) < 1_000_000
    parser = PageParser()
    parser.feed(source)
    assert parser.tags[0] == "html"
    assert "script" not in parser.tags
    shown = parser.spans // len(TEXT)
    assert shown >= 2  # the best unit per non-constant feature, plus the one asked for
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert len(parser.images) == 3
    for src in parser.images:  # saturation and one heatmap per layer, inlined and decodable
        image = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert image.shape[0] > 50
    csv_lines = (tmp_path / "correlations.csv").read_text().splitlines()
    assert csv_lines[0] == "layer,state,unit," + ",".join(features.FEATURES)
    assert len(csv_lines) == 1 + 2 * 2 * 6  # layers x (h, c) x units
    assert (tmp_path / "neuron_L1_h2.png").exists()
    with pytest.raises(ValueError, match="no unit layer 3"):
        inspect_report(model, encode, TEXT, tmp_path, extra=[(2, "h", 0)])
    assert html_page(trace_text(model, encode, "ef\n" * 2), "t", [], [], []).endswith("</html>")


def test_inspect_command_on_a_charlm_checkpoint(tmp_path, capsys):
    lm = pytest.importorskip("rnnkit.lm")
    from rnnkit.lab import commands
    from rnnkit.lm.checkpoint import make_checkpoint
    from rnnkit.utils.checkpoint import atomic_save

    vocab = lm.CharVocab(TEXT)
    torch.manual_seed(0)
    model = lm.CharLM(lm.CharLMConfig(vocab_size=len(vocab), hidden_size=8, embedding_size=4, num_layers=2), vocab)
    path = atomic_save(make_checkpoint(model, vocab, data={"text": None, "source": "test"}), tmp_path / "m.pt")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("the caf\u00e9".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["inspect", str(path), "--text", TEXT, "--neuron", "2:c:3", "--out", str(tmp_path / "o")])
    assert args.run(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "o" / "index.html").exists()
    assert (tmp_path / "o" / "neuron_L2_c3.png").exists()
    for argv, message in ((["--text", "\u00e9t\u00e9"], "does not fit the model's vocabulary"),
                          (["--text", "a", "--neuron", "0:c:1"], "LAYER:STATE:UNIT"),
                          (["--text-file", str(latin)], r"latin.txt:1: byte 7 \(0xe9\) is not valid UTF-8"),
                          # was "no text left after --start 0"
                          (["--text-file", str(empty)], r"empty.txt is empty; give a text to trace"),
                          (["--text", "abc", "--start", "5"], r"no text left after --start 5: --text has 3")):
        args = parser.parse_args(["inspect", str(path), *argv, "--out", str(tmp_path / "o")])
        with pytest.raises(ValueError, match=message):
            args.run(args)
    args = parser.parse_args(["inspect", str(path), "--text-file", str(tmp_path / "missing.txt"), "--out",
                              str(tmp_path / "o")])
    with pytest.raises(FileNotFoundError, match="no text file .*missing.txt"):
        args.run(args)
