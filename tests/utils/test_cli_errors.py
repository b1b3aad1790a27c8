"""A path the system refuses is one line naming the path and what to do, not a traceback (``rnnkit.cli.describe``)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from rnnkit.cli import describe, main

TINY = ["--max-steps", "1", "--batch-size", "2", "--bptt", "8", "--hidden-size", "8", "--embedding-size", "4",
        "--no-progress"]


def _text(tmp_path: Path) -> Path:
    text = tmp_path / "a.txt"
    text.write_text("hello there, the cat sat on the mat. " * 40)
    return text


def test_a_directory_given_as_the_text_to_score_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "charlm", "--text", str(_text(tmp_path)), "--out", str(tmp_path / "run"), *TINY]) == 0
    # before: IsADirectoryError with its traceback, from deep in the text reader
    assert main(["eval", str(tmp_path / "run"), "--text", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == f"rnnkit eval: error: {tmp_path}: it is a directory; give a file"


@pytest.mark.parametrize(("out", "why"), [
    ("a.txt", "a file of that name is in the way of a directory"),  # before: FileExistsError from pathlib's mkdir
    ("a.txt/run", "part of the path is a file, where a directory is needed"),  # before: NotADirectoryError
])
def test_an_output_folder_blocked_by_a_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str,
                                                      why: str) -> None:
    assert main(["train", "charlm", "--text", str(_text(tmp_path)), "--out", str(tmp_path / out), *TINY]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnkit train: error: ")
    assert why in err
    assert "Traceback" not in err


def test_describe_keeps_a_message_without_a_path_and_names_an_unlisted_errno_by_its_own_words() -> None:
    assert describe(FileNotFoundError("no corpus at x; pass --text")) == "no corpus at x; pass --text"
    assert describe(OSError(errno.EIO, "Input/output error", "/dev/sdz")) == "/dev/sdz: Input/output error"


def test_eval_says_when_the_training_text_is_gone_or_changed(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    text, run = _text(tmp_path), str(tmp_path / "run")
    assert main(["train", "charlm", "--text", str(text), "--out", run, *TINY]) == 0
    assert main(["eval", run, "--bptt", "0"]) == 2  # was a ZeroDivisionError
    assert "--bptt must be at least 1, got 0" in capsys.readouterr().err
    text.write_text(text.read_text()[:1000])  # before: the changed file's "validation split" was scored as if the same
    assert main(["eval", run]) == 2
    assert "has 1,000 characters now, but" in capsys.readouterr().err
    text.unlink()  # before: a bare "[Errno 2] No such file or directory" naming no checkpoint and no way out
    assert main(["eval", run]) == 2
    assert "which is not there any more" in capsys.readouterr().err
    assert main(["eval", run, "--text", str(_text(tmp_path))]) == 0


def test_device_cuda_without_cuda_is_refused_with_the_way_out(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # was "Torch not compiled with CUDA enabled"
    assert main(["train", "charlm", "--text", str(_text(tmp_path)), "--out", str(tmp_path / "run"), "--device",
                 "cuda", *TINY]) == 2
    assert "--device cuda: " in capsys.readouterr().err


def test_demo_refuses_a_time_budget_of_zero_before_announcing_it(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--time-budget", "0", "--out", str(tmp_path / "demo")]) == 2
    said = capsys.readouterr()
    assert "time_budget must be positive" in said.err
    assert "training a character-level LSTM" not in said.out  # was printed first, "for 0 s"
