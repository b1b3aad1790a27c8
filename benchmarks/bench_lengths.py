"""LSTM training with lengths: rnnkit's segments against torch's packed kernel, in one process.

An LSTM given lengths (or a PackedSequence) in training on the CPU: torch.nn runs PyTorch's
packed kernel; rnnkit runs the dense kernel once per distinct length when that is faster
(``rnnkit.layers.fast.segments``). Each configuration times forward + backward (loss = output.sum())
for ``torch.nn.LSTM`` on a PackedSequence, ``rnnkit.LSTM`` with lengths, and ``rnnkit.LSTM`` on
the same batch without lengths (the dense floor), interleaved, and reports medians.

Run:  python benchmarks/bench_lengths.py          (~2 min; prints a markdown table)
"""

from __future__ import annotations

import argparse

import torch
from common import median, paired_speedup, run_interleaved
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit

CONFIGS = [(32, 100), (32, 200), (32, 400), (128, 100), (32, 30)]  # (B, T), one layer, H = I = 256


def measure(B: int, T: int, H: int, rounds: int) -> dict[str, float]:
    g = torch.Generator().manual_seed(B * 1000 + T)
    peer = torch.nn.LSTM(H, H)
    ours = rnnkit.from_torch(peer)
    x = torch.randn(T, B, H, generator=g, requires_grad=True)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g) if T > 30 else torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T

    def packed() -> None:
        y, _ = peer(pack_padded_sequence(x, lengths, enforce_sorted=False))
        y.data.sum().backward()

    def segments() -> None:
        y, _ = ours(x, lengths=lengths)
        y.sum().backward()

    def dense() -> None:
        y, _ = ours(x)
        y.sum().backward()

    s = run_interleaved([("packed", packed), ("rnnkit", segments), ("dense", dense)], rounds, target_s=0.05)
    return {
        "distinct": float(len(torch.unique(lengths))),
        **{k: median(v) * 1e3 for k, v in s.items()},
        "speedup": paired_speedup(s, "packed", "rnnkit"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=256)
    args = ap.parse_args()
    print("| B | T | distinct lengths | torch.nn packed ms | rnnkit with lengths ms | speed-up | same batch, no "
          "lengths ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for B, T in CONFIGS:
        r = measure(B, T, args.hidden, args.rounds)
        print(f"| {B} | {T} | {r['distinct']:.0f} | {r['packed']:,.0f} | {r['rnnkit']:,.0f} | {r['speedup']:.2f} | "
              f"{r['dense']:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
