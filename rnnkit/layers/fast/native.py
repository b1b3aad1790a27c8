"""The compiled step kernels of ``kernels.c``: built once with the machine's C compiler, called through ctypes.

The fused GRU and Elman kernels (``rnnkit.layers.fast.fused``) spend their time in two places: the
matrix multiplies, which go to oneDNN, and the elementwise gate math between them, which as
PyTorch ops is 5-10 kernels per step, each a pass over memory plus its dispatch. ``kernels.c``
does one step's gate math in one vectorised loop. It is compiled the first time it is needed
(about a second; ``make`` does it at install time) into a cache directory, keyed by the
source, the compiler and the flags, and loaded with ``ctypes``. No PyTorch headers are
involved, so the build needs only a C compiler.

Where there is no compiler, the build fails, or the tensors are not float32 on the CPU, the
fused kernels run the same steps as PyTorch ops; ``use_native(False)`` forces that (tests
compare the two). ``RNNKIT_NATIVE=0`` switches the kernels off, ``CC`` picks the compiler,
``RNNKIT_CACHE`` moves the cache (rnnkit's one cache directory, ``rnnkit/utils/cache.py``). ``python -c "import
rnnkit.layers.fast.native as n; n.main()"``
(what ``make`` runs) builds the kernels and says where they are, or why they could not be built.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.utils.cache import cache_dir as rnnkit_cache
from rnnkit.utils.machine import cpu
from rnnkit.utils.switch import Switch

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels.c")
# -fno-trapping-math lets the compiler turn the clamps of exp() into vector blends: nothing here reads FP exceptions
FLAGS = ["-O3", "-fno-trapping-math", "-fno-math-errno", "-fPIC", "-shared"]
ARCH_FLAGS = [["-march=native"], []]  # the first that compiles is used

_i64, _ptr = ctypes.c_int64, ctypes.c_void_p
_SIGNATURES = {
    "gru_forward_step": [_i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr],
    "gru_backward_step": [_i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr],
    "elman_forward_step": [_i64, _ptr, _ptr, ctypes.c_int, _ptr],
    "elman_backward_step": [_i64, _ptr, _ptr, _ptr, ctypes.c_int, _ptr],
    "lstm_step": [_i64, _i64, _ptr, _ptr, _ptr, _i64],
    "gru_step": [_i64, _i64, _ptr, _ptr, _ptr, _i64],
}


class NativeBuildError(RuntimeError):
    """The C compiler is missing or failed; the message carries its output."""


def cache_dir() -> Path:
    return rnnkit_cache("native")


def compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


def cpu_identity() -> str:
    """What the CPU can run: its feature flags on Linux. ``-march=native`` code built on one CPU may
    not run on another, and a home directory (so the cache) can be shared by different machines."""
    flags = cpu().flags
    return "flags: " + " ".join(sorted(flags)) if flags else platform.processor()


def library_path(cc: str, arch: list[str]) -> Path:
    """Where the library built from this source, with this compiler and flags, for this CPU, lives."""
    key = hashlib.sha256("\0".join([SOURCE.read_text(), cc, *FLAGS, *arch, platform.machine(), platform.system(),
                                    cpu_identity()]).encode()).hexdigest()[:16]
    return cache_dir() / f"kernels-{key}{'.dll' if sys.platform == 'win32' else '.so'}"


def build() -> Path:
    """Compile ``kernels.c`` unless an up-to-date library is already cached; returns its path.

    The library is written under a temporary name and renamed into place, so a crash or a
    second process building at the same time never leaves a half-written file behind.
    """
    cc = compiler()
    if cc is None:
        raise NativeBuildError("no C compiler found (looked for $CC, cc, gcc, clang); install one, e.g. `apt install "
                               "gcc`")
    errors = []
    for arch in ARCH_FLAGS:
        path = library_path(cc, arch)
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
        os.close(fd)
        try:
            run = subprocess.run([cc, *FLAGS, *arch, str(SOURCE), "-o", tmp], capture_output=True, text=True,
                                 timeout=120)
            if run.returncode == 0:
                os.replace(tmp, path)
                return path
            errors.append(f"{cc} {' '.join(FLAGS + arch)}: {run.stderr.strip()}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise NativeBuildError("compiling rnnkit/layers/kernels.c failed:\n" + "\n".join(errors))


class Kernels:
    """Typed wrappers around the library's functions. Every tensor must be contiguous float32 on the CPU."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        for name, argtypes in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = argtypes, None
        self._lib = lib

    def gru_forward_step(self, gi: Tensor, gh: Tensor, gh_n: Tensor, h_prev: Tensor, h: Tensor) -> None:
        """In place: gi (b, 3H) becomes r, z, n; gh_n (b, H) receives gh's n block; h (b, H) the new state."""
        b, H = h.shape
        self._lib.gru_forward_step(b, H, gi.data_ptr(), gh.data_ptr(), gh_n.data_ptr(), h_prev.data_ptr(), h.data_ptr())

    def gru_backward_step(
        self, dh: Tensor, d_out: Tensor | None, gates: Tensor, gh_n: Tensor, h_prev: Tensor, e_h: Tensor, e_i: Tensor
    ) -> None:
        """e_h (b, 3H) = [dg_hn, dr, dz], e_i (b, 3H) = [dr, dz, dn]; dh (b, H) becomes (dh + d_out) * z."""
        b, H = dh.shape
        self._lib.gru_backward_step(
            b, H, dh.data_ptr(), None if d_out is None else d_out.data_ptr(), gates.data_ptr(),
            gh_n.data_ptr(), h_prev.data_ptr(), e_h.data_ptr(), e_i.data_ptr(),
        )

    def elman_forward_step(self, a: Tensor, g: Tensor, relu: bool, h: Tensor) -> None:
        """h = tanh(a + g), or relu(a + g)."""
        self._lib.elman_forward_step(a.numel(), a.data_ptr(), g.data_ptr(), int(relu), h.data_ptr())

    def elman_backward_step(self, dh: Tensor, d_out: Tensor | None, h: Tensor, relu: bool, e: Tensor) -> None:
        """e = (dh + d_out) * act'(a), from the forward's outputs h."""
        self._lib.elman_backward_step(dh.numel(), dh.data_ptr(), None if d_out is None else d_out.data_ptr(),
                                      h.data_ptr(), int(relu), e.data_ptr())

    def lstm_step(self, gates: Tensor, c: Tensor, h: Tensor) -> None:
        """Stepper's LSTM gate math: gates (b, 4H) in block order i, f, o, g; c (b, H) in place; h (b, H), rows may be
        strided."""
        b, H = c.shape
        self._lib.lstm_step(b, H, gates.data_ptr(), c.data_ptr(), h.data_ptr(), h.stride(0))

    def gru_step(self, gi: Tensor, gh: Tensor, h: Tensor) -> None:
        """Stepper's GRU gate math: gi, gh (b, 3H) in blocks r, z, n; h (b, H) holds h_prev and receives h, rows may be
        strided."""
        b, H = h.shape
        self._lib.gru_step(b, H, gi.data_ptr(), gh.data_ptr(), h.data_ptr(), h.stride(0))


_loaded: Kernels | None = None
_failure: str | None = None
_SWITCH = Switch(os.environ.get("RNNKIT_NATIVE", "1") != "0")


def load() -> Kernels:
    """Build (if needed) and load the kernels; raises ``NativeBuildError`` or ``OSError`` if that is impossible."""
    global _loaded
    if _loaded is None:
        _loaded = Kernels(ctypes.CDLL(str(build())))
    return _loaded


def kernels_for(t: Tensor) -> Kernels | None:
    """The kernels, when they apply to tensors like ``t`` (float32 on the CPU) and could be built; else None."""
    global _failure
    if not _SWITCH.on or _failure is not None or t.dtype != torch.float32 or t.device.type != "cpu":
        return None
    try:
        return load()
    except (NativeBuildError, OSError, subprocess.SubprocessError) as e:
        _failure = str(e)
        log.info("rnnkit: the C step kernels are unavailable, the fused kernels run as PyTorch ops: %s", e)
        return None


def switched_on() -> bool:
    """False when ``RNNKIT_NATIVE=0`` (or ``use_native(False)``) keeps the kernels off."""
    return _SWITCH.on


def use_native(enabled: bool) -> AbstractContextManager[None]:
    """Switch the compiled kernels on or off inside a ``with`` block (tests compare both ways)."""
    return _SWITCH.set_to(enabled)


def main() -> int:
    try:
        path = load()._lib._name
    except (NativeBuildError, OSError, subprocess.SubprocessError) as e:
        print(f"rnnkit: the C step kernels could not be built; the fused GRU/RNN kernels will run as PyTorch ops.\n{e}")
        return 0  # not an install failure: everything works without them
    print(f"rnnkit: C step kernels ready: {path}")
    return 0

