"""Character-LM benchmark on tinyshakespeare (90/10 split): validation loss reached in a fixed time, and sampling speed.

    .venv/bin/python benchmarks/bench_charlm.py --budget 150        # rnnkit defaults vs plain torch.nn.LSTM scripts
    .venv/bin/python benchmarks/bench_charlm.py --sampling-only     # characters per second at batch 1, 2 x 512 LSTM

Fairness on a shared machine: the contenders run in one process, taking turns step by step, each
on its own clock that runs only during its own steps; when a clock reaches the budget that
contender stops. Load from other processes therefore hits every contender alike. All are scored
afterwards by the same function (rnnkit.lm.evaluate: carried-state streams over the whole
validation split). The plain scripts follow char-rnn: embedding (one-hot sized) -> torch.nn.LSTM
-> linear, 64 streams x 100 characters with the state carried, Adam 2e-3, gradient norm clipped to 5.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.layers import to_torch
from rnnkit.lm import CharLM, CharLMConfig, TrainConfig, evaluate, sample, train
from rnnkit.lm.char_lm import detach_state
from rnnkit.lm.data import StreamBatches, load_corpus

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare.txt"


class PausableClock:
    """A stopwatch that only runs while its owner is training."""

    def __init__(self) -> None:
        self.total, self.since = 0.0, time.perf_counter()

    def __call__(self) -> float:
        return self.total + (time.perf_counter() - self.since if self.since is not None else 0.0)

    def pause(self) -> None:
        self.total, self.since = self(), None

    def resume(self) -> None:
        self.since = time.perf_counter()


class PlainCharRNN(nn.Module):
    """The plain script's model: embedding -> torch.nn.LSTM -> linear (same interface as CharLM for scoring)."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = nn.LSTM(embedding_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)
        self.final_state = None

    def forward(self, ids, targets=None, state=None):
        out, self.final_state = self.rnn(self.embedding(ids), state)
        logits = self.head(out)
        loss = None if targets is None else nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss


class PlainTrainer:
    """A char-rnn-style training loop, one step per call, on its own clock."""

    def __init__(self, name: str, train_ids: np.ndarray, vocab_size: int, layers: int, hidden: int, embedding: int,
                 budget: float, batch_size: int = 64, bptt: int = 100, lr: float = 2e-3, clip: float = 5.0) -> None:
        torch.manual_seed(0)
        self.name, self.budget, self.clip = name, budget, clip
        self.model = PlainCharRNN(vocab_size, embedding, hidden, layers)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.batches = StreamBatches(train_ids, batch_size, bptt)
        self.step_count, self.elapsed, self.state = 0, 0.0, None

    @property
    def done(self) -> bool:
        return self.elapsed >= self.budget

    def step(self) -> None:
        started = time.perf_counter()
        if self.batches.starts_epoch(self.step_count):
            self.state = None
        x, y = self.batches.batch(self.step_count)
        _, loss = self.model(x, y, self.state)
        self.state = detach_state(self.model.final_state)
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        self.step_count += 1
        self.elapsed += time.perf_counter() - started


def parse_overrides(spec: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """"hidden_size=512,dropout=0.25,lr=0.005" -> (model options, training options), values as the fields' types."""
    model_fields = {f.name: f.type for f in dataclasses.fields(CharLMConfig)}
    train_fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    model: dict[str, Any] = {}
    training: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in model_fields and key not in train_fields:
            raise SystemExit(f"--rnnkit: unknown setting {key!r}; model settings: {sorted(model_fields)}; "
                             f"training settings: {sorted(train_fields)}")
        kind = str(model_fields.get(key, train_fields.get(key)))
        parsed: Any = float(value) if "float" in kind else int(value) if "int" in kind else value
        (model if key in model_fields else training)[key] = parsed
    return model, training


def compare(budget: float, data: Path, plain_configs: list[tuple[int, int, int]], overrides: str = "") -> None:
    corpus = load_corpus(data)
    train_ids, val_ids = corpus.split(0.1)
    V = len(corpus.vocab)
    model_options, train_options = parse_overrides(overrides)
    defaults = CharLMConfig(**{**model_options, "vocab_size": V})
    rivals = [PlainTrainer(f"plain torch.nn.LSTM {L}x{H} (emb {E})", train_ids, V, L, H, E, budget) for L, H, E in plain_configs]
    clock = PausableClock()

    def take_turns(row: dict) -> None:
        # rnnkit has trained up to row["elapsed"] on its clock: let every rival catch up to the same time
        clock.pause()
        for rival in rivals:
            while not rival.done and rival.elapsed < row["elapsed"]:
                rival.step()
        clock.resume()

    config = TrainConfig(**{**train_options, "time_budget": budget, "eval_every": 10**9, "log_every": 1})
    result = train(config, model_options, text=str(data), progress=False, callback=take_turns, clock=clock)
    for rival in rivals:  # rnnkit's budget is spent; the rivals finish theirs
        while not rival.done:
            rival.step()
    label = f"rnnkit {overrides}" if overrides else "rnnkit defaults"
    scores = [(label + f" {defaults.num_layers}x{defaults.hidden_size} (emb {defaults.embedding_size})",
               result.step, result.history[-1]["elapsed"],
               evaluate(result.model, val_ids, 32, 256))]
    for rival in rivals:
        scores.append((rival.name, rival.step_count, rival.elapsed, evaluate(rival.model, val_ids, 32, 256)))
    print(f"\n{data.name}: {len(train_ids):,} training / {len(val_ids):,} validation characters; budget {budget:g} s each; "
          f"torch threads {torch.get_num_threads()}")
    print(f"rnnkit settings: {result.model.config}\n                 {config}")
    print("| contender | steps | training s | val loss (nats/char) | bpc |\n|---|---|---|---|---|")
    for name, steps, seconds, loss in scores:
        print(f"| {name} | {steps} | {seconds:.0f} | {loss:.3f} | {loss / math.log(2):.3f} |")


def sampling_speed(length: int = 400, rounds: int = 5) -> None:
    """Characters per second at batch 1: rnnkit.lm.sample (the Stepper) vs the same weights stepped through torch.nn.LSTM."""
    torch.manual_seed(0)
    V = 65
    model = CharLM(CharLMConfig(vocab_size=V, hidden_size=512, num_layers=2, embedding_size=64),
                   vocab=__import__("rnnkit.lm", fromlist=["CharVocab"]).CharVocab([chr(32 + i) for i in range(V)])).eval()
    twin = to_torch(model.rnn).eval()  # the same weights in a torch.nn.LSTM

    @torch.no_grad()
    def torch_nn_sample(n: int, generator: torch.Generator) -> None:
        current, state = torch.tensor([[0]]), None
        for _ in range(n):
            out, state = twin(model.embedding(current), state)  # (1, 1, H): one step of the whole stack
            probs = torch.softmax(model.head(out[:, -1]), dim=-1)
            current = torch.multinomial(probs, 1, generator=generator)  # (1, 1)

    ours, theirs = [], []
    for r in range(rounds):  # alternate, so that both see the same machine load
        t = time.perf_counter()
        sample(model, " ", length, generator=torch.Generator().manual_seed(r))
        ours.append(length / (time.perf_counter() - t))
        t = time.perf_counter()
        torch_nn_sample(length, torch.Generator().manual_seed(r))
        theirs.append(length / (time.perf_counter() - t))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"\nsampling at batch 1, 2x512 LSTM, {length} characters x {rounds} rounds (median), torch threads {torch.get_num_threads()}:")
    print(f"| path | characters/s |\n|---|---|\n| rnnkit.lm.sample (Stepper) | {a:.0f} |\n| torch.nn.LSTM, one call per character | {b:.0f} |")
    print(f"speed-up: {a / b:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=150.0, help="training seconds per contender")
    parser.add_argument("--data", type=Path, default=DATA, help="the text (default: ../shared/data/tinyshakespeare.txt)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--plain", default="2x256x65,1x512x64", help="plain contenders, LAYERSxHIDDENxEMBEDDING, comma-separated")
    parser.add_argument("--rnnkit", default="", help="rnnkit settings that differ from the defaults, e.g. "
                        "hidden_size=512,dropout=0.25 (CharLMConfig and TrainConfig field names)")
    parser.add_argument("--sampling-only", action="store_true", help="only measure sampling speed")
    parser.add_argument("--no-sampling", action="store_true", help="skip the sampling-speed measurement")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.no_sampling:
        sampling_speed()
    if args.sampling_only:
        return 0
    if not args.data.exists():
        print(f"skipped the training comparison: {args.data} is not here (it is not downloaded at run time).")
        return 0
    plain = [tuple(int(v) for v in spec.split("x")) for spec in args.plain.split(",") if spec]
    compare(args.budget, args.data.resolve(), plain, args.rnnkit)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
