"""The pieces continuous batching stands on: Stepper rows joining mid-sequence, and rows not seeing each other."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import torch

import rnnkit
from rnnkit.layers.stepper import Stepper
from rnnkit.serve.batching import Batcher, agreeing_rows

I, H, L, T = 3, 5, 2, 6


def _layer(kind: str, dtype: torch.dtype = torch.float64, **kw) -> rnnkit.layers.RecurrentBase:
    torch.manual_seed(0)
    cls = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "tanh": rnnkit.RNN}[kind]
    return cls(I, H, L, dtype=dtype, **kw).eval()


@pytest.mark.parametrize(("kind", "kw"), [("lstm", {}), ("lstm", {"proj_size": 2}), ("gru", {}), ("tanh", {})])
def test_rows_join_mid_sequence_and_leave_without_disturbing_the_others(kind, kw):
    """Three streams of one layer, started at different steps in one 4-row Stepper, each equal to the layer's
    forward."""
    layer = _layer(kind, **kw)
    xs = torch.randn(3, T, I, dtype=torch.float64)  # three sequences
    starts = {0: 0, 2: 2, 3: 4}  # row -> the step at which its stream joins
    stepper = Stepper(layer, batch_size=4)
    outputs: dict[int, list[torch.Tensor]] = {row: [] for row in starts}
    for t in range(T + 4):
        x = torch.zeros(4, I, dtype=torch.float64)
        for stream, (row, start) in enumerate(starts.items()):
            if t == start:
                stepper.set_rows([row])  # a fresh stream: zero state in its row only
            if start <= t < start + T:
                x[row] = xs[stream, t - start]
        x[1] = 100.0  # an unused row with wild input must not leak into the others
        y = stepper.step(x)
        for row, start in starts.items():
            if start <= t < start + T:
                outputs[row].append(y[row])
    for stream, row in enumerate(starts):
        want, _ = layer(xs[stream : stream + 1].transpose(0, 1))  # (T, 1, H_out): time-major layer
        torch.testing.assert_close(torch.stack(outputs[row]), want[:, 0])


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh"])
def test_rows_state_and_set_rows_move_a_stream_between_steppers(kind):
    layer = _layer(kind)
    x = torch.randn(T, 1, I, dtype=torch.float64)
    small, big = Stepper(layer, batch_size=4), Stepper(layer, batch_size=8)
    for t in range(3):
        small.step(x[t].expand(4, I).contiguous())
    big.set_rows([6], small.rows_state([1]))  # row 1 of the small batch continues as row 6 of the big one
    ys = [big.step(x[t].expand(8, I).contiguous())[6] for t in range(3, T)]
    torch.testing.assert_close(torch.stack(ys), layer(x)[0][3:, 0])


def test_row_errors_name_the_rows():
    stepper = Stepper(_layer("lstm"), batch_size=4)
    with pytest.raises(ValueError, match=r"rows must be distinct integers in \[0, 4\)"):
        stepper.set_rows([4])
    with pytest.raises(ValueError, match="distinct"):
        stepper.rows_state([1, 1])
    with pytest.raises(TypeError, match="pair"):
        stepper.set_rows([0], torch.zeros(L, 1, H, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"set_rows: expected h of shape"):
        stepper.set_rows([0, 1], (torch.zeros(L, 1, H, dtype=torch.float64), torch.zeros(L, 1, H, dtype=torch.float64)))


def _skip_without_bf16(products: torch.dtype | None) -> None:
    from rnnkit.layers.fast.onednn import onednn_bf16_applies

    if products is not None and not onednn_bf16_applies(torch.zeros(1, dtype=products)):
        pytest.skip("this CPU has no bf16 hardware, so the server never takes bf16 products here")


PRODUCTS = pytest.mark.parametrize("products", [None, torch.bfloat16], ids=["float32", "bf16"])


def _charlm(hidden: int, kind: str = "lstm"):
    from rnnkit.lm import CharLM, CharLMConfig, CharVocab

    torch.manual_seed(0)
    vocab = CharVocab("abcdefghijklmnopqrstuvwxyz .,\n")
    config = CharLMConfig(vocab_size=len(vocab), hidden_size=hidden, embedding_size=16, num_layers=2, cell=kind)
    return CharLM(config, vocab).eval()


@PRODUCTS
@pytest.mark.parametrize(("kind", "hidden"), [("lstm", 64), ("gru", 64), ("lstm", 512)])
def test_rows_are_bit_identical_at_every_batch_size_the_batcher_steps(kind, hidden, products):
    """What the seeded isolation of the server rests on, checked apart from the batcher's own start-up check: in
    every batch the worker may step (a power of two from ``min_rows`` up), a row's logits depend neither on the
    batch size nor on its position nor on the other rows; in float32, and with the bf16 products ``rnnkit serve
    --precision bf16`` takes where the CPU multiplies bf16. Hidden size 512 is the served char-LM's: its float32
    products go to oneDNN's packed kernel, the small ones to torch.addmm."""
    _skip_without_bf16(products)
    model = _charlm(hidden, kind)
    batcher = Batcher(model, max_batch=64, products=products)
    try:
        ids = torch.randint(0, len(model.vocab), (8,))
        results = []
        for B in (size for size in sorted(batcher.steppers) if size >= batcher.min_rows):
            for row in sorted({0, B // 2, B - 1}):
                stepper = batcher.steppers[B]
                noise = torch.randint(0, len(model.vocab), (8, B))
                ys = []
                with torch.no_grad():
                    for t in range(8):
                        x = noise[t].clone()
                        x[row] = ids[t]
                        ys.append(batcher.head(stepper.step(model.embedding(x)))[row])
                stepper.reset()
                results.append(torch.stack(ys))
        assert len(results) >= 7  # sizes 16, 32 and 64 at least
        assert all(torch.equal(r, results[0]) for r in results)
    finally:
        batcher.close()


def test_agreeing_rows_finds_the_sizes_whose_rows_differ():
    """The start-up check answers the smallest size from which every larger batch agrees with the largest: a head
    that rounds batches below 4 rows differently makes it answer 4, one that differs at every size but the
    largest makes it answer the largest, a head that never differs 1. (The head rounds the logits to 1/64, which
    hides the last-bit differences of this machine's own products, so that only the planted ones remain.)"""
    model = _charlm(16)
    largest = Stepper(model.rnn, batch_size=16)
    steppers = {size: largest if size == 16 else largest.resized(size) for size in (1, 2, 4, 8, 16)}

    def head_differing_below(rows: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def head(h: torch.Tensor) -> torch.Tensor:
            out = torch.round(model.head(h) * 64) / 64
            return out + 1 / 8 if h.size(0) < rows else out

        return head

    assert agreeing_rows(model, steppers, head_differing_below(0)) == 1
    assert agreeing_rows(model, steppers, head_differing_below(4)) == 4
    assert agreeing_rows(model, steppers, head_differing_below(16)) == 16
    assert all(not s.z.any() for s in steppers.values())  # left at a zero state


def _run_jobs(batcher, jobs, timeout: float = 30.0) -> list[str]:
    """Submit jobs, wait until each has ended, return their texts."""
    import threading

    texts: list[list[str]] = [[] for _ in jobs]
    done = [threading.Event() for _ in jobs]
    for k, job in enumerate(jobs):
        def emit(event, k=k):
            if event.get("done"):
                done[k].set()
            elif "text" in event:
                texts[k].append(event["text"])
        job.emit = emit
        batcher.submit(job)
    assert all(d.wait(timeout) for d in done)
    return ["".join(t) for t in texts]


@PRODUCTS
def test_without_batching_jobs_run_one_at_a_time_exactly_as_sample(products):
    from rnnkit.lm import CharLM, CharLMConfig, CharVocab, sample
    from rnnkit.lm.sample import STEPPED_PRIME
    from rnnkit.serve.batching import Batcher, Job

    _skip_without_bf16(products)
    torch.manual_seed(0)
    vocab = CharVocab("the quick brown fox jumps over the lazy dog.\n")
    model = CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=16, embedding_size=8, num_layers=2), vocab).eval()
    with torch.no_grad():  # larger weights: bf16's rounding then changes the text, so the test sees the precision
        for p in model.rnn.parameters():
            p.mul_(6)
        model.head.weight.mul_(10)
    batcher = Batcher(model, batching=False, products=products)
    try:
        long_prime = "the quick brown fox jumps over the lazy dog.\nthe "  # over STEPPED_PRIME: read in one call
        specs: list[tuple[str, int, int, dict[str, Any]]] = [
            ("the ", 30, 1, {}), ("", 20, 2, {"temperature": 0.5}), ("lazy", 25, 3, {"top_k": 4, "top_p": 0.9}),
            (long_prime, 15, 4, {})]
        jobs = [Job(ids=vocab.encode(p) or [vocab.index["\n"]], length=n, seed=seed, **kw) for p, n, seed, kw in specs]
        texts = _run_jobs(batcher, jobs)
        # one row, the same arithmetic as rnnkit.lm.sample (a batch-1 Stepper after the same warm-up): the same text
        def samples(products: torch.dtype | None) -> list[str]:
            return [sample(model, p, n, generator=torch.Generator().manual_seed(seed), products=products, **kw)
                    for p, n, seed, kw in specs]

        assert texts == samples(products)
        assert (texts == samples(None)) == (products is None)  # bf16 products: not float32's text
        # nothing stepped together: a step per character, and per short prime's character before its last
        assert len(long_prime) - 1 > STEPPED_PRIME
        assert batcher.steps == (30 + 20 + 25 + 15) + (3 + 0 + 3 + 0)
    finally:
        batcher.close()


def test_the_queue_counts_jobs_from_submission_to_their_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """max_batch running plus max_queue waiting are accepted, however far the worker has got; one more is refused."""
    import threading

    from rnnkit.lm import CharLM, CharLMConfig, Vocab
    from rnnkit.serve.batching import Batcher, Job, QueueFull

    torch.manual_seed(0)
    vocab = Vocab("abc\n")
    model = CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=8, embedding_size=4), vocab).eval()
    gate = threading.Event()
    slow = model.head.forward

    def blocked(h: torch.Tensor) -> torch.Tensor:
        gate.wait(10)
        return slow(h)

    batcher = Batcher(model, max_batch=2, max_queue=1)  # (its warm-up steps run here, before the head is blocked)
    monkeypatch.setattr(model.head, "forward", blocked)  # the worker blocks inside its first step
    try:
        ended: list[int] = []

        def ender(k: int) -> Callable[[dict[str, Any]], None]:
            def emit(event: dict[str, Any]) -> None:
                if event.get("done"):
                    ended.append(k)
            return emit

        jobs = [Job(ids=[0], length=3, seed=k, emit=ender(k)) for k in range(4)]
        for job in jobs[:3]:
            batcher.submit(job)  # 2 to run, 1 to wait: all accepted, even before the worker has taken any
        with pytest.raises(QueueFull):
            batcher.submit(jobs[3])
        gate.set()
        deadline = time.monotonic() + 10
        while len(ended) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(ended) == [0, 1, 2]
        assert batcher.open_jobs == 0
        batcher.submit(jobs[3])  # room again
    finally:
        gate.set()
        batcher.close()


def test_the_batcher_builds_every_batch_size_it_can_use_before_the_first_request():
    from rnnkit.lm import CharLM, CharLMConfig, CharVocab

    vocab = CharVocab("abc\n")
    model = CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=8, embedding_size=4), vocab).eval()
    for kw, sizes in (({"max_batch": 20}, [1, 2, 4, 8, 16, 32]), ({"max_batch": 4}, [1, 2, 4]),
                      ({"batching": False}, [1])):
        batcher = Batcher(model, **kw)
        try:
            assert sorted(batcher.steppers) == sizes
            assert all(s.weights is batcher.steppers[sizes[-1]].weights for s in batcher.steppers.values())  # one copy
            assert all(not s.z.any() for s in batcher.steppers.values())  # stepped once, then back to a zero state
            assert batcher.min_rows in sizes
            assert batcher._rows_for(1) == batcher.min_rows
            assert batcher._rows_for(sizes[-1]) == sizes[-1]
        finally:
            batcher.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_the_worker_steps_with_the_threads_it_is_given(threads):
    """``rnnkit serve`` keeps its other threads at one torch thread and gives the workers its own count (OpenMP's
    count belongs to each thread, so the worker must set it itself)."""
    from rnnkit.lm import CharLM, CharLMConfig, CharVocab
    from rnnkit.serve.batching import Batcher, Job

    vocab = CharVocab("abc\n")
    model = CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=8, embedding_size=4), vocab).eval()
    import threading

    seen: list[int] = []
    ended = threading.Event()

    def emit(event: dict[str, Any]) -> None:  # called on the worker's thread
        seen.append(torch.get_num_threads())
        if event.get("done"):
            ended.set()

    batcher = Batcher(model, threads=threads)
    try:
        batcher.submit(Job(ids=[0], length=2, seed=0, emit=emit))
        assert ended.wait(30)
    finally:
        batcher.close()
    assert seen == [threads] * 3  # two characters and the end
