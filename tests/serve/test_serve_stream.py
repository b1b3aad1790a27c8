"""How the characters travel from the batcher to a stream: handed over in bursts, written together, ended at the latest
by the last-resort timer. (The contents of a stream are tested end to end in test_serve.py.)"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import torch

from rnnkit.lm import CharLM, CharLMConfig, CharVocab
from rnnkit.serve.app import Inbox, Limits, _data_line, _sse
from rnnkit.serve.batching import Batcher, Event, Job


def _tiny_batcher(**kw: Any) -> tuple[Batcher, CharVocab]:
    torch.manual_seed(0)
    vocab = CharVocab("the quick brown fox\n")
    model = CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=16, embedding_size=8, num_layers=2), vocab).eval()
    return Batcher(model, **kw), vocab


def _hand_overs(flush_every: float, length: int) -> list[list[Event]]:
    """The events of one job, grouped as the batcher handed them over."""
    batcher, vocab = _tiny_batcher(flush_every=flush_every)
    groups: list[list[Event]] = []
    ended = threading.Event()

    def post(deliver: Any, events: list[tuple[Job, Event]]) -> None:
        groups.append([event for _, event in events])
        if any(event.get("done") for _, event in events):
            ended.set()

    batcher.post = post
    try:
        batcher.submit(Job(ids=vocab.encode("the "), length=length, seed=1))
        assert ended.wait(30)
    finally:
        batcher.close()
    return groups


def test_the_first_character_and_the_end_go_at_once_the_rest_in_bursts():
    held = _hand_overs(flush_every=60.0, length=6)  # nothing is due before the end but the first character
    assert [[e.get("index", "end") for e in group] for group in held] == [[0], [1, 2, 3, 4, 5, "end"]]
    every_step = _hand_overs(flush_every=0.0, length=6)
    assert [len(group) for group in every_step] == [1] * 7
    # the same characters either way
    assert [e for g in held for e in g] == [e for g in every_step for e in g]


def _chunks(events: list[Event], limits: Limits, job: Job | None = None) -> list[str]:
    async def run() -> list[str]:
        inbox = Inbox()
        for event in events:
            inbox.put(event)
        return [chunk async for chunk in _sse(job or Job(ids=[0], length=3), inbox, "m", limits)]

    return asyncio.run(run())


def test_waiting_characters_go_out_in_one_write():
    events: list[Event] = [{"text": "a", "index": 0}, {"text": "\n", "index": 1}, {"text": '"', "index": 2},
                           {"done": True, "finish_reason": "length", "produced": 3}]
    (chunk,) = _chunks(events, Limits())
    blocks = chunk.split("\n\n")
    assert blocks[-1] == ""  # the chunk ends with a whole event
    assert [json.loads(b.removeprefix("data: ")) for b in blocks[:3]] == events[:3]
    assert blocks[3] == 'event: end\ndata: {"model": "m", "done": true, "finish_reason": "length", "produced": 3}'


def test_a_stream_nobody_ends_is_ended_by_the_last_resort_timer():
    job = Job(ids=[0], length=3)
    # the worker never answers; the timer is set to limits.timeout + 10 s, here 0.05 s
    (chunk,) = _chunks([], Limits(timeout=-9.95), job)
    assert chunk.startswith("event: end\n")
    end = {"model": "m", "done": True, "finish_reason": "timeout", "produced": 0}
    assert json.loads(chunk.split("data: ")[1]) == end
    assert job.cancelled.is_set()  # so the worker drops it, should it ever look


def test_a_character_line_is_what_json_dumps_writes_for_every_kind_of_character():
    chars = ["a", " ", "\n", "\t", '"', "\\", "/", "\x00", "\x1f", "\x7f", "é", "ß", "€", "\u2028", "😀", "\ud800"]
    for index, char in enumerate(chars):
        event: Event = {"text": char, "index": 1000 * index}
        assert _data_line(event) == f"data: {json.dumps(event)}\n\n"
    with_value: Event = {"text": "x", "index": 3, "value": -0.125}  # not the plain shape: json.dumps writes it
    assert _data_line(with_value) == f"data: {json.dumps(with_value)}\n\n"


def test_the_inbox_hands_a_waiting_reader_everything_put_meanwhile():
    async def run() -> tuple[list[Event], list[Event]]:
        inbox = Inbox()
        reader = asyncio.ensure_future(inbox.take())
        await asyncio.sleep(0)  # the reader is waiting now
        assert not reader.done()
        inbox.put({"text": "a", "index": 0})
        inbox.put({"text": "b", "index": 1})  # both before the reader runs: one take gets both
        first = await reader
        inbox.put({"done": True})
        return first, await inbox.take()

    first, second = asyncio.run(run())
    assert first == [{"text": "a", "index": 0}, {"text": "b", "index": 1}]
    assert second == [{"done": True}]
