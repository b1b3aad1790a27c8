"""Batch-1 sampling speed of one char-LM three ways: the exported ONNX step graph in onnxruntime,
rnnkit's Stepper (``rnnkit.lm.sample``), and ``torch.nn.LSTM`` called once per character.

    .venv/bin/python benchmarks/bench_export.py                                  # 2 x 512 LSTM, 2000 characters each
    .venv/bin/python benchmarks/bench_export.py --hidden-size 32 --chars 200     # smoke

Same model (seeded random weights over the characters of Python's docs; the weights do not change
the cost), same prime, temperature 1, one run each after a short warm-up, in one process, taking
turns in rounds so that load from elsewhere hits all three alike. Reported: characters per second.
Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_summary, random_charlm

from rnnkit.export.files import export_run
from rnnkit.export.runtime import OnnxCharLM
from rnnkit.layers import to_torch
from rnnkit.lm import CharLM, load_model, sample
from rnnkit.lm.sample import next_char_distribution


@torch.no_grad()
def sample_torch_nn(model: CharLM, prime: str, length: int, generator: torch.Generator) -> str:
    """The plain way: torch.nn.LSTM called on one character at a time, state passed back in."""
    assert model.vocab is not None
    rnn = to_torch(model.rnn).eval()  # type: ignore[arg-type]
    ids = model.vocab.encode(prime)
    _, state = rnn(model.embedding(torch.tensor([ids[:-1]])))
    current, out = ids[-1], []
    for _ in range(length):
        y, state = rnn(model.embedding(torch.tensor([[current]])), state)  # (1, 1, H)
        probs = next_char_distribution(model.head(y[:, 0]))
        current = int(torch.multinomial(probs, 1, generator=generator))
        out.append(model.vocab.chars[current])
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--chars", type=int, default=2000, help="characters per contender per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each contender runs once per round")
    args = parser.parse_args()
    print(machine_summary(), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        run = random_charlm(Path(tmp), args.hidden_size, args.num_layers)
        export_run(run, "onnx", Path(tmp) / "lm.onnx")
        model, _, _ = load_model(run)
        # no busy-waiting threads: they would slow the other contenders in this process between their turns
        onnx_lm = OnnxCharLM(Path(tmp) / "lm.onnx", threads=torch.get_num_threads(), spin=False)
        rng = np.random.default_rng(0)
        prime = "def "
        contenders = {
            "onnxruntime step graph":
                lambda n: onnx_lm.sample(prime, n, lambda V: rng.exponential(size=V).astype(np.float32)),
            "rnnkit Stepper": lambda n: sample(model, prime, n, generator=torch.Generator().manual_seed(0)),
            "torch.nn.LSTM per call": lambda n: sample_torch_nn(model, prime, n, torch.Generator().manual_seed(0)),
        }
        for run_one in contenders.values():
            run_one(20)  # warm-up: first-call costs (allocation, kernels, session setup)
        seconds = {name: 0.0 for name in contenders}
        for _ in range(args.rounds):
            for name, run_one in contenders.items():
                t0 = time.perf_counter()
                text = run_one(args.chars)
                seconds[name] += time.perf_counter() - t0
                assert len(text) == args.chars
    print(f"batch-1 sampling, {args.num_layers} x {args.hidden_size} LSTM char-LM, {args.rounds} x {args.chars} "
          f"characters each, {torch.get_num_threads()} threads")
    print("| contender | chars/s |\n|---|---|")
    for name, s in seconds.items():
        print(f"| {name} | {args.rounds * args.chars / s:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
