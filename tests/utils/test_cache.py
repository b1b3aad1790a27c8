"""One cache directory and one environment variable for everything rnnkit caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.layers.fast import native
from rnnkit.recipes import data_cache
from rnnkit.recipes.music import data as music_data
from rnnkit.utils.cache import cache_dir


def test_every_cache_user_follows_rnnkit_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    assert native.cache_dir() == tmp_path / "native"
    assert data_cache.cache_dir() == tmp_path
    assert music_data.cache_dir() == tmp_path / "music"


def test_the_default_follows_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("RNNKIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("pypi") == tmp_path / "rnnkit" / "pypi"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "rnnkit"
