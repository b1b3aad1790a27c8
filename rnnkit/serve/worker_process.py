"""The batching worker in a process of its own: ``Batcher``'s interface here, its work in a child process.

Why. In one process the worker thread and the server's event loop take turns holding Python's lock:
whenever the loop runs Python (parsing requests, writing the streams), the worker's next step waits for
it. Measured with ``benchmarks/bench_serve.py`` and ``bench_batcher.py`` (2 x 512 LSTM, 32 streams,
2026-12-01): 3.57 ms per batch step inside the server against 2.23 ms for the worker alone.

How. The child loads the same checkpoint and runs an ordinary ``Batcher``. A job goes to it as plain
values over a pipe (prime ids, length, sampling settings, seed, watched unit, deadline: everything a
``Job`` is made of except its callbacks); each of the child's hand-overs comes back as one message, a
list of (job number, event) with the worker's load. A reader thread here gives the events to their
jobs through ``post``, as the in-process ``Batcher`` does. Cancelling a job and closing are messages
too. The seeds are drawn in the child, from the same generator calls, so a seeded request gives the
same text with either worker.

The pipe carries pickles, but only between this process and the child it started (never anything a
client sent unparsed: the server has already validated every value).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rnnkit.serve.batching import Batcher, Event, Job, QueueFull, deliver

START_TIMEOUT = 120.0  # seconds the child may take to import torch and load the checkpoint


@dataclass
class _Numbered(Job):
    """A job in the child, known to the parent by its number."""

    number: int = 0


class WorkerProcess:
    """``Batcher`` in a child process: submit, load, close, post and steps, as ``Batcher`` has them.

    Args:
        path: the char-LM checkpoint (run directory or .pt file) the child loads.
        max_batch, max_queue, batching, flush_every: as for ``Batcher``.
    """

    def __init__(self, path: Path, max_batch: int = 32, max_queue: int = 64, batching: bool = True,
                 flush_every: float = 0.02) -> None:
        self.max_batch = max_batch if batching else 1
        self.max_queue = max_queue
        self.post: Callable[..., Any] | None = None
        self.lock = threading.Lock()  # guards the counts and the jobs
        self.sending = threading.Lock()  # one message at a time on the pipe (the reader never waits for it)
        self.jobs: dict[int, Job] = {}
        self.numbered = 0
        self.open_jobs = 0
        self.closing = False
        self.failed: str | None = None  # why the child is gone, if it went before close()
        self.reported: dict[str, int] = {"active": 0, "waiting": 0, "steps": 0}
        # a fresh interpreter (python -m this module), not a fork: torch's threads do not survive a fork, and
        # multiprocessing's spawn would import the caller's main module again
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", "rnnkit.serve.worker_process", str(theirs.fileno()), str(path),
                   str(max_batch), str(max_queue), str(int(batching)), str(flush_every)]
        self.process = subprocess.Popen(command, pass_fds=[theirs.fileno()])
        theirs.close()
        self.conn = Connection(ours.detach())
        try:
            ready = self.conn.poll(START_TIMEOUT)
            kind, message = self.conn.recv() if ready else ("failed", f"no answer in {START_TIMEOUT:g} s")
        except (EOFError, OSError):
            kind, message = "failed", f"it exited with code {self.process.wait(5.0)}"
        if kind != "ready":
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"rnnkit serve: the worker process could not load {path}: {message}")
        self.reader = threading.Thread(target=self._read, name="rnnkit-serve-reader", daemon=True)
        self.reader.start()

    @property
    def steps(self) -> int:
        return self.reported["steps"]

    def submit(self, job: Job) -> None:
        """Queue a job in the child; raise QueueFull when the batch and the queue are full, or the child is gone."""
        with self.lock:
            if self.closing:
                raise QueueFull("the server is shutting down")
            if self.failed:
                raise QueueFull(self.failed)
            if self.open_jobs >= self.max_batch + self.max_queue:
                raise QueueFull(f"{self.max_batch} requests are running and {self.open_jobs - self.max_batch} waiting")
            self.numbered += 1
            number = self.numbered
            self.jobs[number] = job
            self.open_jobs += 1
        job.on_cancel = lambda: self._send(("cancel", number))
        self._send(("job", number, job.ids, job.length, job.temperature, job.top_k, job.top_p, job.seed, job.watch,
                    job.deadline))

    def load(self) -> dict[str, int]:
        with self.lock:
            return {**self.reported, "max_batch": self.max_batch, "max_queue": self.max_queue}

    def close(self, grace: float = 0.0) -> None:
        """As ``Batcher.close``: no new jobs; the running ones get ``grace`` seconds, then end with "shutdown"."""
        with self.lock:
            first, self.closing = not self.closing, True
        if first:
            self._send(("close", grace))
        try:
            self.process.wait(grace + 10.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(5.0)

    def _send(self, message: tuple[Any, ...]) -> None:
        with self.sending, contextlib.suppress(OSError):  # OSError: the child is gone; the reader ends the open jobs
            self.conn.send(message)

    def _read(self) -> None:
        """Hand the child's events to the jobs; if the child goes, end every open job with an error."""
        while True:
            try:
                _, pairs, reported = self.conn.recv()
            except (EOFError, OSError):
                break
            events: list[tuple[Job, Event]] = []
            with self.lock:
                self.reported = reported
                for number, event in pairs:
                    job = self.jobs.get(number)
                    if job is None:
                        continue
                    if event.get("done") or "error" in event:  # its last event
                        del self.jobs[number]
                        self.open_jobs -= 1
                    elif "text" in event:
                        job.produced += 1
                    events.append((job, event))
            self._deliver(events)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1.0)
        with self.lock:
            self.failed = f"the generation worker stopped (exit code {self.process.returncode}); restart the server"
            orphans, self.jobs, self.open_jobs = list(self.jobs.values()), {}, 0
        if self.closing:
            end: Event = {"done": True, "finish_reason": "shutdown"}
        else:
            end = {"error": f"generation failed: {self.failed}", "status": 500}
        self._deliver([(job, {**end, "produced": job.produced}) for job in orphans])

    def _deliver(self, events: list[tuple[Job, Event]]) -> None:
        if not events:
            return
        if self.post is not None:
            self.post(deliver, events)
        else:
            deliver(events)


def _child(conn: Connection, path: str, max_batch: int, max_queue: int, batching: bool, flush_every: float) -> None:
    """The child: load the checkpoint, run a Batcher, take jobs and cancellations from the pipe, send the events."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent ends the child
    try:
        from rnnkit.lm.checkpoint import load_model

        model, _, _ = load_model(Path(path))
        batcher = Batcher(model, max_batch=max_batch, max_queue=max_queue, batching=batching,
                          flush_every=flush_every)
    except Exception as e:  # the parent loaded this file already, so this is rare: say why, then stop
        conn.send(("failed", f"{type(e).__name__}: {e}"))
        return
    sending = threading.Lock()
    jobs: dict[int, _Numbered] = {}

    def post(_: Callable[..., Any], events: list[tuple[Job, Event]]) -> None:
        pairs = []
        for job, event in events:
            assert isinstance(job, _Numbered)
            pairs.append((job.number, event))
            if event.get("done") or "error" in event:
                jobs.pop(job.number, None)
        load = batcher.load()
        with sending:
            conn.send(("events", pairs, {k: load[k] for k in ("active", "waiting", "steps")}))

    batcher.post = post
    conn.send(("ready", ""))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            batcher.close(0.0)
            return
        if message[0] == "job":
            number, ids, length, temperature, top_k, top_p, seed, watch, deadline = message[1:]
            job = _Numbered(ids=ids, length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                            watch=watch, deadline=deadline, number=number)
            jobs[number] = job
            try:
                batcher.submit(job)
            except QueueFull as e:  # closing: the parent counts the same limits, so only then
                post(deliver, [(job, {"error": f"busy: {e}", "status": 503})])
        elif message[0] == "cancel":
            cancelled = jobs.get(message[1])
            if cancelled is not None:
                cancelled.cancel()
        elif message[0] == "close":
            batcher.close(float(message[1]))
            conn.close()
            return


if __name__ == "__main__":  # started by WorkerProcess: FD PATH MAX_BATCH MAX_QUEUE BATCHING FLUSH_EVERY
    fd, path_arg, batch_arg, queue_arg, batching_arg, flush_arg = sys.argv[1:7]
    _child(Connection(int(fd)), path_arg, int(batch_arg), int(queue_arg), batching_arg == "1", float(flush_arg))
