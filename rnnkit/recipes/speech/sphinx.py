"""The CMU Sphinx front end: ``sphinx_fe`` (Debian ``sphinxbase-utils``) run on our audio, and its MFC files.

The TIDIGITS utterances that Debian ``pocketsphinx-testdata`` ships are cepstra only, made by
sphinxbase's front end with the settings of the acoustic model beside them (``hmm/feat.params``).
To test on them a model must be trained on the very same features, so this module does not
reimplement that front end: it fetches the program itself (``apt-get download`` of
``sphinxbase-utils``, ``libsphinxbase3`` and the BLAS/LAPACK/gfortran libraries it links against,
unpacked into the cache) and runs it, with every front-end setting of ``feat.params`` passed on
its command line. With those settings (sphinxbase's ``fe_sigproc.c``):

    x'[n]  = x[n] + (1 with probability 1/4, else 0)                     (-dither yes: integer samples)
    y[n]   = x'[n] - 0.97 x'[n-1],  x'[-1] = 0                           pre-emphasis over the whole utterance
    frame t: y[160 t .. 160 t + 399] (25 ms every 10 ms at 16 kHz), minus its mean (-remove_dc yes),
             times a Hamming window 0.54 - 0.46 cos(2 pi n / 399), zero-padded to 512 points
    P[k]   = |FFT(frame)|^2,  E[m] = sum_k M[m, k] P[k]                   20 triangles evenly spaced in mel from
             1 to 4000 Hz, not rounded to FFT bins, each of unit area (-nfilt 20 -round_filters no)
    c[i]   = sqrt(2/20) sum_m log(E[m] + 1e-4) cos(pi i (m + 1/2) / 20),  c[0] with sqrt(1/20)   (-transform dct)
    13 cepstra per frame, no liftering

Settings feat.params does not name take the program's defaults, with two exceptions: 5prealpha
added a voice-activity detector and a spectral noise subtraction, on by default, that the front
end which made the shipped files did not have (``-remove_silence no -remove_noise no``), and the
random dither gets a fixed seed so features are reproducible.

How exact this is: the program's output equals a NumPy reference of the steps above to float32
precision (tests/recipes/speech/test_sphinx_front_end.py). The shipped cepstra themselves cannot be
recomputed, since their audio (LDC's TIDIGITS) is not in the package; what can be checked is that
pocketsphinx 5prealpha decodes all 31 of them as transcribed, and decodes this program's cepstra of
the one TIDIGITS recording the package does hold (``dhd.2934z.raw``, 16 kHz) right too, at the
same acoustic score per frame (docs/results.md).

MFC files: a 4-byte integer, the number of floats that follow, then that many float32, frame after
frame; the byte order is whichever makes the count agree with the file's length (Sphinx writes
the machine's, and reads either).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.recipes.data_cache import archive_files, cache_dir, debian_archive

# the program and what it links against (ldd sphinx_fe; libsphinxbase.so.3 needs libblas.so.3 and liblapack.so.3)
PACKAGES = ("sphinxbase-utils", "libsphinxbase3", "libblas3", "liblapack3", "libgfortran5", "libquadmath0")
HINT = ("The Sphinx front end comes from Debian: `apt-get download " + " ".join(PACKAGES) + "` must work on this "
        "machine (run `apt-get update` first if the package lists are empty).")
# feat.params keys that are sphinx_fe's; the others (-feat, -agc, -cmn, -cmninit, -varnorm) belong to the
# decoder's feature stage, whose role here (per-utterance normalisation, deltas) is played by our own code
FRONT_END_KEYS = ("samprate", "nfft", "alpha", "dither", "lowerf", "upperf", "nfilt", "transform", "lifter",
                  "round_filters", "remove_dc", "wlen", "frate", "ncep", "unit_area", "doublebw", "warp_type",
                  "warp_params")
RATE = 16000  # Hz: sphinx_fe's default, which feat.params leaves in place (the model's raw test audio is 16 kHz)


class MfcFormatError(ValueError):
    """An MFC file whose length does not match its header."""


def read_mfc(raw: bytes, name: str, ncep: int = 13) -> np.ndarray:
    """The (T, ncep) cepstra of an MFC file's bytes, big- or little-endian (told apart by the header)."""
    if len(raw) < 4:
        raise MfcFormatError(f"{name}: {len(raw)} bytes is too short for an MFC file (a 4-byte count, then floats).")
    for order in (">", "<"):
        count = int(np.frombuffer(raw[:4], dtype=f"{order}i4")[0])
        if count >= 0 and 4 + 4 * count == len(raw):
            if count % ncep:
                raise MfcFormatError(f"{name}: {count} floats is not a whole number of {ncep}-cepstrum frames; "
                                     f"was it written with another -ncep?")
            return np.frombuffer(raw[4:], dtype=f"{order}f4").astype(np.float32).reshape(-1, ncep)
    raise MfcFormatError(f"{name}: the header counts neither {(len(raw) - 4) // 4} floats in big- nor in "
                         f"little-endian order ({len(raw)} bytes); it is not a Sphinx MFC file.")


def write_mfc(cepstra: np.ndarray, big_endian: bool = True) -> bytes:
    """The bytes of an MFC file holding (T, ncep) ``cepstra``."""
    order = ">" if big_endian else "<"
    flat = np.ascontiguousarray(cepstra, dtype=f"{order}f4").reshape(-1)
    return np.array([flat.size], dtype=f"{order}i4").tobytes() + flat.tobytes()


def parse_params(text: str, name: str) -> dict[str, str]:
    """A feat.params file (``-key value`` per line) as {key: value}."""
    params: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith("-"):
            raise ValueError(f"{name}, line {n}: expected '-key value', got {line!r}.")
        params[parts[0][1:]] = parts[1]
    return params


@dataclass(frozen=True)
class FrontEnd:
    """The sphinx_fe program, its library folders, its Debian version, and the settings it runs with."""

    program: Path
    library_path: str  # for LD_LIBRARY_PATH
    version: str  # the sphinxbase-utils .deb's version
    params: tuple[tuple[str, str], ...]  # (key, value) pairs passed as -key value

    def arguments(self) -> list[str]:
        """The settings as sphinx_fe's command-line flags: ``["-key", "value", ...]`` in the order of ``params``."""
        return [a for key, value in self.params for a in (f"-{key}", value)]


def _install(deb: Path, root: Path) -> None:
    """Unpack a .deb's files under ``root`` and give each versioned shared library its soname link."""
    for member, body in archive_files(deb, "*").items():
        path = root / member.lstrip("./")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        if "/bin/" in member:
            path.chmod(0o755)
    for lib in root.rglob("*.so.*"):
        match = re.fullmatch(r"(.+\.so\.\d+)(\.\d+)+", lib.name)  # libblas.so.3.11.0 -> libblas.so.3
        link = lib.with_name(match.group(1)) if match else None
        if link is not None and not link.exists():
            link.symlink_to(lib.name)


def front_end(params: dict[str, str], seed: int = 0) -> FrontEnd:
    """sphinx_fe from Debian (fetched and unpacked into the cache once), set up with ``params``' front-end keys."""
    debs = [debian_archive(p, HINT) for p in PACKAGES]
    version = debs[0].name.split("_")[1]
    root = cache_dir() / "sphinxbase" / version
    program = root / "usr" / "bin" / "sphinx_fe"
    if not program.is_file():
        tmp = Path(tempfile.mkdtemp(prefix="sphinxbase-", dir=cache_dir()))
        for deb in debs:
            _install(deb, tmp)
        if not (tmp / "usr" / "bin" / "sphinx_fe").is_file():
            raise FileNotFoundError(f"{debs[0].name} has no usr/bin/sphinx_fe. {HINT}")
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    folders = sorted({str(p.parent) for p in root.rglob("*.so.*")})
    chosen = [(k, params[k]) for k in FRONT_END_KEYS if k in params]
    fixed = [("remove_noise", "no"), ("remove_silence", "no"), ("seed", str(seed))]
    return FrontEnd(program, os.pathsep.join(folders), version, tuple(chosen + fixed))


def run(fe: FrontEnd, audio: Sequence[np.ndarray], rate: int = RATE, chunk: int = 1000) -> list[np.ndarray]:
    """(T_n, 13) cepstra of each float waveform in [-1, 1] at ``rate`` Hz: one sphinx_fe process per ``chunk``
    waveforms (the dither's seed is the front end's plus the chunk's number, so a rerun makes the same cepstra)."""
    settings = dict(fe.params)
    if settings.get("samprate", str(RATE)).split(".")[0] != str(rate):
        raise ValueError(f"sphinx front end: audio at {rate} Hz, but the settings say "
                         f"-samprate {settings['samprate']}.")
    out: list[np.ndarray] = []
    for n, first in enumerate(range(0, len(audio), chunk)):
        seed = int(settings.get("seed", "0")) + n
        params = tuple((k, str(seed) if k == "seed" else v) for k, v in fe.params)
        out += _run_chunk(FrontEnd(fe.program, fe.library_path, fe.version, params), audio[first:first + chunk], rate)
    return out


def _run_chunk(fe: FrontEnd, audio: Sequence[np.ndarray], rate: int) -> list[np.ndarray]:
    window = round(float(dict(fe.params).get("wlen", "0.025625")) * rate)
    with tempfile.TemporaryDirectory(prefix="sphinx-fe-") as tmp:
        folder = Path(tmp)
        (folder / "in").mkdir()
        names = [f"{i:06d}" for i in range(len(audio))]
        for name, samples in zip(names, audio, strict=True):
            pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
            if pcm.size < window:  # shorter than one window: pad with silence so it still gives a frame
                pcm = np.pad(pcm, (0, window - pcm.size))
            (folder / "in" / f"{name}.raw").write_bytes(pcm.tobytes())
        (folder / "files.ctl").write_text("".join(f"{n}\n" for n in names))
        cmd = [str(fe.program), *fe.arguments(), "-samprate", str(rate), "-raw", "yes", "-input_endian", "little",
               "-mach_endian", "little", "-c", str(folder / "files.ctl"), "-di", str(folder / "in"), "-ei", "raw",
               "-do", str(folder / "out"), "-eo", "mfc"]
        libraries = [fe.library_path, os.environ.get("LD_LIBRARY_PATH", "")]
        env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(p for p in libraries if p)}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"sphinx_fe exited with {proc.returncode}: {tail} (command: {' '.join(cmd)})")
        return [read_mfc((folder / "out" / f"{n}.mfc").read_bytes(), f"sphinx_fe output {n}.mfc") for n in names]
