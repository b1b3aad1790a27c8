"""Recurrent layers: rnnkit against torch.nn, in one process, interleaved, reported as ratios.

Sections:
  training   forward + backward (loss = output.sum(), x.requires_grad), T=100, one layer,
             input size = hidden size, for LSTM, GRU and Elman (tanh) at B x H in
             {32, 64, 128} x {128, 256, 512, 1024}; each configuration's rounds also time a
             1024^2 torch.mm and oneDNN linear, so "% of ceiling" is paired round by round.
  stepping   batch 1, a 2-layer stack, one step per call under no_grad: ``rnnkit.layers.stepper.Stepper``
             against calling ``nn.LSTM`` (and ``nn.GRU``) once per step, H = 128 and 512.

FLOP convention: one layer forward = 2*B*T*(I+H)*G*H (G = 4 LSTM, 3 GRU, 1 Elman); forward
+ backward = 3x that. Speed-ups are medians over rounds of per-round ratios (> 1: rnnkit faster).

Run:  python benchmarks/bench_layers.py              full run (~15-20 min on 2 busy cores)
      python benchmarks/bench_layers.py --quick      smoke run (~1 min)
      add --write-docs to put the tables into docs/benchmarks.md (between the layers markers)
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CLOCKS, gemm_ceiling, machine_summary, median, paired_rate, paired_speedup, run_interleaved  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.layers.stepper import Stepper  # noqa: E402

T = 100
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1}
PEERS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def train_flops(mode: str, B: int, H: int) -> float:
    return 3.0 * 2 * B * T * (H + H) * GATES[mode] * H


def train_step(layer: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    """One forward + backward; gradients go to x and every parameter (autograd.grad, no accumulation)."""
    params = list(layer.parameters())

    def step() -> object:
        out, _ = layer(x)
        return torch.autograd.grad(out.sum(), [x, *params])

    return step


def training_section(
    modes: list[str], Bs: list[int], Hs: list[int], rounds: int, deadline: float, clock: Callable[[], float]
) -> list[dict]:
    gemms, gemm_flops = gemm_ceiling()
    rows = []
    for H in Hs:
        for B in Bs:
            for mode in modes:
                torch.manual_seed(0)
                peer = PEERS[mode](H, H)
                mine = rnnkit.from_torch(peer)
                x = torch.randn(T, B, H, requires_grad=True)
                f_nn, f_rk = train_step(peer, x), train_step(mine, x)
                t0 = time.perf_counter()
                f_nn()
                one_call = time.perf_counter() - t0
                n_rounds = rounds if one_call < 2.0 else max(2, rounds - 2)
                # two variants, a warm-up each, plus the ceiling GEMMs: skip what would overrun the budget
                if time.perf_counter() + (n_rounds + 1) * (2 * one_call + 0.2) > deadline:
                    rows.append({"mode": mode, "B": B, "H": H, "skipped": True})
                    print(f"  {mode:8s} B={B:4d} H={H:5d}  skipped (time budget)", flush=True)
                    continue
                s = run_interleaved([("torch.nn", f_nn), ("rnnkit", f_rk), *gemms], n_rounds, target_s=0.1, clock=clock)
                fl = train_flops(mode, B, H)
                row = {
                    "mode": mode, "B": B, "H": H, "rounds": n_rounds,
                    "nn_ms": median(s["torch.nn"]) * 1e3, "rk_ms": median(s["rnnkit"]) * 1e3,
                    "speedup": paired_speedup(s, "torch.nn", "rnnkit"),
                    "speedup_range": (min(a / b for a, b in zip(s["torch.nn"], s["rnnkit"], strict=True)),
                                      max(a / b for a, b in zip(s["torch.nn"], s["rnnkit"], strict=True))),
                    "nn_gflops": fl / median(s["torch.nn"]) / 1e9, "rk_gflops": fl / median(s["rnnkit"]) / 1e9,
                    "rk_pct_mm": 100 * paired_rate(s, "rnnkit", fl, "gemm mm", gemm_flops),
                    "mm_gflops": gemm_flops / median(s["gemm mm"]) / 1e9,
                }
                if "gemm oneDNN" in s:
                    row["rk_pct_onednn"] = 100 * paired_rate(s, "rnnkit", fl, "gemm oneDNN", gemm_flops)
                    row["onednn_gflops"] = gemm_flops / median(s["gemm oneDNN"]) / 1e9
                rows.append(row)
                print(f"  {mode:8s} B={B:4d} H={H:5d}  torch.nn {row['nn_ms']:9.1f} ms  rnnkit {row['rk_ms']:9.1f} ms"
                      f"  x{row['speedup']:.2f} [{row['speedup_range'][0]:.2f}-{row['speedup_range'][1]:.2f}]"
                      f"  {row['rk_gflops']:6.1f} GFLOP/s = {row['rk_pct_mm']:3.0f}% of mm", flush=True)
    return rows


def stepping_section(Hs: list[int], rounds: int, clock: Callable[[], float]) -> list[dict]:
    rows = []
    L = 2
    for mode in ("lstm", "gru"):
        for H in Hs:
            torch.manual_seed(0)
            peer = PEERS[mode](H, H, L).eval()
            stepper = Stepper(rnnkit.from_torch(peer), batch_size=1)
            x = torch.randn(1, 1, H)
            state: list = [None]

            def nn_step(peer: nn.Module = peer, x: torch.Tensor = x, state: list = state) -> None:
                with torch.no_grad():
                    _, state[0] = peer(x, state[0])

            def rk_step(stepper: Stepper = stepper, x: torch.Tensor = x) -> None:
                stepper.step(x[0])

            s = run_interleaved([("torch.nn", nn_step), ("rnnkit", rk_step)], rounds, target_s=0.05, warmup=20,
                                clock=clock)
            row = {"mode": mode, "H": H, "L": L, "nn_us": median(s["torch.nn"]) * 1e6,
                   "rk_us": median(s["rnnkit"]) * 1e6, "speedup": paired_speedup(s, "torch.nn", "rnnkit")}
            rows.append(row)
            print(f"  {mode:5s} H={H:4d} L={L}  nn.{PEERS[mode].__name__} per step {row['nn_us']:8.1f} us"
                  f"  Stepper {row['rk_us']:7.1f} us  x{row['speedup']:.2f}", flush=True)
    return rows


def markdown(train: list[dict], steps: list[dict], command: str, started: str, header: str, wall_s: float) -> str:
    names = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN (tanh)"}
    lines = [
        f"Command: `{command}`, run {started} UTC, {wall_s / 60:.1f} min; {header}.",
        "",
        "**Training**, forward + backward, T=100, one layer, I = H, loss = output.sum(). Speed-up = median over",
        "interleaved rounds of t(torch.nn) / t(rnnkit) (> 1: rnnkit faster; range over rounds in brackets).",
        "GFLOP/s uses fwd = 2·B·T·(I+H)·G·H, fwd+bwd = 3× fwd; \"% of mm\" is rnnkit's rate over a 1024² float32",
        "torch.mm timed in the same rounds (\"% of oneDNN\": over oneDNN's linear).",
        "",
        "| cell | B | H | torch.nn ms | rnnkit ms | speed-up | torch.nn GFLOP/s | rnnkit GFLOP/s | % of mm | % of "
        "oneDNN |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in train:
        if r.get("skipped"):
            lines.append(f"| {names[r['mode']]} | {r['B']} | {r['H']} | skipped (time budget) | | | | | | |")
            continue
        lo, hi = r["speedup_range"]
        lines.append(
            f"| {names[r['mode']]} | {r['B']} | {r['H']} | {r['nn_ms']:.1f} | {r['rk_ms']:.1f} | "
            f"{r['speedup']:.2f} [{lo:.2f}–{hi:.2f}] | {r['nn_gflops']:.1f} | {r['rk_gflops']:.1f} | "
            f"{r['rk_pct_mm']:.0f}% | {r.get('rk_pct_onednn', float('nan')):.0f}% |"
        )
    done = [r for r in train if not r.get("skipped")]
    if done:
        lines += ["",
                  f"GEMM ceiling measured in the same rounds (median over configurations): torch.mm 1024² "
                  f"{median([r['mm_gflops'] for r in done]):.1f} GFLOP/s"
                  + (f", oneDNN linear {median([r['onednn_gflops'] for r in done if 'onednn_gflops' in r]):.1f} GFLOP/s"
                     if any("onednn_gflops" in r for r in done) else "") + "."]
    lines += [
        "",
        "**Stepping** (generation), batch 1, 2 layers, one step per call, no_grad: `Stepper.step` against calling",
        "the torch.nn layer once per step with its state carried over.",
        "",
        "| cell | H | torch.nn µs/step | Stepper µs/step | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in steps:
        lines.append(f"| {names[r['mode']]} | {r['H']} | {r['nn_us']:.1f} | {r['rk_us']:.1f} | {r['speedup']:.2f} |")
    return "\n".join(lines)


def write_docs(section: str, path: Path = DOCS) -> None:
    """Replace what sits between the layers markers in docs/benchmarks.md."""
    start, end = "<!-- layers:start -->", "<!-- layers:end -->"
    text = path.read_text()
    if start not in text or end not in text:
        raise ValueError(f"bench_layers: {path} has no '{start}' ... '{end}' section to fill.")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{start}\n{section}\n{end}{tail}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: a few small configurations, ~1 minute")
    ap.add_argument("--rounds", type=int, default=5,
                    help="interleaved rounds per training configuration (the slowest get 2 fewer); more rounds, "
                         "steadier medians")
    ap.add_argument("--budget", type=float, default=1080.0,
                    help="soft wall-clock budget in seconds; training configurations that would overrun it are skipped")
    ap.add_argument("--write-docs", action="store_true", help="write the tables into docs/benchmarks.md")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall time, or this process's CPU time (fair for --threads 1 on an overloaded machine)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]
    start, started = time.perf_counter(), datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    header = machine_summary()
    print(f"bench_layers: {header}", flush=True)
    if args.quick:
        modes, Bs, Hs, rounds, step_rounds = list(GATES), [32], [128], 3, 3
    else:
        modes, Bs, Hs, rounds, step_rounds = list(GATES), [32, 64, 128], [128, 256, 512, 1024], args.rounds, 7
    print("stepping (batch 1, 2 layers, no_grad):", flush=True)
    steps = stepping_section([128, 512], step_rounds, clock)
    print("training (fwd+bwd, T=100, I=H):", flush=True)
    train = training_section(modes, Bs, Hs, rounds, start + args.budget, clock)
    wall = time.perf_counter() - start
    command = " ".join(["python benchmarks/bench_layers.py", *sys.argv[1:]])
    section = markdown(train, steps, command, started, f"{header} at the start, times by the {args.clock} clock", wall)
    print("\n" + section)
    if args.write_docs:
        write_docs(section)
        print(f"\nwritten to {DOCS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
