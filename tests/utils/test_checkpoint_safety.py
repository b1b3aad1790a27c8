"""Checkpoints cannot run code, survive a failed write, and fail clearly when damaged.

The malicious file is built here the way an attacker would: an object whose ``__reduce__``
tells pickle to call ``os.system`` while the file is read. Every command and function that
loads a checkpoint is handed it; the proof that nothing ran is that the marker file the
payload would create does not exist afterwards.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import os
import random
import shutil
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.lm import load_model, sample
from rnnkit.lm.checkpoint import read_checkpoint
from rnnkit.utils import checkpoint as ckpt
from rnnkit.utils.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    atomic_save,
    convert_checkpoint,
    load_checkpoint,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
OLD_CHARLM = FIXTURES / "checkpoints" / "charlm-2026-11.pt"
OLD_DIGITS = FIXTURES / "checkpoints" / "digits-2026-11.pt"


class Payload:
    """Unpickling this calls os.system: what a hostile .pt file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch '{self.marker}'",)


def hostile_run(tmp_path: Path, **entries: Any) -> tuple[Path, Path]:
    """A run directory whose best.pt and last.pt carry the payload beside plausible entries."""
    marker = tmp_path / "payload-ran"
    run = tmp_path / "run"
    run.mkdir()
    contents = {"format": "rnnkit.charlm/1", "task": "digits", "payload": Payload(marker), **entries}
    for name in ("best.pt", "last.pt"):
        torch.save(contents, run / name)
    return run, marker


def test_the_payload_is_real(tmp_path: Path):
    # the control: an unrestricted load of the same file does run the command
    run, marker = hostile_run(tmp_path)
    torch.load(run / "best.pt", weights_only=False)
    assert marker.exists()


COMMANDS = {
    "sample": ["sample", "{run}", "--length", "5"],
    "eval": ["eval", "{run}", "--text", "{text}"],
    "inspect": ["inspect", "{run}", "--text", "hello", "--out", "{tmp}/inspect"],
    "predict": ["predict", "{run}", "some input"],
    "generate": ["generate", "{run}"],
    "translate": ["translate", "{run}", "ein Satz"],
    "resume": ["train", "charlm", "--resume", "{run}", "--no-progress", "--max-steps", "3"],
    "serve": ["serve", "{run}", "--port", "0"],
    "export": ["export", "{run}", "--out", "{tmp}/model.onnx"],
    "convert without --trust": ["convert-checkpoint", "{run}", "{tmp}/new.pt"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_runs_the_payload(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    run, marker = hostile_run(tmp_path)
    text = tmp_path / "text.txt"
    text.write_text("hello world\n" * 20)
    argv = [a.format(run=run, text=text, tmp=tmp_path) for a in COMMANDS[command]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), f"{command}: the payload ran"
    assert "error:" in err
    assert "Traceback" not in err
    if command != "convert without --trust":
        assert any(f"{run / name} was not loaded" in err for name in ("best.pt", "last.pt"))
        assert "it asks for posix.system" in err
        assert "convert-checkpoint" in err
        assert "--trust" in err
    else:
        assert "--trust" in err


@pytest.mark.parametrize("loader", [load_checkpoint, read_checkpoint, load_model])
def test_no_loading_function_runs_the_payload(loader: Any, tmp_path: Path):
    run, marker = hostile_run(tmp_path)
    with pytest.raises(CheckpointError, match="was not loaded"):
        loader(run / "last.pt")
    assert not marker.exists()


def test_a_legacy_pickle_is_refused_before_it_is_read(tmp_path: Path):
    # torch.save's pre-zip format is a bare pickle; rnnkit never wrote it, so it is not read at all
    marker = tmp_path / "payload-ran"
    path = tmp_path / "old.pt"
    torch.save({"payload": Payload(marker)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="bare pickle"):
        load_checkpoint(path)
    assert not marker.exists()


# ---- checkpoints written before this change ------------------------------------------------


def test_an_old_charlm_checkpoint_still_loads_and_samples():
    model, vocab, meta = load_model(OLD_CHARLM)
    assert meta["step"] == 4
    assert str(meta["torch_version"]).startswith("2.")
    text = sample(model, "the ", length=20, generator=torch.Generator().manual_seed(0))
    assert len(text) == 20
    assert set(text) <= set(vocab.to_list())


def test_an_old_recipe_checkpoint_still_predicts(capsys: pytest.CaptureFixture[str]):
    assert main(["predict", str(OLD_DIGITS), str(FIXTURES / "recipes" / "digits4x4.csv")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 12
    assert all("(true: " in line for line in lines)


def test_new_checkpoints_store_the_torch_version_as_a_plain_string(tmp_path: Path):
    model, vocab, _ = load_model(OLD_CHARLM)
    from rnnkit.lm.checkpoint import make_checkpoint

    atomic_save(make_checkpoint(model, vocab, step=0), tmp_path / "new.pt")
    with torch.serialization.safe_globals([]):  # nothing beyond torch's own safe set
        raw = torch.load(tmp_path / "new.pt", weights_only=True)
    assert type(raw["torch_version"]) is str


@dataclasses.dataclass
class _OldConfig:
    hidden_size: int
    where: Path


def test_convert_checkpoint_needs_trust_and_then_writes_plain_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    old = tmp_path / "old.pt"
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    torch.save({"model": weights, "config": _OldConfig(8, Path("/data")), "metrics": {"loss": np.float64(1.5)},
                "history": np.array([3.0, 2.0]), "shape": (2, 3)}, old)
    with pytest.raises(CheckpointError, match="it asks for"):
        load_checkpoint(old)
    with pytest.raises(ValueError, match="--trust"):
        convert_checkpoint(old, tmp_path / "new.pt", trust=False)
    assert main(["convert-checkpoint", str(old), str(tmp_path / "new.pt"), "--trust"]) == 0
    assert "loads with weights_only=True" in capsys.readouterr().out
    new = load_checkpoint(tmp_path / "new.pt")
    torch.testing.assert_close(new["model"]["w"], weights["w"])
    assert new["config"] == {"hidden_size": 8, "where": "/data"}
    assert new["metrics"] == {"loss": 1.5}
    assert type(new["metrics"]["loss"]) is float
    torch.testing.assert_close(new["history"], torch.tensor([3.0, 2.0], dtype=torch.float64))
    assert new["shape"] == (2, 3)


@pytest.mark.parametrize(("data", "words"), [
    (b"", "the file is empty"),  # was EOFError: Ran out of input
    (bytes(range(256)) * 4, "UnpicklingError"),  # random bytes: was a bare _pickle.UnpicklingError
    ("cut", "it was cut short or damaged"),  # the first 1,000 bytes of a real one: was PytorchStreamReader's error
])
def test_convert_checkpoint_names_a_damaged_file(tmp_path: Path, data: bytes | str, words: str):
    old = tmp_path / "old.pt"
    if data == "cut":
        torch.save({"model": {"w": torch.zeros(64, 64)}}, old)
        data = old.read_bytes()[:1000]
    assert isinstance(data, bytes)
    old.write_bytes(data)
    with pytest.raises(CheckpointError, match=f"{old} cannot be read") as info:
        convert_checkpoint(old, tmp_path / "new.pt", trust=True)
    assert words in str(info.value)
    assert not (tmp_path / "new.pt").exists()


def test_a_char_lm_given_where_a_recipe_model_is_expected_says_what_takes_it(tmp_path: Path):
    checkpoint = {"format": ckpt.FORMAT, "version": ckpt.VERSION, "kind": "charlm"}
    with pytest.raises(CheckpointError, match=r"holds a 'charlm' model; expected 'spam'\. .*`rnnkit sample`"):
        ckpt.check_kind(checkpoint, tmp_path / "best.pt", ("spam",))


def test_plain_names_where_an_unstorable_object_sits():
    with pytest.raises(TypeError, match=r"checkpoint\['metrics'\]\['when'\]: a builtins.object"):
        ckpt.plain({"metrics": {"when": object()}})


# ---- damaged files -------------------------------------------------------------------------


def test_truncated_checkpoints_name_the_file(tmp_path: Path):
    data = OLD_CHARLM.read_bytes()
    rng = random.Random(0)
    cuts = sorted({0, 1, 2, 4, 30, 100, len(data) - 1, len(data) - 22} | {rng.randrange(len(data)) for _ in range(150)})
    for cut in cuts:
        path = tmp_path / f"cut{cut}.pt"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value), cut


def test_corrupted_bytes_either_load_or_name_the_file(tmp_path: Path):
    # a flipped byte inside tensor data cannot be noticed (torch keeps no checksum of it), but nothing
    # may escape as another exception from deep inside torch.load
    data = bytearray(OLD_CHARLM.read_bytes())
    rng = random.Random(1)
    refused = 0
    for k in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path = tmp_path / f"flip{k}.pt"
        path.write_bytes(bytes(damaged))
        try:
            load_checkpoint(path)
        except CheckpointError as e:
            assert str(path) in str(e)
            refused += 1
    assert refused > 0


def test_a_file_that_is_not_a_checkpoint(tmp_path: Path):
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes.pt is not a checkpoint: it does not start like a zip"):
        load_checkpoint(tmp_path / "notes.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="the file is empty"):
        load_checkpoint(tmp_path / "empty.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a dict, got list"):
        load_checkpoint(tmp_path / "list.pt")
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(FileNotFoundError,
                       match="no checkpoint in .*empty-run: a run directory holds best.pt or last.pt"):
        load_checkpoint(tmp_path / "empty-run")


# ---- writing -------------------------------------------------------------------------------


def _disk_fills_after(limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save writes ``limit`` bytes, then the disk is full."""
    real_save = torch.save

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(obj, f, *args, **kwargs)
        f.truncate(limit)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.torch, "save", save)


def test_a_full_disk_leaves_the_previous_checkpoint_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "last.pt"
    atomic_save({"step": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()
    _disk_fills_after(100, monkeypatch)
    with pytest.raises(CheckpointWriteError,
                       match=r"could not write checkpoint .*last.pt: the disk is full; the previous checkpoint there "
                             r"is intact"):
        atomic_save({"step": 2, "w": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left behind


def test_a_directory_in_the_way_is_not_called_a_full_disk(tmp_path: Path):
    (tmp_path / "new.pt").mkdir()  # convert-checkpoint OLD DIR said "Free some space ... and resume"
    with pytest.raises(CheckpointWriteError, match=r"new.pt: Is a directory; .*Choose another path and try again"):
        atomic_save({"step": 1}, tmp_path / "new.pt")


def test_training_stops_with_a_clear_message_when_the_disk_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]):
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    run = tmp_path / "run"
    argv = ["train", "charlm", "--text", str(text), "--out", str(run), "--hidden-size", "8", "--embedding-size", "4",
            "--num-layers", "1", "--batch-size", "2", "--bptt", "8", "--eval-every", "2", "--max-steps", "6",
            "--no-progress"]
    saves = []
    real = ckpt.atomic_save

    def save_until_full(obj: Any, path: Any) -> Path:
        saves.append(Path(path).name)
        if len(saves) > 2:  # step 2 wrote last.pt and best.pt; the disk is full from then on
            _disk_fills_after(10, monkeypatch)
        return real(obj, path)

    monkeypatch.setattr(importlib.import_module("rnnkit.lm.train"), "atomic_save", save_until_full)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "the disk is full; the previous checkpoint there is intact" in err
    assert "Traceback" not in err
    assert load_checkpoint(run / "last.pt")["step"] == 2


def test_the_rename_is_made_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(ckpt.os, "fsync", fsync)
    atomic_save({"x": 1}, tmp_path / "a.pt")
    assert synced == ["file", "dir"]  # the data first, then the directory entry that the rename changed


def test_save_creates_missing_directories_and_leaves_no_temporary(tmp_path: Path):
    atomic_save({"x": torch.ones(2)}, tmp_path / "a" / "b" / "c.pt")
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["c.pt"]
    shutil.rmtree(tmp_path / "a")


def test_temporaries_of_a_killed_writer_are_cleared_by_the_next_save(tmp_path: Path):
    stale = tmp_path / ".last.pt.abc123.tmp"  # what SIGKILL during a write leaves behind
    stale.write_bytes(b"PK half a checkpoint")
    other = tmp_path / ".best.pt.abc123.tmp"  # another file's temporary is not ours to remove
    other.write_bytes(b"PK")
    atomic_save({"x": 1}, tmp_path / "last.pt")
    assert not stale.exists()
    assert other.exists()
