"""Helpers for the server tests: tiny checkpoints made in the test, and a uvicorn server on a free loopback port."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
import uvicorn

from rnnkit.lm import CharLM, CharLMConfig, CharVocab, TrainConfig, train
from rnnkit.lm.checkpoint import make_checkpoint
from rnnkit.utils.checkpoint import atomic_save

TEXT = 'the quick brown fox said "jump over the lazy dog."\nand the dog said "no".\n' * 30


def train_tiny_charlm(out: Path, steps: int = 6) -> Path:
    """A 2-layer LSTM char-LM trained for a few steps with rnnkit.lm.train (it need not be good, only real)."""
    text = out.parent / f"{out.name}.txt"
    text.write_text(TEXT)
    config = TrainConfig(batch_size=4, bptt=16, lr=1e-2, warmup_steps=2, eval_every=1000, log_every=1,
                         val_fraction=0.1, max_steps=steps)
    train(config, {"hidden_size": 32, "embedding_size": 8, "num_layers": 2}, text=str(text), out=out, progress=False)
    return out


def random_charlm(out: Path, cell: str, num_layers: int = 2, seed: int = 0) -> Path:
    """A char-LM checkpoint with seeded random weights, written as training writes one."""
    torch.manual_seed(seed)
    vocab = CharVocab(TEXT)
    model = CharLM(CharLMConfig(vocab_size=len(vocab), cell=cell, hidden_size=24, embedding_size=8,
                                num_layers=num_layers), vocab)
    atomic_save(make_checkpoint(model, vocab, step=0, metrics={}), out / "best.pt")
    return out


def sentiment_checkpoint(out: Path, seed: int = 0) -> Path:
    """A text classifier checkpoint in the format ``recipe sentiment`` writes, with seeded random weights."""
    from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
    from rnnkit.recipes.text import TokenVocab, tokenize

    torch.manual_seed(seed)
    words = TokenVocab.build([tokenize(line) for line in TEXT.splitlines()], min_freq=1)
    config = ManyToOneConfig(num_outputs=3, vocab_size=len(words), input_size=8, hidden_size=12, bidirectional=True,
                             pooling="max")
    model = ManyToOne(config)
    settings = {"max_len": 60, "text_column": "text", "embedding_size": 8, "hidden_size": 12, "num_layers": 1,
                "cell": "lstm", "bidirectional": True, "pooling": "max", "dropout": 0.0}
    checkpoint = {"task": "sentiment", "config": settings, "model_config": dataclasses.asdict(config),
                  "model": model.state_dict(), "vocab": words.to_dict(), "classes": ["negative", "neutral", "positive"]}
    atomic_save(checkpoint, out / "best.pt")
    (out / "results.json").write_text(json.dumps({"task": "sentiment", "accuracy": 0.5}))
    return out


def sentiment_reference(run: Path, texts: list[str]) -> tuple[list[str], torch.Tensor]:
    """The classes and probabilities (N, C) of a sentiment_checkpoint, computed here from its parts:
    tokenize (lower-cased), look up (unknown -> <unk>, empty -> one <unk>), ManyToOne, softmax."""
    from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
    from rnnkit.recipes.text import TokenVocab, tokenize
    from rnnkit.utils.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(run)
    model = ManyToOne(ManyToOneConfig(**checkpoint["model_config"])).eval()
    model.load_state_dict(checkpoint["model"])
    vocab = TokenVocab.from_dict(checkpoint["vocab"])
    probs = []
    with torch.no_grad():
        for text in texts:
            ids = vocab.encode(tokenize(text)[: checkpoint["config"]["max_len"]]) or [vocab.unk_id]
            logits, _ = model(torch.tensor([ids]), lengths=torch.tensor([len(ids)]))
            probs.append(torch.softmax(logits[0], 0))
    return list(checkpoint["classes"]), torch.stack(probs)


class Running:
    """A uvicorn server in a thread on a free 127.0.0.1 port; ``url`` is its base address."""

    def __init__(self, app: Any) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def sse_events(lines: Any) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs from an iterator of SSE lines."""
    out, name = [], "message"
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            out.append((name, json.loads(line.split(":", 1)[1])))
            name = "message"
    return out


def tagger_checkpoint(out: Path, seed: int = 0) -> Path:
    """A ``recipe pos`` checkpoint as ``rnnkit recipe pos`` writes it (word features -> BiLSTM tagger), seeded random
    weights."""
    from rnnkit.recipes.tagging.data import Sentence
    from rnnkit.recipes.tagging.model import build_vocabs
    from rnnkit.recipes.tagging.recipe import PosConfig, build_tagger
    from rnnkit.recipes.text import tokenize
    from rnnkit.utils.checkpoint import make_checkpoint as make_recipe_checkpoint

    torch.manual_seed(seed)
    sentences = [Sentence(tokenize(line, lowercase=False), ["DET", "NOUN", "VERB"] * 20)
                 for line in TEXT.splitlines()[:2]]
    sentences = [Sentence(s.tokens, s.tags[: len(s.tokens)]) for s in sentences]
    vocabs = build_vocabs(sentences, min_freq=1, chars=True)
    config = PosConfig(embedding_size=8, char_filters=6, hidden_size=8)
    model = build_tagger(config, vocabs)
    atomic_save(make_recipe_checkpoint("pos", model, dataclasses.asdict(config), {"vocabs": vocabs.to_dict()}),
                out / "best.pt")
    return out


def translate_checkpoint(out: Path, seed: int = 0, beam: int = 1) -> Path:
    """A ``recipe translate`` checkpoint as ``rnnkit recipe translate`` writes it (BPE both sides, attentional seq2seq),
    seeded random weights."""
    from rnnkit.recipes.translate import data as td
    from rnnkit.recipes.translate.recipe import TranslateConfig, build_seq2seq
    from rnnkit.utils.checkpoint import make_checkpoint as make_recipe_checkpoint

    torch.manual_seed(seed)
    lines = TEXT.splitlines()[:2]
    source, target = td.train_tokenizer(lines, 60), td.train_tokenizer([line.upper() for line in lines], 60)
    config = TranslateConfig(embed_size=8, hidden_size=12, beam=beam, max_tokens=20)
    model = build_seq2seq(config, source.get_vocab_size(), target.get_vocab_size())
    meta = {"source_tokenizer": source.to_str(), "target_tokenizer": target.to_str()}
    atomic_save(make_recipe_checkpoint("translate", model, dataclasses.asdict(config), meta), out / "best.pt")
    return out


def serve_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``rnnkit serve ARGS --port 0`` in its own process; returns it and its URL once it listens (killed if it never
    does)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit.cli", "serve", *args, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on" in line:
            return proc, line.split("listening on ")[1].split()[0].rstrip("/")
    proc.kill()
    raise AssertionError("the server did not start")
