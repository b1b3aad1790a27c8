"""Load benchmark of ``rnnkit serve`` on loopback: generation throughput and latency with many clients.

    .venv/bin/python benchmarks/bench_serve.py              # 2 x 512 LSTM, 1/8/32/128 clients, batching on and off
    .venv/bin/python benchmarks/bench_serve.py --paired 5   # then 5 rounds of on against off at 32 clients
    .venv/bin/python benchmarks/bench_serve.py --clients 32 --paired 7 --precision fp32,bf16   # both products
    .venv/bin/python benchmarks/bench_serve.py --hidden-size 32 --clients 1,4 --requests 2 --length 20 --seconds 5
                                                            # a smoke run

For each setting a fresh server process is started (``python -m rnnkit.cli serve``, so the
clients here do not share its interpreter), then N clients each send streaming /v1/generate
requests one after another, up to ``--requests`` each or until ``--seconds`` have passed (the
requests in flight then finish; the server's own timeout bounds them), after one uncounted warm-up request. Reported per
setting:
characters per second over the whole run, and the p50/p95 of the request latency and of the
time to the first character (from sending the request to reading its first SSE event).

The model is a char-LM with seeded random weights (throughput does not depend on what the
weights learned) over the characters of Python's own docs, or ``--run RUN_DIR`` to serve yours.
Run it on a quiet machine: other load changes every number.

``--paired K`` then measures the ratio the issue asks for (batching on against off at 32 clients,
``--paired-clients``) K more times, as pairs: both servers stay up, and each round runs one setting, then
the other, for the same ``--paired-seconds`` each (clients keep sending requests until then; the
ones in flight finish), alternating which goes first. The speed of this shared machine drifts by
±20 % over minutes, and a pair measured seconds apart shares the drift, so the ratio of each pair
and their median say more than one long run of each setting minutes apart.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import machine_summary, random_charlm


@dataclass
class Result:
    clients: int
    batching: bool
    requests: int
    chars: int
    seconds: float
    latencies: list[float]
    first_char: list[float]
    errors: int
    steps: int = 0  # batch steps the server's worker took (from /health)
    server_cpu: float = 0.0  # CPU seconds of the server process (all its threads)
    client_cpu: float = 0.0  # CPU seconds of the clients (this process)

    def row(self) -> str:
        def pct(xs: list[float], q: float) -> str:
            if not xs:
                return "-"
            xs = sorted(xs)
            return f"{1000 * xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]:.0f}"

        return (f"| {self.clients} | {'on' if self.batching else 'off'} | {self.requests} | "
                f"{self.chars / self.seconds:,.0f} | "
                f"{pct(self.latencies, 0.5)} | {pct(self.latencies, 0.95)} | {pct(self.first_char, 0.5)} | "
                f"{pct(self.first_char, 0.95)} | {self.errors} |")

    def costs(self) -> str:
        """Where the time went: characters per worker step, milliseconds per step, CPU per 1,000 characters."""
        per_k = 1000 / max(self.chars, 1)
        return (f"| {self.clients} | {'on' if self.batching else 'off'} | {self.steps} | "
                f"{self.chars / max(self.steps, 1):.1f} | {1000 * self.seconds / max(self.steps, 1):.2f} | "
                f"{per_k * self.server_cpu:.2f} | {per_k * self.client_cpu:.2f} |")



class Server:
    """``rnnkit serve`` in a child process on a free port."""

    def __init__(self, run: Path, batching: bool, max_batch: int, max_queue: int, max_length: int,
                 precision: str) -> None:
        command = [sys.executable, "-m", "rnnkit.cli", "serve", str(run), "--port", "0", "--max-batch", str(max_batch),
                   "--max-queue", str(max_queue), "--max-length", str(max_length), "--timeout", "600", "--drain", "0",
                   "--precision", precision]
        if not batching:
            command.append("--no-batching")
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("serving "):
                self.serving = line.strip()  # what it serves, with the precision "auto" resolved to
            if "listening on" in line:
                self.url = line.split("listening on ")[1].split()[0].rstrip("/")
                return
        raise RuntimeError(f"the server did not start (exit code {self.proc.wait()})")

    def steps(self) -> int:
        with urllib.request.urlopen(self.url + "/health") as r:
            return sum(m["steps"] for m in json.loads(r.read())["load"].values())

    def cpu(self) -> float:
        """CPU seconds of the server process so far (user + system, all threads), from /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


MARK = b'data: {"text"'  # how each character's SSE line starts


async def one_request(url: str, body: dict) -> tuple[float, float, int]:
    """(latency, time to first character, characters) of one streaming request.

    A bare HTTP/1.1 client on asyncio's streams: the clients share the 2 cores with the server, and
    httpx parsing every line cost them about as much CPU as the server spent making the characters.
    Characters are counted in the raw bytes (each is one ``data: {"text"`` line; a read may cut a line
    anywhere, so the few bytes after the last whole mark are kept for the next read).
    """
    host, port = url.split("//")[1].split(":")
    payload = json.dumps(body).encode()
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"POST /v1/generate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (host.encode(), len(payload), payload))
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"{status.decode(errors='replace').strip()}: {(await reader.read())[-200:]!r}")
        first, chars, tail, recent = None, 0, b"", b""
        while received := await reader.read(1 << 16):
            data = tail + received
            n = data.count(MARK)
            if n and first is None:
                first = time.perf_counter() - t0
            chars += n
            tail = data[1 - len(MARK) :]  # too short to hold a whole mark, so nothing is counted twice
            recent = (recent + received)[-1024:]  # where the end event is
        end = recent[recent.rfind(b"event: end") :] if b"event: end" in recent else b""
        if not end or b'"error"' in end:
            raise RuntimeError(f"the stream did not end well: {recent[-200:]!r}")
    finally:
        writer.close()
    return time.perf_counter() - t0, (first if first is not None else float("nan")), chars


async def load(url: str, clients: int, requests: int, seconds: float, length: int, batching: bool) -> Result:
    """N clients sending requests for a while; the cycle collector of this process is off meanwhile.

    This process imported torch (to write the model), so a full collection walks its ~10^5 objects: 114-133 ms
    measured here, during which no client reads, and every stream in flight seemed to wait for the server.
    """
    gc.collect()
    gc.disable()
    try:
        return await _load(url, clients, requests, seconds, length, batching)
    finally:
        gc.enable()


async def _load(url: str, clients: int, requests: int, seconds: float, length: int, batching: bool) -> Result:
    result = Result(clients, batching, 0, 0, 0.0, [], [], 0)
    # one request first, not counted: the server's first step pays for allocations and kernel choice
    await one_request(url, {"prime": "def ", "length": 5, "seed": 0, "stream": True})
    start = time.perf_counter()

    async def client_loop(k: int) -> None:
        for i in range(requests):
            if time.perf_counter() - start > seconds:
                return
            body = {"prime": "def ", "length": length, "seed": 1000 * k + i, "temperature": 0.8, "stream": True}
            try:
                latency, first, chars = await one_request(url, body)
            except (OSError, RuntimeError) as e:
                result.errors += 1
                print(f"  client {k}: {e}", file=sys.stderr)
                continue
            result.requests += 1
            result.chars += chars
            result.latencies.append(latency)
            result.first_char.append(first)

    await asyncio.gather(*(client_loop(k) for k in range(clients)))
    result.seconds = time.perf_counter() - start
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=None, help="a char-LM run directory to serve (default: a random-weight model)")
    parser.add_argument("--hidden-size", type=int, default=512, help="hidden units per layer of the random model")
    parser.add_argument("--num-layers", type=int, default=2, help="layers of the random model")
    parser.add_argument("--clients", default="1,8,32,128", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--requests", type=int, default=4, help="requests per client, at most")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="stop starting requests after this long, per setting")
    parser.add_argument("--length", type=int, default=200, help="characters per request")
    parser.add_argument("--batching", default="on,off", help="on, off or on,off")
    parser.add_argument("--paired", type=int, default=0,
                        help="rounds of on against off at --paired-clients, after the table")
    parser.add_argument("--paired-clients", type=int, default=32, help="clients in the paired rounds")
    parser.add_argument("--paired-seconds", type=float, default=8.0, help="seconds of each setting in a round")
    parser.add_argument("--precision", default="fp32",
                        help="the servers' --precision: fp32, bf16 or auto (the table takes the first of a comma-"
                             "separated list; the paired rounds take each in turn, interleaved)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    precisions = [p.strip() for p in args.precision.split(",")]
    if not set(precisions) <= {"fp32", "bf16", "auto"}:
        parser.error(f"--precision: each of fp32, bf16, auto; got {args.precision!r}")
    print(machine_summary(), flush=True)

    clients = [int(c) for c in args.clients.split(",")]
    modes = [m.strip() == "on" for m in args.batching.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else random_charlm(Path(tmp), args.hidden_size, args.num_layers)
        results = []
        for batching in modes:
            for n in clients:
                server = Server(run, batching, max_batch=max(clients), max_queue=2 * max(clients),
                                max_length=args.length, precision=precisions[0])
                if not results:
                    print(server.serving, flush=True)
                try:
                    steps, cpu, mine = server.steps(), server.cpu(), time.process_time()
                    results.append(asyncio.run(load(server.url, n, args.requests, args.seconds, args.length, batching)))
                    r = results[-1]
                    r.steps, r.server_cpu = server.steps() - steps, server.cpu() - cpu
                    r.client_cpu = time.process_time() - mine
                finally:
                    server.stop()
                print(results[-1].row(), flush=True)
        report(results, clients)
        if args.paired:
            results += paired(run, args.paired_clients, args.paired, args.paired_seconds, args.length, precisions)
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0


def report(results: list[Result], clients: list[int]) -> None:
    """The table of every setting, where the time went, and the ratio on / off per number of clients."""
    print("\n| clients | batching | requests | chars/s | latency p50 ms | p95 ms | first char p50 ms | p95 ms | "
          "errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(r.row())
    print("\nWhere the time went (the warm-up request included): the worker's steps, characters per step (the "
          "batch's occupancy), wall milliseconds per step, CPU seconds per 1,000 characters of the server and of "
          "the clients.\n")
    print("| clients | batching | steps | chars per step | ms per step | server CPU s / 1k chars | "
          "client CPU s / 1k chars |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(r.costs())
    by = {(r.clients, r.batching): r for r in results}
    for n in clients:
        on, off = by.get((n, True)), by.get((n, False))
        if on and off and off.chars:
            print(f"{n} clients: batching on / off = {(on.chars / on.seconds) / (off.chars / off.seconds):.1f}x "
                  "chars/s")


def paired(run: Path, clients: int, rounds: int, seconds: float, length: int, precisions: list[str]) -> list[Result]:
    """``rounds`` pairs of runs (on, off) at ``clients``, each ``seconds`` long, for each precision in turn within a
    round; prints each pair's ratio, then per precision the median ratio and the median rates."""
    servers = {(p, b): Server(run, b, max_batch=clients, max_queue=2 * clients, max_length=length, precision=p)
               for p in precisions for b in (True, False)}
    results: list[Result] = []
    ratios: dict[str, list[float]] = {p: [] for p in precisions}
    rates: dict[tuple[str, bool], list[float]] = {key: [] for key in servers}
    print(f"\nPaired rounds, {clients} clients, {seconds:g} s of each setting per round:\n")
    print("| round | precision | order | on chars/s | off chars/s | on / off | on first char p95 ms |")
    print("|---|---|---|---|---|---|---|")
    try:
        for k in range(rounds):
            order = (False, True) if k % 2 == 0 else (True, False)
            for p in precisions if k % 2 == 0 else precisions[::-1]:
                rate = {}
                for batching in order:
                    r = asyncio.run(load(servers[p, batching].url, clients, 10**6, seconds, length, batching))
                    results.append(r)
                    rate[batching] = (r.chars / r.seconds, r)
                    rates[p, batching].append(r.chars / r.seconds)
                ratios[p].append(rate[True][0] / rate[False][0])
                p95 = sorted(rate[True][1].first_char)[int(0.95 * (len(rate[True][1].first_char) - 1))]
                turns = " then ".join("on" if b else "off" for b in order)
                print(f"| {k + 1} | {p} | {turns} | {rate[True][0]:,.0f} | {rate[False][0]:,.0f} | "
                      f"{ratios[p][-1]:.1f}x | {1000 * p95:.0f} |", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    for p in precisions:
        q1, median, q3 = statistics.quantiles(ratios[p], n=4) if len(ratios[p]) > 1 else ratios[p] * 3
        print(f"\n{clients} clients, {servers[p, True].serving.split('(')[1].split(')')[0]}, on / off over {rounds} "
              f"paired rounds: median {median:.1f}x, quartiles {q1:.1f}x to {q3:.1f}x, lowest {min(ratios[p]):.1f}x, "
              f"highest {max(ratios[p]):.1f}x; {sum(r >= 8 for r in ratios[p])} of {rounds} rounds at 8x or more; "
              f"median chars/s on {statistics.median(rates[p, True]):,.0f}, "
              f"off {statistics.median(rates[p, False]):,.0f}")
    return results


if __name__ == "__main__":
    sys.exit(main())
