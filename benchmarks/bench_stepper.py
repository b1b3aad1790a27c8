"""Sampling speed of the Stepper with B streams stepped together (the server's batched mode), against torch.nn.

Each variant generates the same number of characters for B independent streams of a char-LM
(embedding, a 2 x 512 LSTM by default, the output layer, a multinomial draw per stream), one step
of all B at a time:

    rnnkit       rnnkit.layers.Stepper(batch_size=B): weights arranged once, buffers reused
    rnnkit bf16  the same with bf16 products (float32 state and gate math); only where the CPU has bf16
    torch.nn     torch.nn.LSTM with the same weights, called once per step on (1, B, E)

Variants take turns (interleaved rounds, medians): the machine is shared.

    .venv/bin/python benchmarks/bench_stepper.py                  # B = 1, 8, 32
    .venv/bin/python benchmarks/bench_stepper.py --streams 1,4 --hidden 256 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_summary, median, paired_speedup, run_interleaved  # noqa: E402

from rnnkit.layers import to_torch  # noqa: E402
from rnnkit.layers.stepper import Stepper  # noqa: E402
from rnnkit.lm import CharLM, CharLMConfig, CharVocab  # noqa: E402
from rnnkit.utils.precision import bf16_runs_fast  # noqa: E402


def generator_of(model: CharLM, B: int, steps: int, step: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
    """``steps`` characters for each of B streams, each step: embed, one step of the stack, the head, a draw."""
    g = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def run() -> None:
        current = torch.zeros(B, dtype=torch.long)
        for _ in range(steps):
            h = step(model.embedding(current))  # (B, H)
            current = torch.multinomial(torch.softmax(model.head(h), dim=-1), 1, generator=g).squeeze(1)

    return run


def variants_for(model: CharLM, B: int, steps: int) -> list[tuple[str, Callable[[], None]]]:
    stepper = Stepper(model.rnn, batch_size=B)
    twin = to_torch(model.rnn).eval()
    state: dict[str, object] = {"hx": None}

    def torch_step(x: torch.Tensor) -> torch.Tensor:
        out, state["hx"] = twin(x.unsqueeze(0), state["hx"])  # (1, B, H)
        return out[0]

    out = [("rnnkit", generator_of(model, B, steps, stepper.step)),
           ("torch.nn", generator_of(model, B, steps, torch_step))]
    if bf16_runs_fast(torch.device("cpu")):
        low = Stepper(model.rnn, batch_size=B, products=torch.bfloat16)
        out.insert(1, ("rnnkit bf16", generator_of(model, B, steps, low.step)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,8,32", help="the batch sizes B, comma-separated")
    parser.add_argument("--hidden", type=int, default=512, help="hidden size of each LSTM layer")
    parser.add_argument("--layers", type=int, default=2, help="LSTM layers")
    parser.add_argument("--steps", type=int, default=50, help="characters per stream in one timed call")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (medians are reported)")
    args = parser.parse_args()
    print(machine_summary())
    torch.manual_seed(0)
    vocab = CharVocab([chr(32 + i) for i in range(65)])
    config = CharLMConfig(vocab_size=len(vocab), hidden_size=args.hidden, num_layers=args.layers, embedding_size=64)
    model = CharLM(config, vocab).eval()
    print(f"\nchar-LM {args.layers} x {args.hidden} LSTM, {args.steps} characters per stream per call, "
          f"{args.rounds} interleaved rounds, torch threads {torch.get_num_threads()}\n")
    print("| B | variant | characters/s (all streams) | per stream | vs torch.nn |\n|---|---|---|---|---|")
    for B in (int(b) for b in args.streams.split(",")):
        samples = run_interleaved(variants_for(model, B, args.steps), rounds=args.rounds, target_s=0.2)
        for name, times in samples.items():
            rate = B * args.steps / median(times)
            ratio = "1.00x" if name == "torch.nn" else f"{paired_speedup(samples, 'torch.nn', name):.2f}x"
            print(f"| {B} | {name} | {rate:,.0f} | {rate / B:,.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
