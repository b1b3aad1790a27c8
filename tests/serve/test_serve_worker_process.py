"""The batching worker in a child process (``rnnkit.serve.worker_process``) against the in-process ``Batcher``.

What is proved: seeded jobs give the same events (characters, indices, watched values, finish reasons)
from the child as from a Batcher in this process, one at a time and 12 at once; a cancel reaches the
child; the queue limit answers at once; close() ends running jobs with "shutdown"; and if the child
dies, every open job gets an error event and new jobs are refused, instead of waiting for ever.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_support import random_charlm

from rnnkit.lm import load_model
from rnnkit.serve.batching import Batcher, Event, Job, QueueFull, Watch
from rnnkit.serve.worker_process import WorkerProcess


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_charlm(tmp_path_factory.mktemp("worker") / "lstm", "lstm")


@pytest.fixture(scope="module")
def worker(checkpoint: Path) -> Iterator[WorkerProcess]:
    w = WorkerProcess(checkpoint, max_batch=16, max_queue=4)
    yield w
    w.close()


class Collect:
    """A job's events, and a flag set by its last one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.ended = threading.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.get("done") or "error" in event:
            self.ended.set()


def run_jobs(batcher: Batcher | WorkerProcess, specs: list[dict[str, Any]], ids: list[list[int]]) -> list[list[Event]]:
    collected = [Collect() for _ in specs]
    for spec, prime, out in zip(specs, ids, collected, strict=True):
        batcher.submit(Job(ids=prime, emit=out, **spec))
    for out in collected:
        assert out.ended.wait(60), "a job never ended"
    return [out.events for out in collected]


def specs_and_primes(checkpoint: Path, n: int) -> tuple[list[dict[str, Any]], list[list[int]]]:
    model, vocab, _ = load_model(checkpoint)
    settings: list[dict[str, Any]] = [{}, {"temperature": 0.5}, {"top_k": 3}, {"top_p": 0.9, "temperature": 1.3}]
    specs: list[dict[str, Any]] = [{"length": 10 + 3 * k, "seed": 100 + k, **settings[k % 4]} for k in range(n)]
    if n > 2:
        specs[1]["watch"] = Watch(1, "c", 2)
        specs[2]["watch"] = Watch(0, "f", 5)
    primes = [vocab.encode("ab"[: k % 3] or "a") for k in range(n)]
    return specs, primes


def test_the_child_gives_the_in_process_batchers_events(checkpoint: Path, worker: WorkerProcess) -> None:
    specs, primes = specs_and_primes(checkpoint, 12)
    model, _, _ = load_model(checkpoint)
    local = Batcher(model, max_batch=16, max_queue=4)
    try:
        alone = [run_jobs(local, [s], [p])[0] for s, p in zip(specs, primes, strict=True)]
        crowd = run_jobs(local, specs, primes)
    finally:
        local.close()
    assert crowd == alone  # the property the server promises, as a reference for the child
    from_child_alone = [run_jobs(worker, [s], [p])[0] for s, p in zip(specs[:3], primes[:3], strict=True)]
    from_child_crowd = run_jobs(worker, specs, primes)
    assert from_child_alone == alone[:3]
    assert from_child_crowd == alone
    assert any("value" in e for e in alone[1])
    assert any("value" in e for e in alone[2])
    assert worker.load()["active"] == 0
    assert worker.steps > 0


def test_a_cancel_reaches_the_child(checkpoint: Path, worker: WorkerProcess) -> None:
    _, primes = specs_and_primes(checkpoint, 1)
    out = Collect()
    job = Job(ids=primes[0], length=10**6, seed=1, emit=out)
    worker.submit(job)
    while not out.events and not out.ended.wait(0.01):
        pass
    job.cancel()
    assert out.ended.wait(30)
    assert out.events[-1]["finish_reason"] == "cancelled"
    assert 0 < out.events[-1]["produced"] < 10**6


def test_a_full_queue_is_refused_at_once(checkpoint: Path) -> None:
    w = WorkerProcess(checkpoint, max_batch=1, max_queue=1)
    try:
        _, primes = specs_and_primes(checkpoint, 1)
        running, waiting = Collect(), Collect()
        w.submit(Job(ids=primes[0], length=10**6, seed=1, emit=running))
        w.submit(Job(ids=primes[0], length=10**6, seed=2, emit=waiting))
        with pytest.raises(QueueFull, match="1 requests are running and 1 waiting"):
            w.submit(Job(ids=primes[0], length=5, seed=3))
        w.close(grace=0.0)
        assert running.ended.wait(30)
        assert waiting.ended.wait(30)
        assert running.events[-1]["finish_reason"] == "shutdown"
        assert waiting.events[-1]["finish_reason"] == "shutdown"
        with pytest.raises(QueueFull, match="shutting down"):
            w.submit(Job(ids=primes[0], length=5, seed=3))
    finally:
        w.close()


def test_a_dead_child_ends_the_open_jobs_with_an_error(checkpoint: Path) -> None:
    w = WorkerProcess(checkpoint, max_batch=2, max_queue=0)
    try:
        _, primes = specs_and_primes(checkpoint, 1)
        out = Collect()
        w.submit(Job(ids=primes[0], length=10**6, seed=1, emit=out))
        while not out.events and not out.ended.wait(0.01):
            pass
        w.process.kill()
        assert out.ended.wait(30)
        assert "generation worker stopped" in out.events[-1]["error"]
        with pytest.raises(QueueFull, match="restart the server"):
            w.submit(Job(ids=primes[0], length=5, seed=3))
    finally:
        w.close()


def test_a_checkpoint_the_child_cannot_load_is_an_error_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="could not load .*bad.pt"):
        WorkerProcess(bad)
