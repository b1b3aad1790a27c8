"""Character-LM benchmark on tinyshakespeare (90/10 split): validation loss reached in a fixed time, and sampling speed.

    .venv/bin/python benchmarks/bench_charlm.py --budget 150        # rnnkit defaults vs plain torch.nn.LSTM scripts
    .venv/bin/python benchmarks/bench_charlm.py --sampling-only     # characters per second at batch 1, 2 x 512 LSTM
    .venv/bin/python benchmarks/bench_charlm.py --budget 150 --preset issue18-150 --plot docs/images/charlm-150s.png
    .venv/bin/python benchmarks/bench_charlm.py --budget 150 --rnnkit "mingru:cell=mingru" --rnnkit
    "awd:weight_dropout=0.2"

Contenders: every ``--rnnkit "LABEL:SETTINGS"`` (CharLMConfig and TrainConfig fields, e.g.
``cell=mingru,hidden_size=512,tie_weights=true``; none: the defaults), every ``--preset`` (named
lists of them, ``PRESETS`` below), and the plain scripts of ``--plain``. The run takes about
(number of contenders) x budget seconds, plus the scoring.

Fairness on a shared machine: the contenders run in one process, taking turns step by step (the one
that has trained least so far goes next; each rnnkit contender's ``train()`` runs in its own thread,
only one thread at a time), each on its own clock that runs only during its own steps; when a clock
reaches the budget that contender stops. Load from other processes therefore hits every contender
alike. Every ``--curve-points`` part of the budget each contender is scored on the validation split
with its clock stopped (the loss-against-seconds curve, written as one PNG by ``--plot``, with the
numbers in a JSON file beside it); at the end all are scored by the same function (rnnkit.lm.evaluate:
carried-state streams over the whole validation split). The plain scripts follow char-rnn: embedding
(one-hot sized) -> torch.nn.LSTM -> linear, 64 streams x 100 characters with the state carried, Adam
2e-3, gradient norm clipped to 5.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_summary  # noqa: E402

from rnnkit.layers import to_torch  # noqa: E402
from rnnkit.lm import CharLM, CharLMConfig, TrainConfig, evaluate, sample, train  # noqa: E402
from rnnkit.lm.char_lm import detach_state  # noqa: E402
from rnnkit.lm.data import StreamBatches, load_corpus  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare.txt"

# Named lists of rnnkit contenders for issue 18, section 4. The settings are first guesses from the papers
# (AWD-LSTM's dropouts scaled down for a character model that trains minutes, not days), not tuned here.
PRESETS: dict[str, list[str]] = {
    # 150 s: today's defaults (1x256 LSTM) against each new option at the same size
    "issue18-150": [
        "defaults:",
        "AWD 1x256:weight_dropout=0.2,embedding_dropout=0.05,input_dropout=0.1,output_dropout=0.1",
        "tied 1x256 (emb 256):embedding_size=256,tie_weights=true",
        "minGRU 1x256:cell=mingru",
        "minLSTM 1x256:cell=minlstm",
        "minGRU 2x256:cell=mingru,num_layers=2",
    ],
    # 20 minutes: today's best (1x512, dropout 0.25: 1.462) against AWD at that size and deeper min-cell stacks
    "issue18-1200": [
        "1x512 dropout 0.25:hidden_size=512,dropout=0.25",
        "AWD 1x512 tied:hidden_size=512,embedding_size=512,tie_weights=true,weight_dropout=0.25,embedding_dropout=0.05,"
        "input_dropout=0.1,output_dropout=0.25",
        "AWD 1x512:hidden_size=512,weight_dropout=0.25,embedding_dropout=0.05,input_dropout=0.1,output_dropout=0.25",
        "minGRU 3x512:cell=mingru,hidden_size=512,num_layers=3,dropout=0.1",
        "minLSTM 3x512:cell=minlstm,hidden_size=512,num_layers=3,dropout=0.1",
    ],
}


class PausableClock:
    """A stopwatch that only runs while its owner is training; it starts paused."""

    def __init__(self) -> None:
        self.total: float = 0.0
        self.since: float | None = None

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
        loss = None if targets is None else nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                                                        targets.reshape(-1))
        return logits, loss


class PlainTrainer:
    """A char-rnn-style training loop, one step per call."""

    def __init__(self, train_ids: np.ndarray, vocab_size: int, layers: int, hidden: int, embedding: int,
                 batch_size: int = 64, bptt: int = 100, lr: float = 2e-3, clip: float = 5.0) -> None:
        torch.manual_seed(0)
        self.clip = clip
        self.model = PlainCharRNN(vocab_size, embedding, hidden, layers)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.batches = StreamBatches(train_ids, batch_size, bptt)
        self.step_count, self.state = 0, None

    def step(self) -> None:
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


class Turns:
    """One contender trains at a time: whichever has spent the least time on its own clock so far."""

    def __init__(self, names: list[str]) -> None:
        self.order = {name: k for k, name in enumerate(names)}
        self.spent = dict.fromkeys(names, 0.0)
        self.running = set(names)
        self.cond = threading.Condition()

    def wait(self, name: str) -> None:
        with self.cond:
            self.cond.wait_for(lambda: min(self.running, key=lambda n: (self.spent[n], self.order[n])) == name)

    def report(self, name: str, spent: float) -> None:
        with self.cond:
            self.spent[name] = spent
            self.cond.notify_all()

    def leave(self, name: str) -> None:
        with self.cond:
            self.running.discard(name)
            self.cond.notify_all()


@dataclasses.dataclass
class Contender:
    """One line of the table and one curve of the plot."""

    name: str
    settings: str  # what it is, for the table
    budget: float
    val_ids: np.ndarray  # what the curve is scored on
    curve_every: float  # seconds of own clock between curve points
    clock: PausableClock = dataclasses.field(default_factory=PausableClock)
    model: nn.Module | None = None
    steps: int = 0
    trained: float = 0.0  # seconds of training on its clock, at its last step
    curve: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (seconds, validation loss)
    error: BaseException | None = None

    def after_step(self, turns: Turns, elapsed: float | None = None) -> None:
        """Stop the clock, score a curve point if one is due, and wait for the next turn.

        ``elapsed``: the training seconds as train() counts them (its clock less its set-up); default: the whole
        clock."""
        self.clock.pause()
        self.steps += 1
        spent = self.trained = self.clock() if elapsed is None else elapsed
        if self.model is not None and spent < self.budget and spent >= self.curve_every * (len(self.curve) + 1):
            self.curve.append((spent, evaluate(self.model, self.val_ids, 32, 256)))
        turns.report(self.name, spent)
        turns.wait(self.name)
        self.clock.resume()

    def run(self, turns: Turns, work: Callable[[], None]) -> None:
        """The thread's body: the contender's whole training, in turns; an error is kept for the main thread."""
        try:
            turns.wait(self.name)
            self.clock.resume()
            work()
            self.clock.pause()
        except BaseException as e:  # noqa: BLE001  (re-raised by compare() in the main thread)
            self.error = e
        finally:
            turns.leave(self.name)


def parse_contender(spec: str) -> tuple[str, str]:
    """"LABEL:SETTINGS" -> (label, settings); a spec without a label is labelled by its settings."""
    label, sep, settings = spec.partition(":")
    if not sep or "=" in label:
        return (spec or "defaults"), spec
    return label.strip() or (settings or "defaults"), settings


def parse_overrides(spec: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """"hidden_size=512,dropout=0.25,lr=0.005" -> (model options, training options), values as the fields' types."""
    model_fields = {f.name: f.type for f in dataclasses.fields(CharLMConfig)}
    train_fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    model: dict[str, Any] = {}
    training: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        value = value.strip()
        if key not in model_fields and key not in train_fields:
            raise SystemExit(f"--rnnkit: unknown setting {key!r}; model settings: {sorted(model_fields)}; "
                             f"training settings: {sorted(train_fields)}")
        kind = str(model_fields.get(key, train_fields.get(key)))
        if "bool" in kind:
            if value.lower() not in ("true", "false", "1", "0"):
                raise SystemExit(f"--rnnkit: {key} takes true or false, got {value!r}")
            parsed: Any = value.lower() in ("true", "1")
        else:
            parsed = float(value) if "float" in kind else int(value) if "int" in kind else value
        (model if key in model_fields else training)[key] = parsed
    return model, training


def compare(budget: float, data: Path, plain_configs: list[tuple[int, int, int]], specs: list[str],
            curve_points: int = 10, curve_chars: int = 0, plot: Path | None = None) -> list[Contender]:
    """Train every contender for ``budget`` seconds of its own clock, in turns; print the table, write the plot."""
    corpus = load_corpus(data)
    train_ids, val_ids = corpus.split(0.1)
    V = len(corpus.vocab)
    curve_ids = val_ids[:curve_chars] if curve_chars else val_ids
    every = budget / max(curve_points, 1)
    contenders: list[Contender] = []
    works: list[Callable[[], None]] = []
    for spec in specs:
        label, settings = parse_contender(spec)
        model_options, train_options = parse_overrides(settings)
        shape = CharLMConfig(**{**model_options, "vocab_size": V})
        c = Contender(f"rnnkit {label}",
                      f"{shape.cell} {shape.num_layers}x{shape.hidden_size} (emb {shape.embedding_size})"
                      + (f"; {settings}" if settings else "; the defaults"), budget, curve_ids, every)
        # evaluation inside train() only at the end, on a few characters (the scores here come from evaluate() below)
        config = TrainConfig(**{"eval_chars": 1000, **train_options, "time_budget": budget, "eval_every": 10**9,
                                "log_every": 1})

        def work(c: Contender = c, config: TrainConfig = config, model_options: dict[str, Any] = model_options) -> None:
            result = train(config, model_options, text=str(data), progress=False, clock=c.clock,
                           callback=lambda row: c.after_step(turns, row["elapsed"]),
                           watch=lambda m: setattr(c, "model", m))
            c.steps, c.model = result.step, result.model

        contenders.append(c)
        works.append(work)
    for L, H, E in plain_configs:
        trainer = PlainTrainer(train_ids, V, L, H, E)
        c = Contender(f"plain torch.nn.LSTM {L}x{H} (emb {E})", "64 x 100 chars, Adam 2e-3, clip 5", budget, curve_ids,
                      every, model=trainer.model)

        def plain_work(c: Contender = c, trainer: PlainTrainer = trainer) -> None:
            while c.clock() < budget:
                trainer.step()
                c.after_step(turns)

        contenders.append(c)
        works.append(plain_work)
    turns = Turns([c.name for c in contenders])
    # daemon threads: a Ctrl-C in the main thread ends the run instead of leaving the others waiting for a turn
    threads = [threading.Thread(target=c.run, args=(turns, work), name=c.name, daemon=True)
               for c, work in zip(contenders, works, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in contenders:
        if c.error is not None:
            raise RuntimeError(f"contender {c.name!r} failed") from c.error
    scores = []
    for c in contenders:
        assert c.model is not None
        loss = evaluate(c.model, val_ids, 32, 256)
        c.curve.append((c.trained, loss))
        scores.append(loss)
    print(f"\n{data.name}: {len(train_ids):,} training / {len(val_ids):,} validation characters; budget {budget:g} s "
          f"each; {machine_summary()}")
    print("| contender | what | steps | training s | val loss (nats/char) | bpc |\n|---|---|---|---|---|---|")
    for c, loss in zip(contenders, scores, strict=True):
        print(f"| {c.name} | {c.settings} | {c.steps} | {c.trained:.0f} | {loss:.3f} | {loss / math.log(2):.3f} |")
    if plot is not None:
        write_curves(plot, contenders, budget, data.name)
    return contenders


def write_curves(path: Path, contenders: list[Contender], budget: float, data_name: str) -> None:
    """One PNG with every contender's validation loss against its training seconds, and the numbers as JSON beside
    it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for c in contenders:
        seconds, losses = zip(*c.curve, strict=True)
        ax.plot(seconds, losses, marker="o", markersize=3, label=f"{c.name}: {losses[-1]:.3f}")
    ax.set_xlabel("training seconds (each contender's own clock)")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_title(f"char-LM on {data_name}, {budget:g} s each")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.005, machine_summary(), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    record = {"command": " ".join(sys.argv), "machine": machine_summary(), "budget": budget, "data": data_name,
              "contenders": [{"name": c.name, "what": c.settings, "steps": c.steps, "curve": c.curve}
                             for c in contenders]}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"curves: {path} (numbers: {path.with_suffix('.json')})")


def sampling_speed(length: int = 400, rounds: int = 5) -> None:
    """Characters per second at batch 1: rnnkit.lm.sample (the Stepper) vs the same weights stepped through
    torch.nn.LSTM."""
    torch.manual_seed(0)
    V = 65
    model = CharLM(CharLMConfig(vocab_size=V, hidden_size=512, num_layers=2, embedding_size=64),
                   vocab=__import__("rnnkit.lm",
                                    fromlist=["CharVocab"]).CharVocab([chr(32 + i) for i in range(V)])).eval()
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
    print(f"\nsampling at batch 1, 2x512 LSTM, {length} characters x {rounds} rounds (median), torch threads "
          f"{torch.get_num_threads()}:")
    print(f"| path | characters/s |\n|---|---|\n| rnnkit.lm.sample (Stepper) | {a:.0f} |\n| torch.nn.LSTM, one call "
          f"per character | {b:.0f} |")
    print(f"speed-up: {a / b:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=150.0, help="training seconds per contender")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="the text (default: ../shared/data/tinyshakespeare.txt)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--plain", default="2x256x65,1x512x64",
                        help="plain contenders, LAYERSxHIDDENxEMBEDDING, comma-separated ('' for none)")
    parser.add_argument("--rnnkit", action="append", default=None, metavar="[LABEL:]SETTINGS",
                        help="an rnnkit contender: settings that differ from the defaults, e.g. "
                             "'AWD:hidden_size=512,weight_dropout=0.25' (CharLMConfig and TrainConfig field names); "
                             "repeat for more")
    parser.add_argument("--preset", action="append", default=[], choices=sorted(PRESETS),
                        help="a named list of rnnkit contenders (see PRESETS in this file); repeatable")
    parser.add_argument("--curve-points", type=int, default=10,
                        help="validation scores per contender during its budget")
    parser.add_argument("--curve-chars", type=int, default=0, help="validation characters per curve point (0: all)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="write the loss-against-seconds curves to this PNG (and .json)")
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
    specs = [spec for name in args.preset for spec in PRESETS[name]] + (args.rnnkit or [])
    compare(args.budget, args.data.resolve(), plain, specs or [""], args.curve_points, args.curve_chars,
            args.plot)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
