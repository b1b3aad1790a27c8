"""``rnnkit serve``: the API over a real uvicorn on a loopback port, with checkpoints made in the test.

What is proved: the endpoints' contents; generation equal to ``rnnkit.lm.sample`` with the same
seed; the SSE stream equal to the whole answer; watched units equal to the layer's ``record()``;
seeded requests giving the same text alone and beside 31 others (the continuous batcher
really batching them); the limits (queue, timeout, disconnect, body size); a table of bad
inputs, each a 4xx naming its field; recipe predictions; and SIGTERM ending a running server.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from serve_support import (
    Running,
    random_charlm,
    sentiment_checkpoint,
    sentiment_reference,
    serve_process,
    sse_events,
    tagger_checkpoint,
    train_tiny_charlm,
    translate_checkpoint,
)

from rnnkit.layers import RecurrentBase
from rnnkit.lm import load_model, sample
from rnnkit.serve.app import Limits, create_app
from rnnkit.serve.models import ServedModel, load_models


class Served(Running):
    """A test server and the models it serves, at hand for comparing against them."""

    def __init__(self, app: Any, models: dict[str, ServedModel]) -> None:
        super().__init__(app)
        self.models = models


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    paths = {"lstm": train_tiny_charlm(root / "lstm"), "gru": random_charlm(root / "gru", "gru"),
             "rnn": random_charlm(root / "rnn", "rnn", num_layers=1),
             "sentiment": sentiment_checkpoint(root / "sentiment")}
    yield paths
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def server(runs):
    models = load_models([str(runs[k]) for k in ("lstm", "gru", "rnn", "sentiment")], max_batch=32, max_queue=64)
    running = Served(create_app(models, Limits(max_length=500, max_prime=200, max_body=16384, max_inputs=8)), models)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def bf16_server(runs):
    """The tiny LSTM char-LM served with bf16 products (``rnnkit serve --precision bf16``), where the CPU has them."""
    from rnnkit.layers.fast.onednn import onednn_bf16_applies

    if not onednn_bf16_applies(torch.zeros(1, dtype=torch.bfloat16)):
        pytest.skip("this CPU has no bf16 hardware: rnnkit serve takes float32 products here")
    models = load_models([str(runs["lstm"])], max_batch=32, max_queue=64, products=torch.bfloat16)
    running = Served(create_app(models, Limits(max_length=500, max_prime=200)), models)
    yield running
    running.stop()


def post(server, path: str, body=None, **kw) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=30, **kw)


def generate(server, **body) -> dict:
    r = post(server, "/v1/generate", body)
    assert r.status_code == 200, r.text
    return r.json()


# ---- the endpoints -------------------------------------------------------------------------------


def test_health_and_models(server):
    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "ok"
    assert health["models"] == ["lstm", "gru", "rnn", "sentiment"]
    models = {m["name"]: m for m in httpx.get(server.url + "/v1/models").json()["models"]}
    lstm = models["lstm"]
    model, vocab, meta = load_model(server.models["lstm"].path)
    assert lstm["kind"] == "charlm"
    assert lstm["generate"]
    assert not lstm["predict"]
    assert lstm["vocab_size"] == len(vocab)
    assert lstm["vocab"] == "".join(vocab.chars)
    assert lstm["config"]["num_layers"] == 2
    assert lstm["config"]["hidden_size"] == 32
    assert lstm["step"] == 6
    assert lstm["precision"] == "fp32"
    assert lstm["metrics"]["train_loss"] == pytest.approx(meta["metrics"]["train_loss"])
    assert {u["feature"] for u in lstm["units"]} <= {"inside quotes", "position in line", "position in word"}
    assert models["sentiment"]["kind"] == "classifier"
    assert models["sentiment"]["labels"] == ["negative", "neutral", "positive"]
    assert models["sentiment"]["metrics"] == {"accuracy": 0.5}
    assert httpx.get(server.url
                     + "/openapi.json").json()["paths"].keys() >= {"/v1/generate", "/v1/predict", "/v1/models"}


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_generate_equals_rnnkit_sample_with_the_same_seed(server, name):
    # sample() steps at batch 1 and the server at 4+ rows: the last bit of a logit may differ, which could
    # flip a draw only if it falls within ~1e-7 of a boundary; over 80 draws of a tiny model that does not happen
    model, _, _ = load_model(server.models[name].path)
    cases: list[tuple[str, dict[str, Any]]] = [("the ", {}), ("", {"temperature": 0.7, "top_k": 5}),
                                               ('and the dog said "', {"top_p": 0.8})]
    for prime, kw in cases:
        got = generate(server, model=name, prime=prime, length=80, seed=11, **kw)
        want = sample(model, prime, 80, generator=torch.Generator().manual_seed(11), **kw)
        assert got["text"] == want
        assert got["finish_reason"] == "length"
        assert got["model"] == name


def test_stream_is_the_whole_answer_event_by_event(server):
    whole = generate(server, prime="the ", length=50, seed=3)
    with httpx.stream("POST", server.url + "/v1/generate",
                      json={"prime": "the ", "length": 50, "seed": 3, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.iter_lines())
    chars = [data for name, data in events if name == "message"]
    assert [c["index"] for c in chars] == list(range(50))
    assert "".join(c["text"] for c in chars) == whole["text"]
    assert events[-1] == ("end", {"model": "lstm", "done": True, "finish_reason": "length", "produced": 50})


@pytest.mark.parametrize(("name", "watched"),
                         [("lstm", ["h", "c", "i", "f", "g", "o"]), ("gru", ["h", "r", "z", "n"]), ("rnn", ["h", "a"])])
def test_watched_units_equal_record(server, name, watched):
    model, vocab, _ = load_model(server.models[name].path)
    prime = "the dog "
    for k, what in enumerate(watched):
        layer, unit = (k % model.config.num_layers), (5 * k + 1) % model.config.hidden_size
        got = generate(server, model=name, prime=prime, length=30, seed=k,
                       watch={"layer": layer, "name": what, "unit": unit})
        ids = torch.tensor([vocab.encode(prime + got["text"][:-1])])
        assert isinstance(model.rnn, RecurrentBase)
        steps = model.rnn.record(model.embedding(ids)).steps[layer][0]
        # the step that read the prime's last character, then each generated one
        want = steps[what][0, len(prime) - 1 :, unit]
        torch.testing.assert_close(torch.tensor(got["values"]), want.detach(), rtol=1e-4, atol=1e-5)


def test_bf16_products_give_rnnkit_sample_bf16_text(bf16_server):
    lstm = httpx.get(bf16_server.url + "/v1/models").json()["models"][0]
    assert (lstm["name"], lstm["precision"]) == ("lstm", "bf16")
    model = bf16_server.models["lstm"].charlm
    cases: list[tuple[str, dict[str, Any]]] = [("the ", {}), ("", {"temperature": 0.7, "top_p": 0.9})]
    for prime, kw in cases:
        got = generate(bf16_server, prime=prime, length=80, seed=11, **kw)["text"]
        assert got == sample(model, prime, 80, generator=torch.Generator().manual_seed(11), products=torch.bfloat16,
                             **kw)


@pytest.mark.parametrize("which", ["server", "bf16_server"])
def test_seeded_requests_are_isolated_under_concurrency(which, request):
    """32 requests with their own seeds, primes, settings and lengths, at once: each gives its text from alone
    (float32 products, and bf16 ones where the CPU has them)."""
    server = request.getfixturevalue(which)
    rng = torch.Generator().manual_seed(0)
    bodies = []
    choices: list[dict[str, Any]] = [{}, {"temperature": 0.5}, {"top_k": 3}, {"top_p": 0.9, "temperature": 1.3}]
    for k in range(32):
        settings = choices[k % 4]
        start = int(torch.randint(0, 60, (1,), generator=rng))
        bodies.append({"prime": server.models["lstm"].info["vocab"][1:][start % 20:][:k % 7], "length": 40 + 3 * k,
                       "seed": 1000 + k, **settings})
    alone = [generate(server, **b)["text"] for b in bodies]
    batcher = server.models["lstm"].batcher
    steps_before = batcher.steps
    barrier = threading.Barrier(32)

    def together(body):
        barrier.wait()
        return generate(server, **body)["text"]

    with ThreadPoolExecutor(32) as pool:
        crowd = list(pool.map(together, bodies))
    assert crowd == alone
    # stepped together: one at a time would take sum(lengths) = 2768 steps
    assert batcher.steps - steps_before < 0.25 * sum(b["length"] for b in bodies)


def test_predict_classifier_gives_labels_with_probabilities(server, runs):
    texts = ["the dog said no", "quick brown fox", "", "unknown words only zzz"]
    r = post(server, "/v1/predict", {"model": "sentiment", "inputs": texts})
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    classes, want = sentiment_reference(runs["sentiment"], texts)
    for out, p in zip(outputs, want, strict=True):
        got = {e["label"]: e["p"] for e in out["probabilities"]}
        assert out["label"] == classes[int(p.argmax())]
        assert [got[c] for c in classes] == pytest.approx(p.tolist(), abs=1e-5)
    # a path is text to a server, never a file to read: the model reads the path's words
    path = str(runs["sentiment"] / "results.json")
    r = post(server, "/v1/predict", {"model": "sentiment", "inputs": [path]})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert [e["p"] for e in r.json()["outputs"][0]["probabilities"]] == pytest.approx(
            sorted(sentiment_reference(runs["sentiment"], [path])[1][0].tolist(), reverse=True), abs=1e-5)
    else:
        assert "does not read files" in r.json()["error"]


def test_predict_tagger_gives_a_tag_and_probability_per_token(runs, tmp_path):
    from rnnkit.recipes import all_recipes, load_run
    from rnnkit.recipes.tagging.model import Tagger, Vocabs, encode, predict_tags
    from rnnkit.recipes.text import tokenize

    run = tagger_checkpoint(tmp_path / "pos")
    models = load_models([str(run)])
    assert models["pos"].kind == "tagger"
    assert models["pos"].info["labels"] == ["DET", "NOUN", "VERB"]
    texts = ["the quick brown fox", "said no ."]
    got = models["pos"].predict(texts)
    # as the recipe's own functions tag them, from the checkpoint's parts
    loaded = load_run(run, all_recipes())
    vocabs = Vocabs.from_dict(loaded.meta["vocabs"])
    assert isinstance(loaded.model, Tagger)
    want = predict_tags(loaded.model, [encode(tokenize(t, lowercase=False), None, vocabs) for t in texts], vocabs)
    for out, text, (tags, probs) in zip(got, texts, want, strict=True):
        assert [t["token"] for t in out["tokens"]] == tokenize(text, lowercase=False)
        assert [t["tag"] for t in out["tokens"]] == tags
        assert [t["p"] for t in out["tokens"]] == pytest.approx(probs, abs=1e-5)


def test_predict_translator_gives_the_translation_and_its_attention(tmp_path):
    from rnnkit.models.seq2seq import Seq2Seq
    from rnnkit.recipes import all_recipes, load_run
    from rnnkit.recipes.text import pad_batch
    from rnnkit.recipes.translate import data as td
    from rnnkit.recipes.translate.recipe import TranslateConfig, tokenizers, translate_sentences

    assert load_models([str(translate_checkpoint(tmp_path / "beam",
                                                 beam=3))])["beam"].predict(["the dog"])[0]["attention"]
    run = translate_checkpoint(tmp_path / "translate", beam=1)
    models = load_models([str(run)])
    assert models["translate"].kind == "translator"
    sentences = ["the quick brown fox", "and the dog said no"]
    got = models["translate"].predict(sentences)
    loaded = load_run(run, all_recipes())
    model, config, (source_tok, target_tok) = loaded.model, loaded.config, tokenizers(loaded.meta)
    assert isinstance(model, Seq2Seq)
    assert isinstance(config, TranslateConfig)
    # as `rnnkit translate "SENTENCE"` (one at a time: in a batch the length limit follows the longest source)
    one_by_one = [translate_sentences(model, source_tok, target_tok, [s], 1, config.max_tokens)[0] for s in sentences]
    assert [g["translation"] for g in got] == one_by_one
    for sentence, out in zip(sentences, got, strict=True):
        att = out["attention"]
        weights = torch.tensor(att["weights"])  # (T, S): one row per output subword
        assert weights.shape == (len(att["target"]), len(att["source"]))
        torch.testing.assert_close(weights.sum(1), torch.ones(len(att["target"])), atol=1e-4, rtol=0)
        # greedy decoding step by step gives the same attention as the decoder run on its output at once
        inputs, lengths = pad_batch([td.encode(source_tok, [sentence], config.max_tokens)[0]])
        tokens, n, stepwise = model.generate(inputs, lengths,
                                             max_length=min(model.config.max_length, 2 * int(lengths.max()) + 10))
        assert att["target"] == [target_tok.id_to_token(i) for i in tokens[0, : int(n[0])].tolist()]
        assert stepwise is not None
        torch.testing.assert_close(weights, stepwise[0, : int(n[0])], atol=1e-4, rtol=0)
    # a file's path is translated as the text it is (`rnnkit predict` would translate the file's lines)
    lines = tmp_path / "lines.txt"
    lines.write_text("the dog\nthe fox\nno\n")
    (out,) = models["translate"].predict([str(lines)])
    assert out["translation"] == translate_sentences(model, source_tok, target_tok, [str(lines)], 1,
                                                     config.max_tokens)[0]


# ---- bad input: always a 4xx naming the field --------------------------------------------------

BAD = [
    # (body as bytes or JSON, status, words the error must contain)
    (b'{"prime": "the ",', 422, "not valid JSON"),
    (b'{"prime": "\xff\xfe"}', 400, "not UTF-8"),
    (b"", 422, "body: empty"),
    (b"[1, 2]", 422, "body"),
    (b"null", 422, "body"),
    ({"length": "5"}, 422, "length"),
    ({"length": 5.5}, 422, "length"),
    ({"length": True}, 422, "length"),
    ({"length": -1}, 422, "length"),
    ({"length": 501}, 422, "length: 501 is more than"),
    ({"prime": 5}, 422, "prime"),
    ({"prime": "x" * 201}, 422, "prime: 201 characters"),
    ({"prime": "THE"}, 422, "prime: characters outside"),
    ({"temperature": 0}, 422, "temperature"),
    ({"temperature": "hot"}, 422, "temperature"),
    (b'{"temperature": 1e400}', 422, "temperature"),
    ({"top_k": 0}, 422, "top_k"),
    ({"top_p": 1.5}, 422, "top_p"),
    ({"top_p": 0}, 422, "top_p"),
    ({"seed": -1}, 422, "seed"),
    ({"seed": 2**64}, 422, "seed"),
    ({"stream": "yes"}, 422, "stream"),
    ({"lenght": 5}, 422, "lenght: Extra inputs"),
    ({"watch": {"layer": 2, "name": "h", "unit": 0}}, 422, "watch.layer"),
    ({"watch": {"layer": 0, "name": "x", "unit": 0}}, 422, "watch.name"),
    ({"watch": {"layer": 0, "name": "h", "unit": 32}}, 422, "watch.unit"),
    ({"watch": {"layer": 0, "name": "h", "unit": "0"}}, 422, "watch.unit"),
    ({"watch": [0, "h", 1]}, 422, "watch"),
    ({"model": "nope"}, 404, "model: no model named 'nope'"),
    ({"model": "sentiment"}, 422, "model: 'sentiment' is a classifier"),
    ({"prime": "the " * 5000}, 413, "limited to 16384 bytes"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD, ids=[str(b)[:40] for b, _, _ in BAD])
def test_bad_generate_input_is_a_4xx_naming_the_field(server, body, status, words):
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    r = httpx.post(server.url + "/v1/generate", content=content, headers={"content-type": "application/json"},
                   timeout=30)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"inputs": []}, 422, "inputs"),
    ({"inputs": "a sentence"}, 422, "inputs"),
    ({"inputs": [1, 2]}, 422, "inputs.0"),
    ({"inputs": ["x"] * 9}, 422, "at most 8"),
    ({"inputs": ["x" * 5001]}, 422, "inputs[0]: 5001 characters"),
    ({"model": "lstm", "inputs": ["x"]}, 422, "model: 'lstm' is a charlm model and cannot predict"),
    ({}, 422, "inputs: Field required"),
])
def test_bad_predict_input_is_a_4xx_naming_the_field(server, body, status, words):
    r = post(server, "/v1/predict", body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"], r.text


def raw(server, request: bytes) -> bytes:
    """Send bytes no well-behaved client would, and return the start of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def test_odd_requests_are_not_errors(server):
    r = httpx.post(server.url + "/v1/generate", content=b'{"length": 3, "seed": 1}',
                   headers={"content-type": "text/plain"})
    assert r.status_code == 200
    assert len(r.json()["text"]) == 3
    assert raw(server,
               b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n{}").startswith(b"HTTP/1.1 4")
    assert raw(server,
               b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: "
               b"99999999\r\n\r\n{}").startswith(b"HTTP/1.1 413")
    assert httpx.get(server.url + "/v1/generate").status_code in (404, 405)
    assert httpx.get(server.url + "/no/such/page").status_code == 404


# ---- limits: queue, timeout, disconnect ------------------------------------------------------------


class SlowHead(torch.nn.Module):
    """The model's head, 20 ms slower per step: long enough to hold requests in the batch for the test."""

    def __init__(self, head: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.head = head

    def forward(self, h):
        time.sleep(0.02)
        return self.head(h)


@pytest.fixture
def slow_server(runs):
    models = load_models([str(runs["lstm"])], max_batch=2, max_queue=1)
    batcher = models["lstm"].batcher
    assert batcher is not None
    batcher.head = SlowHead(batcher.head)  # the worker's output layer (its weights were packed at start-up)
    running = Served(create_app(models, Limits(max_length=1000, timeout=3.0, retry_after=2)), models)
    yield running
    running.stop()


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_full_queue_answers_503_with_retry_after_and_timeouts_end_requests(slow_server):
    load = lambda: httpx.get(slow_server.url + "/health").json()["load"]["lstm"]  # noqa: E731
    with ThreadPoolExecutor(3) as pool:
        started = [pool.submit(generate, slow_server, length=1000, seed=k) for k in range(2)]
        assert wait_for(lambda: load()["active"] == 2, 5)
        queued = pool.submit(generate, slow_server, length=5, seed=9)
        assert wait_for(lambda: load()["waiting"] == 1, 5)
        t0 = time.monotonic()
        r = post(slow_server, "/v1/generate", {"length": 5})
        assert r.status_code == 503
        assert r.headers["retry-after"] == "2"
        assert "busy" in r.json()["error"]
        assert time.monotonic() - t0 < 1.0  # answered at once, not after a wait
        results = [f.result() for f in started]
        # 1000 steps take 20 s at 20 ms a step; the 3 s timeout ends them early with what was made
        assert all(r["finish_reason"] == "timeout" and 10 < len(r["text"]) < 1000 for r in results)
        assert queued.result()["finish_reason"] in ("length", "timeout")
    assert wait_for(lambda: load()["active"] == 0, 5)


def test_client_disconnect_takes_the_stream_out_of_the_batch(slow_server):
    load = lambda: httpx.get(slow_server.url + "/health").json()["load"]["lstm"]  # noqa: E731
    with httpx.stream("POST", slow_server.url + "/v1/generate", json={"length": 1000, "stream": True}) as r:
        lines = r.iter_lines()
        for line in lines:
            if line.startswith("data:"):
                break
        assert load()["active"] == 1
    # the connection is closed: the job leaves within a few steps, not after 1000 of them (20 s)
    assert wait_for(lambda: load()["active"] == 0, 1.0)


def test_client_giving_up_on_a_whole_answer_takes_its_job_out_too(slow_server):
    load = lambda: httpx.get(slow_server.url + "/health").json()["load"]["lstm"]  # noqa: E731
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(slow_server.url + "/v1/generate", json={"length": 1000}, timeout=0.5)  # 20 s of work asked for
    # gone well before the server's 3 s timeout would have ended it (0.5 s + 1.5 s)
    assert wait_for(lambda: load()["active"] == 0, 1.5)


def test_sigterm_lets_the_stream_end_then_exits(runs, tmp_path):
    proc, url = serve_process(str(runs["lstm"]), "--drain", "1")
    try:
        with httpx.stream("POST", url + "/v1/generate", json={"length": 2000, "stream": True, "seed": 1},
                          timeout=30) as r:
            lines = r.iter_lines()
            next(line for line in lines if line.startswith("data:"))
            proc.send_signal(signal.SIGTERM)
            events = sse_events(lines)
        # the stream ended properly (whole or cut at shutdown), and the process exited by itself
        assert events
        assert events[-1][0] == "end"
        assert events[-1][1]["finish_reason"] in ("length", "shutdown")
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_refuses_bf16_products_on_a_cpu_without_bf16_hardware(tmp_path, monkeypatch, capsys):
    from rnnkit.cli import main
    from rnnkit.utils import precision

    monkeypatch.setattr(precision, "bf16_runs_fast", lambda device: False)
    # refused before any model is read (a run directory that is not there would be the next error)
    assert main(["serve", str(tmp_path / "no-such-run"), "--precision", "bf16", "--port", "0"]) == 2
    assert "has no bf16 hardware" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value", "words"), [
    ("--timeout", "0", "--timeout must be a positive number of seconds"),
    ("--timeout", "-1", "--timeout must be a positive number of seconds"),
    ("--timeout", "nan", "--timeout must be a positive number of seconds"),
    ("--drain", "-1", "--drain must be a number of seconds >= 0"),
    ("--max-batch", "0", "--max-batch must be at least 1"),
])
def test_cli_refuses_limits_out_of_range_before_loading(tmp_path, capsys, flag, value, words):
    from rnnkit.cli import main

    assert main(["serve", str(tmp_path / "no-such-run"), flag, value, "--port", "0"]) == 2
    assert words in capsys.readouterr().err


def test_the_server_process_freezes_what_it_loaded(runs):
    """``rnnkit serve`` moves the objects loaded before serving out of the cycle collector's way: a full collection
    over them took ~160 ms with every stream waiting."""
    proc, url = serve_process(str(runs["lstm"]))
    try:
        health = httpx.get(url + "/health", timeout=10).json()
        assert health["gc"]["frozen"] > 10_000  # torch, the model, the web stack
    finally:
        proc.terminate()
        proc.wait(20)
