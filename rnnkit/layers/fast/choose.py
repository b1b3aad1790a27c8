"""Which kernel runs a recurrent stack: the one place where that is decided.

``choose_path`` is called once per forward. It lists the paths that can run the call
correctly, best-known first, and returns a ``Plan``:

    ===========================================================  ===========================================
    the call                                                     candidates, the rule's choice first
    ===========================================================  ===========================================
    ``fast=False``, layer norm, recurrent dropout in training,   REFERENCE (the loop of ``reference.py``)
    not on CPU/CUDA, not a floating dtype, an empty batch
    LSTM, CPU, lengths, a backward pass follows                  SEGMENTS if T >= 64 or at most one distinct
                                                                 length per two steps, else TORCH; then the other
    GRU or Elman, CPU, float32/float64, a backward pass follows  FUSED, TORCH (TORCH alone under bf16 autocast:
                                                                 the fused kernels compute in float32)
    anything else (inference, GPU, half precision, LSTM          TORCH (``torch._VF``: oneDNN's LSTM on the
    without lengths)                                             CPU, cuDNN on a GPU)
    ===========================================================  ===========================================

With one candidate, that is the path. With two, the rule's choice stands unless autotuning
is on (the default; ``RNNKIT_AUTOTUNE=0`` or ``autotune(False)`` turn it off): then, the
first time a kind of call is seen (cell, batch, sizes, layers, directions, T rounded up to
a power of two, distinct lengths likewise, dtype, threads, whether a backward pass
follows), each candidate is timed on the call itself, a few interleaved rounds, and the
fastest by median wins. The winner is kept in memory and in a small JSON file in rnnkit's
cache, keyed by the CPU's identity (its feature flags) and the torch version, so the next
process starts with it. This is what ``torch.backends.cudnn.benchmark`` does for cuDNN;
``rnnkit doctor`` prints the choices made so far.

Why measure: which path wins depends on the CPU. The fused kernels beat ``torch.nn`` by
1.2-2x on an AVX-512 machine whose oneDNN products are fast, but at small sizes on an AVX2
machine the Elman kernel measured 0.6-0.9x. The timing never changes results beyond float
rounding: every candidate computes the same function (the tests hold each to ``torch.nn``).

The plan also carries the two choices inside the fused kernels: the compiled gate math of
``kernels.c`` (``native``: float32 on the CPU, when it built; ``use_native(False)`` or
``RNNKIT_NATIVE=0`` turn it off) and oneDNN's packed-weight products (``onednn``: float32
on the CPU; ``use_onednn(False)`` turns it off).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import statistics
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from rnnkit.layers.fast.native import Kernels, cpu_identity, kernels_for
from rnnkit.layers.fast.onednn import onednn_applies
from rnnkit.utils.cache import cache_dir
from rnnkit.utils.switch import Switch

if TYPE_CHECKING:
    from rnnkit.layers.recurrent import RecurrentBase


class Path(enum.Enum):
    """The ways to run a whole stack over time."""

    REFERENCE = "reference"  # the loop of rnnkit.layers.reference: every option, every device
    TORCH = "torch"  # PyTorch's sequence kernels (torch._VF), what torch.nn calls
    SEGMENTS = "segments"  # an LSTM's dense kernel once per distinct length (rnnkit.layers.fast.segments)
    FUSED = "fused"  # rnnkit's GRU/Elman autograd functions (rnnkit.layers.fast.fused)


@dataclass(frozen=True)
class Plan:
    """What runs a call: the path, and inside the fused kernels the gate math and the products."""

    path: Path
    native: Kernels | None = None  # the compiled gate math of kernels.c, or None for PyTorch ops
    onednn: bool = False  # float32 products through oneDNN with the weight packed once


@dataclass(frozen=True)
class Case:
    """What a timed choice depends on; two calls with the same case get the same path."""

    mode: str
    dtype: str
    batch: int
    input: int
    hidden: int
    layers: int
    directions: int
    steps: int  # T rounded up to a power of two
    distinct: int  # distinct lengths rounded up to a power of two; 0 without lengths
    backward: bool
    threads: int

    def key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in asdict(self).items())


_AUTOTUNE = Switch(os.environ.get("RNNKIT_AUTOTUNE", "1") != "0")
ROUNDS = 3  # timed rounds per candidate, after one warm-up round


def autotune(enabled: bool) -> AbstractContextManager[None]:
    """Switch timing the candidates on or off inside a ``with`` block (off: the rule's choice)."""
    return _AUTOTUNE.set_to(enabled)


def autotuning() -> bool:
    return _AUTOTUNE.on


def backward_follows(x: Tensor, h0: Tensor, weights: Sequence[Tensor]) -> bool:
    """Whether autograd will record this call: grad mode on and some input needing a gradient."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in (x, h0, *weights))


def candidates(
    layer: RecurrentBase, x: Tensor, h0: Tensor, lengths: Tensor | None, weights: Sequence[Tensor] | None = None,
) -> list[Path]:
    """The paths that can run this call, the rule's choice first (the table of the module docstring).

    x is time-major (T, B, I); ``lengths`` is None when no row is padded; ``weights`` the layer's
    ``flat_weights()`` if the caller has them already.
    """
    plain = not layer.layer_norm and not (layer.recurrent_dropout and layer.training)
    floating = x.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
    if not (layer.fast and plain and floating and x.device.type in ("cpu", "cuda") and x.size(1) > 0):
        return [Path.REFERENCE]
    if x.device.type != "cpu" or not backward_follows(x, h0, layer.flat_weights() if weights is None else weights):
        return [Path.TORCH]
    if layer.mode == "lstm":
        if lengths is None:
            return [Path.TORCH]
        return [Path.SEGMENTS, Path.TORCH] if segments_rule(x.size(0), lengths) else [Path.TORCH, Path.SEGMENTS]
    if x.dtype in (torch.float32, torch.float64) and not torch.is_autocast_enabled("cpu"):
        return [Path.FUSED, Path.TORCH]
    return [Path.TORCH]


def segments_rule(T: int, lengths: Tensor) -> bool:
    """Whether an LSTM with lengths in training should run segment by segment, without timing.

    Segments cost a kernel call per distinct length; measured (H=256 unless said, forward + backward,
    ms, packed -> segments): B=128 T=100 72 distinct lengths 569 -> 375; T=400 127 distinct 18,886 ->
    3,608; B=32 T=30 19 distinct 29 -> 33; B=64 T=50 H=128 bidirectional 37 distinct 57 -> 69.
    Hence: sequences of 64 steps or more, or at most one distinct length per two steps.
    """
    return T >= 64 or len(torch.unique(lengths)) <= T // 2


def describe(layer: RecurrentBase, x: Tensor, h0: Tensor, lengths: Tensor | None, backward: bool | None = None) -> Case:
    """The kind of call: what the timed choice is kept under. ``backward``: whether a backward pass follows,
    if the caller knows already."""
    T, B, I = x.shape
    if backward is None:
        backward = backward_follows(x, h0, layer.flat_weights())
    return Case(
        mode=layer.mode, dtype=str(x.dtype).removeprefix("torch."), batch=B, input=I, hidden=layer.hidden_size,
        layers=layer.num_layers, directions=layer.num_directions, steps=_power_of_two(T),
        distinct=0 if lengths is None else _power_of_two(len(torch.unique(lengths))),
        backward=backward, threads=torch.get_num_threads(),
    )


def choose_path(
    layer: RecurrentBase, x: Tensor, h0: Tensor, lengths: Tensor | None,
    measure: Callable[[Path], float] | None = None, weights: Sequence[Tensor] | None = None,
) -> Plan:
    """The plan for one forward of ``layer`` on x (T, B, I) from h0, with ``lengths`` (None: none padded)
    and the layer's ``flat_weights()`` if the caller has them.

    ``measure(path)`` times one run of the call by ``path`` in seconds; by default the call itself
    (``rnnkit.layers.fast.dispatch.time_path``). Tests inject their own timings.
    """
    paths = candidates(layer, x, h0, lengths, weights)
    path = paths[0]
    if len(paths) > 1 and _AUTOTUNE.on:
        if measure is None:
            from rnnkit.layers.fast.dispatch import time_path  # dispatch runs the paths this module names

            def measure(p: Path) -> float:
                return time_path(layer, x, h0, lengths, p)

        # more than one candidate only ever when a backward pass follows (the table)
        path = TUNER.choose(describe(layer, x, h0, lengths, backward=True), paths, measure)
    return plan_for(path, x)


def plan_for(path: Path, x: Tensor) -> Plan:
    """The plan that runs ``path`` on tensors like ``x``: for the fused kernels, with the compiled gate math
    and oneDNN's products wherever they apply."""
    if path is not Path.FUSED:
        return Plan(path)
    return Plan(path, native=kernels_for(x), onednn=onednn_applies(x))


def fastest(paths: Sequence[Path], measure: Callable[[Path], float],
            rounds: int = ROUNDS) -> tuple[Path, dict[str, float]]:
    """Time each path ``rounds`` times, interleaved, after one warm-up round; the lowest median wins
    (ties go to the earlier path, the rule's choice). Returns the winner and the medians in seconds."""
    for p in paths:
        measure(p)  # warm-up: first-call allocations, kernel builds, oneDNN's weight packing
    times: dict[Path, list[float]] = {p: [] for p in paths}
    for _ in range(rounds):
        for p in paths:
            times[p].append(measure(p))
    medians = {p: statistics.median(t) for p, t in times.items()}
    best = min(paths, key=lambda p: (medians[p], paths.index(p)))
    return best, {p.value: m for p, m in medians.items()}


class Tuner:
    """The timed choices: in memory, and in ``$RNNKIT_CACHE/choices/<cpu>.json`` for the next process."""

    def __init__(self) -> None:
        self.choices: dict[str, dict[str, Any]] = {}  # by Case.key(): what the file holds
        self.made: dict[Case, Path] = {}  # the same, by Case, for the lookup on every call
        self._loaded = False

    def file(self) -> FilePath:
        identity = f"{cpu_identity()}|torch {torch.__version__}"
        return cache_dir("choices") / f"{hashlib.sha256(identity.encode()).hexdigest()[:16]}.json"

    def load(self) -> dict[str, dict[str, Any]]:
        """The choices of earlier processes on this CPU (a damaged file is ignored and later replaced)."""
        if not self._loaded:
            self._loaded = True
            try:
                saved = json.loads(self.file().read_text())
                if isinstance(saved, dict):
                    self.choices = {k: v for k,
                                    v in saved.items() if isinstance(v, dict) and "path" in v} | self.choices
            except (OSError, ValueError):
                pass
        return self.choices

    def choose(self, case: Case, paths: Sequence[Path], measure: Callable[[Path], float]) -> Path:
        made = self.made.get(case)
        if made is not None and made in paths:
            return made
        key = case.key()
        known = self.load().get(key)
        if known is not None and known["path"] in {p.value for p in paths}:
            self.made[case] = Path(known["path"])
            return self.made[case]
        best, medians = fastest(paths, measure)
        self.choices[key] = {"path": best.value, "seconds": medians}
        self.made[case] = best
        self._save()
        return best

    def _save(self) -> None:
        """Write all choices at once (a temporary file renamed into place: a crash leaves the old file whole)."""
        path = self.file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.choices, indent=1, sort_keys=True))
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache costs a re-measurement in the next process, nothing else

    def forget(self) -> None:
        """Drop every choice, in memory and on disk (``rnnkit doctor --forget``)."""
        self.choices, self.made, self._loaded = {}, {}, True
        self.file().unlink(missing_ok=True)


TUNER = Tuner()


# ---- the Stepper's products -------------------------------------------------------------------

STEP_ONEDNN_MIN_ENTRIES = 1 << 19


def step_onednn(weight: Tensor) -> bool:
    """Whether a Stepper product ``x W^T`` at small batch goes to oneDNN (else ``torch.addmm``).

    At batch 1 this is a matrix-vector product that only reads W. MKL (behind ``torch.addmm``)
    runs it on one thread; oneDNN's product with W packed once runs on all of them, and for a
    large W that wins despite its higher fixed cost per call. Measured (2 threads, float32,
    batch 1, microseconds per product): K x N = 256 x 512: addmm 11, oneDNN 21; 512 x 1024: 41 and
    41; 1024 x 2048: 207 and 80. So W with more than 2^19 entries goes to oneDNN.
    """
    return weight.numel() > STEP_ONEDNN_MIN_ENTRIES and onednn_applies(weight)


def step_native(weight: Tensor) -> Kernels | None:
    """The compiled LSTM and GRU steps of ``kernels.c`` for a Stepper on ``weight``'s dtype and device, or None."""
    return kernels_for(weight)


def _power_of_two(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()
