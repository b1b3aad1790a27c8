"""Speech synthesisers as voices: Debian's ``espeak-ng`` (formant synthesis, ~100 voice variants,
several English accents) and ``flite`` (CMU Flite: 5 US English voices, three of them, awb, rms
and slt, built from recordings of real speakers).

The programs on PATH are used if installed. Otherwise the .deb files are fetched into rnnkit's
cache with ``apt-get download`` (``data_cache.debian_archive``), unpacked with ``dpkg -x`` beside
them and run from there with ``LD_LIBRARY_PATH`` pointing at their libraries. A ``Take`` is one
rendering: a voice, a text, a speed and a pitch (and, for espeak-ng, a gap between words);
``render`` runs them two at a time and returns float samples at the rate asked for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.recipes.data_cache import cache_dir, debian_archive
from rnnkit.recipes.speech.audio import read_wav

ESPEAK_DEBS = ("espeak-ng", "libespeak-ng1", "espeak-ng-data", "libpcaudio0", "libsonic0")
FLITE_DEBS = ("flite", "libflite1")
INSTALL = ("Install the synthesisers with `apt-get install espeak-ng flite`, or let rnnkit fetch them (needs `apt-get "
           "download` and `dpkg`).")
# espeak-ng's English accents
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan")
FLITE_VOICES = {"kal": "m", "kal16": "m", "awb": "m", "rms": "m", "slt": "f"}  # and each one's sex, for its pitch range
LIBDIR = "usr/lib/x86_64-linux-gnu"


@dataclass(frozen=True)
class Engine:
    """How to run one synthesiser: its program, extra arguments, and environment additions."""

    program: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    data: str = ""  # espeak-ng's data folder (its voice variants are listed from there)


@dataclass(frozen=True)
class Take:
    """One utterance to synthesise. ``voice``: "espeak:<variant>" or "flite:<name>"."""

    voice: str
    text: str
    speed: int  # words per minute (espeak-ng's -s; flite's duration stretch is 175/speed)
    pitch: int  # espeak-ng: 0-99 (-p); flite: mean F0 in Hz
    accent: str = "en-us"  # espeak-ng only
    gap: int = 0  # espeak-ng only: extra pause between words, in 10 ms


def _unpack(debs: Sequence[str]) -> Path:
    """Unpack the .debs into ``<cache>/speech/root`` (once) and return that folder."""
    root = cache_dir() / "speech" / "root"
    root.mkdir(parents=True, exist_ok=True)
    for name in debs:
        marker = root / ".unpacked" / name
        if marker.exists():
            continue
        deb = debian_archive(name, hint=INSTALL)
        if shutil.which("dpkg") is None:
            raise FileNotFoundError(f"unpacking {deb.name} needs `dpkg`, which this machine does not have. {INSTALL}")
        proc = subprocess.run(["dpkg", "-x", str(deb), str(root)], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise FileNotFoundError(f"`dpkg -x {deb} {root}` failed: {proc.stderr.strip()} {INSTALL}")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return root


def espeak() -> Engine:
    """espeak-ng: the installed program, or the Debian packages unpacked into the cache."""
    program = shutil.which("espeak-ng")
    if program is not None:
        data = next((p for p in ("/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/share/espeak-ng-data")
                     if Path(p).is_dir()), "")
        return Engine(program, data=data)
    root = _unpack(ESPEAK_DEBS)
    data = str(root / LIBDIR / "espeak-ng-data")
    return Engine(str(root / "usr/bin/espeak-ng"), ("--path=" + data,), (("LD_LIBRARY_PATH", str(root / LIBDIR)),),
                  data)


def flite() -> Engine:
    """flite: the installed program, or the Debian packages unpacked into the cache."""
    program = shutil.which("flite")
    if program is not None:
        return Engine(program)
    root = _unpack(FLITE_DEBS)
    return Engine(str(root / "usr/bin/flite"), (), (("LD_LIBRARY_PATH", str(root / LIBDIR)),))


def espeak_variants(engine: Engine) -> list[str]:
    """The voice variants espeak-ng ships (m1..m8, f1..f5, klatt, whisper, croak, ...), sorted."""
    folder = Path(engine.data) / "voices" / "!v"
    if not folder.is_dir():
        raise FileNotFoundError(f"espeak-ng's voice variants are not in {folder}. {INSTALL}")
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def command(take: Take, engines: dict[str, Engine], out: Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that synthesise ``take`` into the WAV file ``out``."""
    kind, _, name = take.voice.partition(":")
    if kind not in ("espeak", "flite"):
        raise ValueError(f"synth: unknown voice {take.voice!r}; voices are 'espeak:<variant>' or 'flite:<name>'.")
    engine = engines[kind]
    env = {**os.environ, **dict(engine.env)}
    if kind == "espeak":
        cmd = [engine.program, *engine.args, "-v", f"{take.accent}+{name}", "-s", str(take.speed), "-p",
               str(take.pitch), "-g", str(take.gap), "-w", str(out), take.text]
    else:
        cmd = [engine.program, *engine.args, "-voice", name, "--setf", f"duration_stretch={175 / take.speed:.3f}",
               "--setf", f"int_f0_target_mean={take.pitch}", "-t", take.text, "-o", str(out)]
    return cmd, env


def render_one(take: Take, engines: dict[str, Engine], rate: int, folder: Path) -> np.ndarray:
    """Synthesise one take; float32 samples at ``rate``."""
    out = folder / f"{abs(hash(take))}.wav"
    cmd, env = command(take, engines, out)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"synth: `{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    samples = read_wav(out, rate)
    out.unlink()
    return samples


def render(takes: Sequence[Take], engines: dict[str, Engine], rate: int, workers: int = 2) -> list[np.ndarray]:
    """Synthesise every take (``workers`` processes at a time), in order."""
    with tempfile.TemporaryDirectory(prefix="rnnkit-synth-") as tmp, ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda t: render_one(t, engines, rate, Path(tmp)), takes))
