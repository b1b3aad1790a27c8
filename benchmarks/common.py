"""Timing helpers for benchmarks on a shared, noisy machine.

Every comparison is interleaved (the variants take turns, the order reversed every other
round, so a burst of load from a neighbour hits all of them alike), repeated, and
summarised by medians; a speed-up is the median over rounds of the per-round ratio, which
cancels most of the drift that a ratio of two separate medians would keep.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from rnnkit.utils.machine import cpu_features

Timings = dict[str, list[float]]  # variant name -> seconds per call, one entry per round


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def run_interleaved(
    variants: list[tuple[str, Callable[[], object]]], rounds: int, target_s: float = 0.1, warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> Timings:
    """Time each variant once per round, alternating the order; returns seconds per call per round.

    The last warm-up call sets how many calls one sample holds, so that a sample lasts
    about ``target_s`` (cheap calls are averaged over many, expensive ones run once).
    ``clock`` is wall time by default; ``time.process_time`` (CPU time of this process) is the
    fairer measure of work for a single-threaded run on a machine too busy to give it a core.
    """
    reps: dict[str, int] = {}
    for name, fn in variants:
        dt = 0.0
        for _ in range(warmup):
            t0 = clock()
            fn()
            dt = clock() - t0
        reps[name] = max(1, min(100_000, math.ceil(target_s / max(dt, 1e-7))))
    samples: Timings = {name: [] for name, _ in variants}
    for r in range(rounds):
        for name, fn in variants if r % 2 == 0 else variants[::-1]:
            t0 = clock()
            for _ in range(reps[name]):
                fn()
            samples[name].append((clock() - t0) / reps[name])
    return samples


def paired_speedup(samples: Timings, peer: str, name: str) -> float:
    """Median over rounds of t_peer / t_name: above 1, ``name`` is faster than ``peer``."""
    return median([a / b for a, b in zip(samples[peer], samples[name], strict=True)])


def paired_rate(samples: Timings, name: str, flops: float, ref: str, ref_flops: float) -> float:
    """Median over rounds of (flops/t_name) / (ref_flops/t_ref): a share of a ceiling timed in the same round."""
    return median([(flops / a) / (ref_flops / b) for a, b in zip(samples[name], samples[ref], strict=True)])


def gemm_ceiling(n: int = 1024) -> tuple[list[tuple[str, Callable[[], object]]], float]:
    """Two square float32 GEMMs that bound what a recurrent layer can reach here: torch.mm (BLAS)
    and oneDNN's linear (the library behind nn.LSTM on CPU). Returns the callables and their FLOPs."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    fns: list[tuple[str, Callable[[], object]]] = [("gemm mm", lambda: torch.mm(a, b))]
    try:
        am, bm = a.to_mkldnn(), b.to_mkldnn()
        torch._C._nn.mkldnn_linear(am, bm, None)
        fns.append(("gemm oneDNN", lambda: torch._C._nn.mkldnn_linear(am, bm, None)))
    except (RuntimeError, AttributeError):
        pass  # a build without oneDNN: the BLAS ceiling alone
    return fns, 2.0 * n**3


def machine_summary() -> str:
    """One line about the machine and the load on it, for the results header."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{cpu_features()}; {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"load average {load}")


def random_charlm(out: Path, hidden_size: int, num_layers: int) -> Path:
    """A char-LM checkpoint in ``out`` with seeded random weights over the characters of Python's reference docs
    (speed does not depend on what the weights learnt)."""
    from pydoc_data.topics import topics

    from rnnkit.lm import CharLM, CharLMConfig, CharVocab
    from rnnkit.lm.checkpoint import make_checkpoint
    from rnnkit.utils.checkpoint import atomic_save

    torch.manual_seed(0)
    vocab = CharVocab("".join(topics.values()))
    model = CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=hidden_size, num_layers=num_layers), vocab)
    atomic_save(make_checkpoint(model, vocab, step=0, metrics={}), out / "best.pt")
    return out
