"""Data parallelism through torch.distributed, only when launched by ``torchrun``.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them everything here is a no-op
and training runs in one process. On CPU the backend is gloo, on CUDA NCCL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Dist:
    """Join the process group torchrun prepared (if any) and pick this rank's device."""
    if device == "cuda" and not torch.cuda.is_available():  # was torch's "Torch not compiled with CUDA enabled"
        why = "this PyTorch is a CPU-only build" if torch.version.cuda is None else "PyTorch finds no CUDA device"
        raise ValueError(f"--device cuda: {why}; use --device cpu (or auto, which takes CUDA where there is one).")
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Dist(device=torch.device("cuda" if want_cuda else "cpu"))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if want_cuda else "gloo")
    return Dist(rank, world_size, torch.device(f"cuda:{local_rank}" if want_cuda else "cpu"))


def teardown(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()


def sum_all(d: Dist, values: list[float]) -> list[float]:
    """Sum a few numbers over all ranks (identity in one process)."""
    if not d.active:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return t.tolist()


def gather_batch(d: Dist, t: Tensor, dim: int) -> Tensor:
    """Concatenate every rank's ``t`` along ``dim`` (the batch dimension) in rank order."""
    if not d.active:
        return t
    parts = [torch.empty_like(t) for _ in range(d.world_size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim)


def barrier(d: Dist) -> None:
    if d.active:
        dist.barrier()
