"""A bounded fuzz run against ``rnnkit serve`` in its own process: random and malformed bodies, headers,
methods, paths and lengths, some cut off mid-request or mid-stream. Nothing may answer 5xx, the server
must answer /health afterwards, and its memory must come back to where it was.
"""

from __future__ import annotations

import gc
import json
import os
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import pytest
from serve_support import serve_process, train_tiny_charlm

# bounded: ~5 s on a busy two-core machine; raise it for a longer run
REQUESTS = int(os.environ.get("RNNKIT_FUZZ_REQUESTS", "250"))
KEYS = ["model", "prime", "length", "temperature", "top_k", "top_p", "seed", "stream", "watch", "inputs"]


def junk_value(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Callable[[], Any]] = [
        lambda: rng.randint(-10, 60), lambda: rng.choice([0, -1, 2**31, 2**63, 2**64, 10**30]),
        lambda: rng.uniform(-3, 3),
        lambda: rng.choice([1e308, -1e308, 1e-320, 0.0]), lambda: rng.choice([True, False, None]),
        lambda: "".join(rng.choice('the dog "\n\\\x00é😀ZQ{}[]') for _ in range(rng.randint(0, 30))),
        lambda: rng.choice(["lstm", "nope", "", "charlm", "h", "c", "f", "x"]),
    ]
    if depth < 2:
        choices += [lambda: [junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))],
                    lambda: {rng.choice(KEYS + ["layer", "name", "unit", "zz"]): junk_value(rng, depth + 1)
                             for _ in range(rng.randint(0, 4))}]
    return rng.choice(choices)()


def junk_body(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.55:  # a JSON object with plausible keys and random values
        body = {rng.choice(KEYS): junk_value(rng) for _ in range(rng.randint(0, 6))}
        if rng.random() < 0.5:
            body["length"] = rng.randint(0, 40)  # keep most generations short
        body.pop("stream", None) if rng.random() < 0.7 else None
        return json.dumps(body).encode()
    if kind < 0.7:  # valid JSON cut short
        text = json.dumps({"prime": "the ", "length": 5, "seed": rng.randint(0, 9)}).encode()
        return text[: rng.randint(0, len(text) - 1)]
    if kind < 0.8:  # random bytes, mostly not UTF-8
        return bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 200)))
    if kind < 0.9:  # JSON that is not an object
        return json.dumps(junk_value(rng)).encode()
    return b"{" * rng.randint(1, 5000)  # deep or long nonsense


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    run = train_tiny_charlm(tmp_path_factory.mktemp("fuzz") / "lstm", steps=3)
    proc, url = serve_process(str(run), "--max-length", "200", "--max-body", "8192", "--timeout", "10")
    yield proc, url
    proc.terminate()
    proc.wait(20)


def raw(port: int, data: bytes, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        if not read:
            return b""  # hang up without reading the answer
        sock.settimeout(0.3)  # a request that declared more body than it sent makes the server wait: hang up then
        try:
            return sock.recv(64)
        except TimeoutError:
            return b""


def test_fuzz_never_5xx_and_the_server_recovers(server):
    proc, url = server
    port = int(url.rsplit(":", 1)[1])
    memory = psutil.Process(proc.pid)
    rng = random.Random(1234)
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=url, timeout=15) as client:
        for _ in range(20):  # warm up: the first requests allocate what every later one reuses
            client.post("/v1/generate", json={"length": 30, "seed": 1})
        gc.collect()
        before = memory.memory_info().rss
        for i in range(REQUESTS):
            what = rng.random()
            if what < 0.75:
                path = rng.choice(["/v1/generate"] * 6
                                  + ["/v1/predict", "/v1/models", "/health", "/", "/docs", "/v1/nope", "/%ff"])
                method = rng.choice(["POST"] * 8 + ["GET", "PUT", "DELETE"])
                header_sets: list[dict[str, Any]] = [
                    {}, {"content-type": "application/json"}, {"content-type": "text/plain; charset=latin-1"},
                    {"content-type": "multipart/form-data; boundary=x"}, {"x-junk": b"\xc3\xa9\xff"},
                    {"accept": "text/event-stream"},
                ]
                headers = rng.choice(header_sets)
                r = client.request(method, path, content=junk_body(rng), headers=headers)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                assert r.status_code < 500, (i, method, path, r.status_code, r.text[:300])
            elif what < 0.85:  # a stream the client walks away from after a few characters
                with client.stream("POST", "/v1/generate", json={"length": 200, "stream": True, "seed": i}) as r:
                    assert r.status_code == 200
                    for n, _ in enumerate(r.iter_lines()):
                        if n > rng.randint(0, 10):
                            break
            else:  # bytes no client library would send
                body = junk_body(rng)
                declared = rng.choice([len(body), len(body) + 10, max(0, len(body) - 3), "x", -1, 10**12])
                head = f"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n".encode()
                answer = raw(port, rng.choice([head + body, head + body[:3], b"GARBAGE\r\n\r\n", head]),
                             read=rng.random() < 0.8)
                assert not answer.startswith(b"HTTP/1.1 5"), (i, answer)
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        # every stream has ended: nothing is left in the batch or the queue
        deadline = time.monotonic() + 10
        while client.get("/health").json()["load"]["lstm"]["active"] and time.monotonic() < deadline:
            time.sleep(0.1)
        load = client.get("/health").json()["load"]["lstm"]
        assert load == {**health.json()["load"]["lstm"], "active": 0, "waiting": 0, "steps": load["steps"]}
        assert client.post("/v1/generate", json={"length": 10, "seed": 1}).json()["finish_reason"] == "length"
    after = memory.memory_info().rss
    assert after < before + 40 * 2**20, f"memory grew from {before / 2**20:.0f} MB to {after / 2**20:.0f} MB"
    print(f"fuzz: {REQUESTS} requests, statuses {dict(sorted(statuses.items()))}, rss {before / 2**20:.0f} -> "
          f"{after / 2**20:.0f} MB")
    assert statuses.get(200, 0) > 10, statuses
    assert sum(v for k, v in statuses.items() if 400 <= k < 500) > REQUESTS // 3, statuses
