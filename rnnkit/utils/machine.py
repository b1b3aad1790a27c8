"""What CPU this is, as far as speed goes: its model and the instruction sets the kernels care about.

Figures measured on one CPU do not carry over to another (an AVX2-only CPU runs bf16 products at
about 1 GFLOP/s; oneDNN's float32 products beat MKL's by 1.2-2x on one machine and tie on
another), so benchmarks print this line and ``rnnkit doctor`` shows it.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


@dataclass(frozen=True)
class CPU:
    model: str
    family: str
    flags: frozenset[str]

    @property
    def speed_flags(self) -> list[str]:
        """The flags among ``SPEED_FLAGS`` that this CPU has, in that order."""
        return [f for f in SPEED_FLAGS if f in self.flags]

    @property
    def has_bf16(self) -> bool:
        """Whether the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX)."""
        return bool({"avx512_bf16", "amx_bf16"} & self.flags)


@cache
def cpu() -> CPU:
    """The CPU, from /proc/cpuinfo (its first processor); elsewhere the platform's name and no flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return CPU(platform.processor() or "unknown CPU", "?", frozenset())

    def field(name: str) -> str:
        return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == name), "?")

    flags = field("flags") if field("flags") != "?" else field("Features")
    return CPU(field("model name"), field("cpu family"), frozenset(flags.split()) if flags != "?" else frozenset())


def cpu_features() -> str:
    """One line: the CPU's model and the features that decide kernel speed (AVX2, AVX-512, bf16, AMX)."""
    c = cpu()
    return f"{c.model} (family {c.family}): {' '.join(c.speed_flags) or 'no AVX2/AVX-512'}"


def onednn_bf16() -> bool:
    """Whether this torch's oneDNN will run bf16 products on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
