"""Data-parallel training: 2 CPU processes under torchrun (gloo) give the losses of 1 process with the same global
batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch.distributed as dist

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="needs torch.distributed with gloo")

SETTINGS = ["--max-steps", "12", "--eval-every", "6", "--hidden-size", "32", "--embedding-size", "8", "--num-layers",
            "2", "--batch-size", "8", "--bptt", "16", "--log-every", "1", "--lr", "0.01", "--no-progress"]


def run(args: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes on two cores: one thread each
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 80)
    common = ["-m", "rnnkit.cli", "train", "charlm", "--text", str(text), *SETTINGS]
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *common, "--out",
         str(tmp_path / "ddp")])
    run([sys.executable, *common, "--out", str(tmp_path / "one")])
    ddp, one = rows(tmp_path / "ddp" / "metrics.jsonl"), rows(tmp_path / "one" / "metrics.jsonl")
    assert [r["step"] for r in ddp] == [r["step"] for r in one]
    assert len(one) == 14
    for a, b in zip(ddp, one, strict=True):
        key = "loss" if "loss" in b else "val_loss"
        assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a, b)
        if key == "loss":
            assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    # the checkpoint holds the whole global batch's carried state, so either run can be resumed by the other
    import torch

    carry_ddp = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)["carry"]
    carry_one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["carry"]
    for a, b in zip(carry_ddp, carry_one, strict=True):
        assert a.shape == b.shape == (2, 8, 32)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
