"""Where a step of ``rnnkit serve``'s batching worker goes: the Stepper, the output layer, the draws, the rest.

    .venv/bin/python benchmarks/bench_batcher.py                    # 2 x 512 LSTM, B = 1 (batching off), 4, 32, 128
    .venv/bin/python benchmarks/bench_batcher.py --precision fp32,bf16 --rows 1,32   # both kinds of products
    .venv/bin/python benchmarks/bench_batcher.py --rows 1,32 --steps 50 --hidden-size 128

B jobs (one row each; B = 1 is the worker without batching) run the worker's own step
(``Batcher._step``) with no server around it, each phase timed with ``time.perf_counter`` by a
wrapper around the worker's calls: ``Stepper.step`` (embedding input in, both layers' products
and gate math), the output layer, ``_draw`` (the distributions and one draw per row), and the
rest (the embedding, the events, Python). Medians of ``--rounds`` rounds of ``--steps`` steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from common import machine_summary, random_charlm

from rnnkit.lm.checkpoint import load_model
from rnnkit.serve.batching import Batcher, Job
from rnnkit.utils.precision import resolve_precision


def timed(fn: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args)
        spent.append(time.perf_counter() - t0)
        return out

    return wrapper


def phases(run: Path, rows: int, steps: int, rounds: int, products: torch.dtype | None) -> dict[str, float]:
    """Median milliseconds per step of each phase."""
    model, vocab, _ = load_model(run)
    batcher = Batcher(model, max_batch=rows, batching=rows > 1, products=products)
    batcher.close()  # the worker thread exits at once: its methods are driven from here
    torch.set_grad_enabled(False)
    jobs = [Job(ids=vocab.encode("def"), length=10**9, seed=k, temperature=0.8) for k in range(rows)]
    batcher._admit(jobs)
    spent: dict[str, list[float]] = {"stepper": [], "output layer": [], "draws": []}
    assert batcher.stepper is not None
    batcher.stepper.step = timed(batcher.stepper.step, spent["stepper"])  # type: ignore[method-assign]
    batcher.head = timed(batcher.head, spent["output layer"])  # the model's own head, or the worker's packed one
    batcher._draw = timed(batcher._draw, spent["draws"])  # type: ignore[method-assign]
    medians: dict[str, list[float]] = {name: [] for name in (*spent, "rest", "whole step")}
    for r in range(rounds + 1):  # the first round warms up
        for v in spent.values():
            v.clear()
        t0 = time.perf_counter()
        for _ in range(steps):
            batcher._step()
            batcher.outbox.clear()
        whole = (time.perf_counter() - t0) / steps
        if r == 0:
            continue
        parts = {name: sum(v) / steps for name, v in spent.items()}
        for name, value in parts.items():
            medians[name].append(value)
        medians["rest"].append(whole - sum(parts.values()))
        medians["whole step"].append(whole)
    return {name: 1000 * statistics.median(v) for name, v in medians.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden-size", type=int, default=512, help="hidden units per layer of the random model")
    parser.add_argument("--num-layers", type=int, default=2, help="layers of the random model")
    parser.add_argument("--rows", default="1,4,32,128", help="jobs stepped together, comma-separated (1: no batching)")
    parser.add_argument("--steps", type=int, default=200, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians are reported)")
    parser.add_argument("--precision", default="fp32",
                        help="the weight products, comma-separated: fp32, bf16, or auto (as `rnnkit serve` takes it)")
    args = parser.parse_args()
    precisions = [resolve_precision(p.strip(), torch.device("cpu")) for p in args.precision.split(",")]
    print(machine_summary())
    print(f"\nchar-LM {args.num_layers} x {args.hidden_size} LSTM, torch threads {torch.get_num_threads()}, "
          f"{args.rounds} rounds of {args.steps} steps, milliseconds per step (median)\n")
    names = ("stepper", "output layer", "draws", "rest", "whole step")
    print("| products | jobs B | " + " | ".join(names) + " | characters/s |\n|---|---|" + "---|" * (len(names) + 1))
    with tempfile.TemporaryDirectory() as tmp:
        run = random_charlm(Path(tmp), args.hidden_size, args.num_layers)
        for precision in precisions:
            for rows in (int(b) for b in args.rows.split(",")):
                ms = phases(run, rows, args.steps, args.rounds, torch.bfloat16 if precision == "bf16" else None)
                cells = " | ".join(f"{ms[n]:.3f}" for n in names)
                print(f"| {precision} | {rows} | {cells} | {1000 * rows / ms['whole step']:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
