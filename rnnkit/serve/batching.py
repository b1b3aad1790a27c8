"""Continuous batching: many generation requests stepped together through one ``Stepper``.

An RNN's state is a fixed-size tensor per stream, so concurrent requests can share every step:
one worker thread owns the model; each step it embeds the current character of every active
stream, advances the whole batch by one ``Stepper.step`` and draws each stream's next character
with that stream's own ``torch.Generator``. Streams join and leave (done, cancelled, timed out)
between steps, so a long request never holds up a short one and nobody waits for a batch to fill.
A joining stream reads a short prime in the batch, one character a step beside the others'
characters (a stepped prime is what ``rnnkit sample`` does too); a prime longer than
``STEPPED_PRIME`` is read first in one sequence call, which holds the batch up for that call.

Isolation. A row's arithmetic never reads another row, but a BLAS product may round a row
differently depending on how many rows it has: measured with MKL (float32), 1 row and 2-3 rows each
take their own kernel and differ in the last bit, and so does the last row of a 5-row batch (an edge
tile); batches of a power of two of 4 rows or more gave every row bit-identical results at any
position. oneDNN's bf16 products gave bit-identical rows from 1 row up (an AVX-512 EPYC), and so did its
float32 products on an AVX2 EPYC once the weight was packed for the largest batch rather than for each
batch's own size (packed for 1 row, a 1-row product rounded differently). Which holds depends on the CPU and
the library, so the worker measures it at start-up (``agreeing_rows``: a few steps of random
characters through every batch size, each row compared bit for bit with the largest batch's) and
pads the batch to a power of two of at least that many rows. That is what makes a seeded request
give the same text alone or beside 31 others (tests/serve/test_serve_batching.py checks the
property, tests/serve/test_serve.py the requests); where 1 row agrees, a lone request is stepped
alone rather than padded to 4 rows (on the AVX2 EPYC, interleaved: 1.11 ms a step instead of 1.52; 0.86 without
batching, where the output layer is PyTorch's own: a packed one costs ~40 us more at 1 row, and agrees from 1 row).

The characters reach the server's event loop in one hand-over every ``flush_every`` seconds (a
stream's first character and its end at once), so that the loop wakes, and writes to each client,
once for several steps rather than once a step.

With ``batching=False`` the worker serves one request at a time, start to finish (the baseline
of benchmarks/bench_serve.py).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from rnnkit.layers.fast.onednn import Linear
from rnnkit.layers.recurrent import RecurrentBase
from rnnkit.layers.stepper import Stepper
from rnnkit.lm.char_lm import CharLM, classic_rnn
from rnnkit.lm.sample import STEPPED_PRIME, draw_rows, next_char_distribution, warm_up

PROBE_STEPS = 3  # steps of the start-up check that rows agree at every batch size
STATES = ("h", "c")
GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn_tanh": ("a",), "rnn_relu": ("a",)}

Event = dict[str, Any]


class QueueFull(Exception):
    """The server is at its limit of waiting requests; the caller should answer 503 with Retry-After."""


@dataclass(frozen=True)
class Watch:
    """One unit to report with every generated character: layer, state or gate name, unit index."""

    layer: int
    name: str  # "h", "c" (LSTM), or a gate: i, f, g, o (LSTM); r, z, n (GRU); a (Elman pre-activation)
    unit: int


@dataclass
class Job:
    """One generation request and its progress. ``emit`` receives each event (on the thread ``Batcher.post`` names)."""

    ids: list[int]  # the encoded prime; never empty
    length: int
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    watch: Watch | None = None
    deadline: float = float("inf")  # time.monotonic() after which the job is stopped
    emit: Callable[[Event], None] = lambda event: None
    cancelled: threading.Event = field(default_factory=threading.Event)
    produced: int = 0
    finished: bool = False  # its last event (done or error) has been sent
    generator: torch.Generator = field(default_factory=torch.Generator)
    current: int = 0  # the id fed at the next step
    prime: list[int] = field(default_factory=list)  # the prime's ids still to feed after ``current``
    state: Any = None  # the job's state before it has a row (None: zero)

    def cancel(self) -> None:
        """Ask the worker to drop this job before its next step (the client went away)."""
        self.cancelled.set()


class Batcher:
    """The worker that owns one CharLM and steps every active job together.

    It reads the model's weights once, at start-up (the steppers, and the output layer packed for the largest
    batch), as ``Stepper`` does: a change to the model's weights afterwards is not seen.

    Args:
        model: a CharLM with its vocabulary, in eval mode.
        max_batch: the most jobs stepped at once; more wait in the queue.
        max_queue: the most jobs waiting; beyond it ``submit`` raises ``QueueFull``.
        batching: False serves one job at a time (for comparison).
        flush_every: seconds between hand-overs of the characters made meanwhile (a job's first character
            and its end go at once). Handing over every step cost the server's event loop a wake-up and a
            socket write per stream per step, which on a small machine took CPU from the steps themselves.
        products: the dtype of the Stepper's weight products (``torch.bfloat16``: as ``rnnkit sample --precision
            bf16``, whose text a job without batching then gives); None keeps the model's float32.
        threads: torch's intra-op threads in the worker (None: whatever the worker thread gets). ``rnnkit serve``
            passes its threads here and keeps every other thread at one: see ``rnnkit.serve.commands``.
    """

    def __init__(self, model: CharLM, max_batch: int = 32, max_queue: int = 64, batching: bool = True,
                 flush_every: float = 0.02, products: torch.dtype | None = None, threads: int | None = None) -> None:
        if model.vocab is None:
            raise ValueError("Batcher: the model has no vocabulary; load it with rnnkit.lm.checkpoint.load_model.")
        self.model = model.eval()
        self.rnn = classic_rnn(model, "rnnkit serve")  # refused here, at load time, for a cell the Stepper cannot step
        self.max_batch = max_batch if batching else 1
        self.max_queue = max_queue
        self.batching = batching
        self.products = products
        self.threads = threads
        self.waiting: collections.deque[Job] = collections.deque()
        self.active: list[Job] = []
        self.rows: list[Job | None] = []  # the job in each row of the current stepper
        self.steppers: dict[int, Stepper] = {}  # by batch size, all over one copy of the weights (_warm_up)
        self.head: Callable[[Tensor], Tensor] = model.head
        self.min_rows = 1  # the batch is padded to a power of two of at least this many rows (_warm_up measures it)
        self.stepper: Stepper | None = None
        self.noise: Tensor | None = None  # the draws' exponential noise (B, V), allocated once per batch size
        self.lock = threading.Condition()
        self.closing = False
        self.drain_until = float("inf")
        self.steps = 0  # batch steps taken (for /health and the tests)
        self.open_jobs = 0  # submitted and not yet ended (running, waiting, or between the two)
        self.outbox: list[tuple[Job, Event]] = []  # events not handed over yet
        self.flush_every = flush_every
        self.flushed = 0.0  # time.monotonic() of the last hand-over
        self.urgent = False  # the outbox holds a first character or an end: hand it over now
        # how events reach the jobs: None calls each job's emit from the worker thread; the server sets
        # its event loop's call_soon_threadsafe, so one wake-up carries every job's characters
        self.post: Callable[..., Any] | None = None
        self._warm_up()
        self.thread = threading.Thread(target=self._run, name="rnnkit-batcher", daemon=True)
        self.thread.start()

    # ---- the public side (any thread) ------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Queue a job; raise QueueFull if the batch is full and max_queue jobs are already waiting for it."""
        with self.lock:
            if self.closing:
                raise QueueFull("the server is shutting down")
            # counted from submission to the end event, so a job the worker has not picked up yet still counts
            if self.open_jobs >= self.max_batch + self.max_queue:
                raise QueueFull(f"{self.max_batch} requests are running and {self.open_jobs - self.max_batch} waiting")
            self.open_jobs += 1
            job.generator = torch.Generator()
            if job.seed is not None:
                job.generator.manual_seed(job.seed)
            else:
                job.generator.seed()
            self.waiting.append(job)
            self.lock.notify()

    def load(self) -> dict[str, int]:
        with self.lock:
            return {"active": len(self.active), "waiting": len(self.waiting), "max_batch": self.max_batch,
                    "max_queue": self.max_queue, "steps": self.steps, "min_rows": self.min_rows}

    def close(self, grace: float = 0.0) -> None:
        """Stop taking jobs; let the queued and running ones go on for up to ``grace`` seconds, then end
        the rest with finish_reason "shutdown" and let the worker exit."""
        with self.lock:
            if not self.closing:
                self.closing = True
                self.drain_until = time.monotonic() + grace
            self.lock.notify()
        self.thread.join(grace + 5.0)

    # ---- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        torch.set_grad_enabled(False)
        if self.threads is not None:
            torch.set_num_threads(self.threads)  # OpenMP's thread count is the calling thread's own
        while True:
            with self.lock:
                while not self.closing and not self.waiting and not self.active:
                    self.lock.wait(0.5)
                if self.closing and (not (self.waiting or self.active) or time.monotonic() > self.drain_until):
                    break
                joining: list[Job] = []
                while self.waiting and len(self.active) + len(joining) < self.max_batch:
                    joining.append(self.waiting.popleft())
            try:
                self._admit(joining)
                self._retire()
                if self.active:
                    self._step()
            except Exception as e:  # a bug must not leave clients hanging: end every stream with the error
                for job in self.active + joining:
                    self._out(job, {"error": f"generation failed: {type(e).__name__}: {e}", "status": 500})
                self.active, self.rows, self.stepper = [], [], None
            self._flush(force=not self.active)
        self._finish_all("shutdown")
        self._flush()

    def _out(self, job: Job, event: Event) -> None:
        if job.finished:
            return  # a job ends once (the error path may name a job that had already ended)
        if event.get("done") or "error" in event:  # the job's last event: its place is free
            job.finished = True
            self.urgent = True
            with self.lock:
                self.open_jobs -= 1
        elif event.get("index") == 0:  # the first character: the client's time to first character
            self.urgent = True
        self.outbox.append((job, event))

    def _flush(self, force: bool = True) -> None:
        """Hand the events over, if ``flush_every`` has passed, or one is urgent, or ``force``: one call to
        ``post`` for all of them, or each job's emit directly."""
        if not self.outbox:
            return
        now = time.monotonic()
        if not (force or self.urgent or now - self.flushed >= self.flush_every):
            return
        events, self.outbox, self.flushed, self.urgent = self.outbox, [], now, False
        if self.post is not None:
            self.post(_deliver, events)
        else:
            _deliver(events)

    def _finish_all(self, reason: str) -> None:
        with self.lock:
            jobs = self.active + list(self.waiting)
            self.active, self.waiting = [], collections.deque()
        for job in jobs:
            self._out(job, {"done": True, "finish_reason": reason, "produced": job.produced})

    def _admit(self, joining: list[Job]) -> None:
        """Give each new job a row: from a zero state with its prime to feed step by step, or, for a long prime,
        with the state after it (``warm_up``: as ``rnnkit sample`` reads its prime, so that both read it alike)."""
        for job in joining:
            if job.cancelled.is_set():
                self._out(job, {"done": True, "finish_reason": "cancelled", "produced": 0})
                continue
            if time.monotonic() > job.deadline:
                self._out(job, {"done": True, "finish_reason": "timeout", "produced": 0})
                continue
            if job.length == 0:
                self._out(job, {"done": True, "finish_reason": "length", "produced": 0})
                continue
            if len(job.ids) - 1 > STEPPED_PRIME:  # one sequence call, the batch waits for it
                warm_up(self.model, self.warmer, job.ids[:-1])
                job.state, job.current, job.prime = self.warmer.state, job.ids[-1], []  # (L, 1, H) each, a copy
            else:  # read in the batch: no wait for anybody
                job.state, job.current, job.prime = None, job.ids[0], job.ids[1:]
            self.active.append(job)
        if joining:
            self._layout()

    def _retire(self) -> None:
        """Drop finished, cancelled and timed-out jobs; their rows become free."""
        now, keep = time.monotonic(), []
        for job in self.active:
            if job.cancelled.is_set():
                self._out(job, {"done": True, "finish_reason": "cancelled", "produced": job.produced})
            elif now > job.deadline:
                self._out(job, {"done": True, "finish_reason": "timeout", "produced": job.produced})
            elif job.produced >= job.length:
                self._out(job, {"done": True, "finish_reason": "length", "produced": job.produced})
            else:
                keep.append(job)
        if len(keep) != len(self.active):
            for row, held in enumerate(self.rows):
                if held is not None and held not in keep:
                    self.rows[row] = None
            self.active = keep
            self._layout()

    def _warm_up(self) -> None:
        """Build the stepper of every batch size the worker can use, over one copy of the weights packed for the
        largest, and find from how many rows the batch must be padded (``agreeing_rows``). The check steps every size
        it may use, so the first requests do not pay for packing weights and for oneDNN compiling its kernels for a
        new shape (a first round at 32 clients had its p95 time to the first character at ~150 ms, the next ones at
        ~40)."""
        top = 1
        while top < self.max_batch:
            top *= 2
        largest = Stepper(self.rnn, batch_size=top, products=self.products)
        # the output layer: packed for the largest batch as well where oneDNN takes it (rows then agree from 1 row);
        # without batching, the model's own, as in rnnkit sample
        self.head = self.model.head if top == 1 else _PackedHead(self.model.head, top)
        self.steppers = {size: largest if size == top else largest.resized(size) for size in _powers_of_two(top)}
        self.warmer = largest.resized(1)  # holds the state after a long prime (warm_up); it never steps here
        # the probe steps every size it may use (from the largest down, until one disagrees): that is the warm-up
        self.min_rows = agreeing_rows(self.model, self.steppers, self.head)

    def _rows_for(self, n: int) -> int:
        size = self.min_rows
        while size < n:
            size *= 2
        return size

    def _layout(self) -> None:
        """Make sure every active job has a row in a stepper of the right size, moving states if it changes."""
        if not self.active:
            self.rows, self.stepper = [], None
            return
        size = self._rows_for(len(self.active))
        old = self.stepper
        if old is not None:  # bring the running jobs' states out of the old stepper
            placed = [(row, job) for row, job in enumerate(self.rows) if job is not None]
            if placed and (old.batch_size != size):
                states = old.rows_state([row for row, _ in placed])
                for i, (_, job) in enumerate(placed):
                    job.state = _select(states, i)
        if old is None or old.batch_size != size:
            self.stepper = self.steppers[size]  # every size up to max_batch was built at start-up (_warm_up)
            self.stepper.reset()
            self.rows = [None] * size
        stepper = self.stepper
        assert stepper is not None
        for job in self.active:
            if job not in self.rows:
                row = self.rows.index(None)
                self.rows[row] = job
                stepper.set_rows([row], job.state)
                job.state = None

    def _step(self) -> None:
        """One step of every active job: embed, advance the batch, score, draw each job's next character."""
        stepper, model = self.stepper, self.model
        assert stepper is not None
        assert model.vocab is not None
        size = stepper.batch_size
        current = torch.tensor([job.current if job is not None else 0 for job in self.rows])  # (B,)
        watched = [(row, job.watch) for row, job in enumerate(self.rows) if job is not None and job.watch is not None]
        before = stepper.z.clone() if watched else None  # [x, h_0, ..., h_{L-1}] before the step, for gates
        x = model.embedding(current)  # (B, E)
        h = stepper.step(x)  # (B, H)
        logits = self.head(h)  # (B, V): all rows, so the product has the same shape whoever is active
        self.steps += 1
        drawing = [row for row, job in enumerate(self.rows) if job is not None and not job.prime]
        draws = self._draw(logits, drawing)
        values = {row: _watched_value(stepper, model, before, x, row, watch) for row, watch in watched if row in draws}
        for row in range(size):
            job = self.rows[row]
            if job is None:
                continue
            if job.prime:  # still reading its prime: the next prime character, nothing drawn, nothing sent
                job.current = job.prime.pop(0)
                continue
            job.current = draws[row]
            job.produced += 1
            event: Event = {"text": model.vocab.chars[job.current], "index": job.produced - 1}
            if row in values:
                event["value"] = values[row]
            self._out(job, event)

    def _draw(self, logits: Tensor, drawing: list[int]) -> dict[int, int]:
        """The next id of the jobs in rows ``drawing``: the distribution for rows with the same settings at once,
        then one draw per row with the job's own generator (``draw_rows``: multinomial's draw, all rows at once)."""
        groups: dict[tuple[float, int | None, float | None], list[int]] = {}
        for row in drawing:
            job = self.rows[row]
            if job is not None:
                groups.setdefault((job.temperature, job.top_k, job.top_p), []).append(row)
        if self.noise is None or self.noise.shape != logits.shape or self.noise.dtype != logits.dtype:
            self.noise = torch.empty_like(logits)  # (B, V), reused every step
        draws: dict[int, int] = {}
        for (temperature, top_k, top_p), rows in groups.items():
            # one group (every job with the same settings, the common case) reads the rows in place, without a copy
            scored = logits if len(rows) == logits.size(0) else logits[rows]
            probs = next_char_distribution(scored, temperature, top_k, top_p)  # (R, V)
            generators = [job.generator for job in (self.rows[row] for row in rows) if job is not None]
            draws.update(zip(rows, draw_rows(probs, generators, self.noise), strict=True))
        return draws


class _PackedHead:
    """The char-LM's output layer ``h W^T + b`` with W packed once for ``rows`` rows (``rnnkit.layers.fast.onednn``)."""

    def __init__(self, head: torch.nn.Linear, rows: int) -> None:
        self.linear, self.bias = Linear(head.weight, rows), head.bias

    def __call__(self, h: Tensor) -> Tensor:
        return self.linear(h, self.bias)


def _powers_of_two(top: int) -> list[int]:
    """1, 2, 4, ..., top (a power of two)."""
    return [1 << k for k in range(top.bit_length())]


def agreeing_rows(model: CharLM, steppers: dict[int, Stepper], head: Callable[[Tensor], Tensor],
                  steps: int = PROBE_STEPS, seed: int = 0) -> int:
    """The fewest rows from which a batch gives every row the same numbers, bit for bit, as the largest batch does.

    Steps random characters through each stepper (sizes: powers of two) from a zero state; the rows of a
    smaller batch take a random choice of the largest batch's rows, in a random order, and their logits and
    probabilities (top-p cut, as a request may ask) must equal those rows'. The answer is the smallest size from
    which every larger size agrees; the largest if none does. Each stepper is left at a zero state.
    """
    assert model.vocab is not None
    sizes = sorted(steppers)
    top = sizes[-1]
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, len(model.vocab), (steps, top), generator=generator)

    def run(size: int, rows: Tensor) -> Tensor:
        stepper, out = steppers[size], []
        for t in range(steps):
            logits = head(stepper.step(model.embedding(ids[t, rows])))
            out.append(torch.cat([logits, next_char_distribution(logits, 0.8, None, 0.9)], dim=1))
        stepper.reset()
        return torch.stack(out)  # (steps, size, 2V)

    with torch.no_grad():
        reference = run(top, torch.arange(top))
        agreeing = top
        for size in reversed(sizes[:-1]):
            rows = torch.randperm(top, generator=generator)[:size]
            if not torch.equal(run(size, rows), reference[:, rows]):
                break
            agreeing = size
    return agreeing


def _deliver(events: list[tuple[Job, Event]]) -> None:
    for job, event in events:
        job.emit(event)


def _select(state: Any, i: int) -> Any:
    """Row i of a state in hx format, kept as a batch of one."""
    if isinstance(state, tuple):
        return tuple(s[:, i : i + 1].clone() for s in state)
    return state[:, i : i + 1].clone()


def _watched_value(stepper: Stepper, model: CharLM, before: Tensor | None, x: Tensor, row: int, watch: Watch) -> float:
    """The watched unit's value at this step, as ``record()`` would give it (gates recomputed for that one unit)."""
    l, name, u = watch.layer, watch.name, watch.unit
    if name == "h":
        return float(stepper.h_views[l][row, u])
    if name == "c":
        assert stepper.c is not None
        return float(stepper.c[l][row, u])
    assert before is not None
    rnn = stepper.layer
    H, H_out, I = stepper.H, stepper.H_out, rnn.input_size
    p = rnn.direction_params(l, 0)
    x_l = x[row] if l == 0 else stepper.h_views[l - 1][row]  # this layer's input at this step
    h_prev = before[row, I + l * H_out : I + (l + 1) * H_out]
    gates = GATE_NAMES[stepper.mode]
    k = gates.index(name)
    wi = p.weight_ih[k * H + u]
    wh = p.weight_hh[k * H + u]
    bi = p.bias_ih[k * H + u] if p.bias_ih is not None else 0.0
    bh = p.bias_hh[k * H + u] if p.bias_hh is not None else 0.0
    a_x, a_h = float(wi @ x_l + bi), float(wh @ h_prev + bh)
    if stepper.mode == "gru" and name == "n":
        r = _watched_value(stepper, model, before, x, row, Watch(l, "r", u))
        return float(torch.tanh(torch.tensor(a_x + r * a_h)))
    pre = torch.tensor(a_x + a_h)
    if name == "a":
        return float(pre)
    if name in ("g",):
        return float(torch.tanh(pre))
    return float(torch.sigmoid(pre))


def check_watch(model: CharLM, watch: Watch) -> str | None:
    """None if the model has that unit, else a message saying what is allowed."""
    rnn = model.rnn
    assert isinstance(rnn, RecurrentBase)
    L, H = rnn.num_layers, rnn.hidden_size
    H_out = getattr(rnn, "proj_size", 0) or H
    names = STATES[:2 if rnn.mode == "lstm" else 1] + GATE_NAMES[rnn.mode]
    if not 0 <= watch.layer < L:
        return f"watch.layer must be in [0, {L}) for this model, got {watch.layer}"
    if watch.name not in names:
        return f"watch.name must be one of {list(names)} for a {rnn.mode} model, got {watch.name!r}"
    limit = H_out if watch.name == "h" else H
    if not 0 <= watch.unit < limit:
        return f"watch.unit must be in [0, {limit}) for {watch.name}, got {watch.unit}"
    return None
