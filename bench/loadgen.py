"""A load generator for what wrk cannot measure: time to first token, open loop.

It runs in a process of its own (pinned like wrk) and prints one JSON line.

- `streams`: N keep-alive connections, each sending a streamed request and the
  next once the answer ends (closed loop). Time to first token (TTFT) runs from
  sending the request to the first body byte of the first SSE `data:` event.
  Connection i starts i/N of a stream's length late, so arrivals are spread
  over time instead of landing on the gateway as one burst per stream length.
- `poisson`: requests arrive at exponential intervals for a fixed mean rate,
  whatever the answers do (open loop). A request never waits for a free
  connection (the pool grows on demand), so latency, counted from the send, is
  the targets' queueing and not the client's.

httptools parses the answers and uvloop runs the loop, so one core drives a few
thousand requests or tens of thousands of SSE events a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httptools
import uvloop

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procs import pinned
from bench.wrk import WrkResult

MARKER = "LOADGEN_JSON "
# Seeded so every target sees the same arrival times.
POISSON_SEED = 7


class _Connection(asyncio.Protocol):
    """One keep-alive client connection carrying one exchange at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[int] | None = None
        self.first_data_at = 0.0
        self.is_closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.is_closed = True
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._done is not None and not self._done.done():
                self._done.set_exception(exc)

    def on_body(self, body: bytes) -> None:
        if not self.first_data_at and b"data:" in body:
            self.first_data_at = time.perf_counter()

    def on_message_complete(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(self._parser.get_status_code())

    async def exchange(self, request: bytes) -> int:
        """Send one request, wait for its whole answer; returns the status."""
        assert self._transport is not None
        self.first_data_at = 0.0
        self._done = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._done

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _Recorder:
    def __init__(self) -> None:
        self.latencies_us: list[float] = []
        self.ttfts_us: list[float] = []
        self.errors = 0

    async def send(self, conn: _Connection, request: bytes) -> bool:
        """One exchange on conn, recorded; False when the connection is unusable."""
        started = time.perf_counter()
        try:
            status = await conn.exchange(request)
        except (ConnectionError, httptools.HttpParserError):
            self.errors += 1
            return False
        ended = time.perf_counter()
        if status != 200:
            self.errors += 1
            return not conn.is_closed
        self.latencies_us.append((ended - started) * 1e6)
        if conn.first_data_at:
            self.ttfts_us.append((conn.first_data_at - started) * 1e6)
        return not conn.is_closed


async def _connect(host: str, port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(_Connection, host, port)
    return conn


async def run_streams(
    host: str,
    port: int,
    request: bytes,
    connections: int,
    duration_s: float,
    stagger_s: float,
) -> tuple[_Recorder, float]:
    """Closed loop on `connections` connections; returns the records and seconds."""
    recorder = _Recorder()
    started = time.perf_counter()
    deadline = started + duration_s

    async def loop_on_one(index: int) -> None:
        await asyncio.sleep(stagger_s * index / connections)
        conn = await _connect(host, port)
        while time.perf_counter() < deadline:
            if not await recorder.send(conn, request):
                conn.close()
                conn = await _connect(host, port)
        conn.close()

    await asyncio.gather(*(loop_on_one(i) for i in range(connections)))
    return recorder, time.perf_counter() - started


async def run_poisson(
    host: str, port: int, request: bytes, rate: float, duration_s: float
) -> tuple[_Recorder, float]:
    """Open loop at `rate` requests/s; returns the records and seconds."""
    recorder = _Recorder()
    idle: list[_Connection] = []
    rng = random.Random(POISSON_SEED)
    tasks: set[asyncio.Task[None]] = set()

    async def one() -> None:
        conn = idle.pop() if idle else await _connect(host, port)
        if await recorder.send(conn, request):
            idle.append(conn)
        else:
            conn.close()

    started = time.perf_counter()
    due = started
    while due < started + duration_s:
        due += rng.expovariate(rate)
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for conn in idle:
        conn.close()
    return recorder, elapsed


def _percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(recorder: _Recorder, elapsed_s: float) -> dict[str, float]:
    lat = sorted(recorder.latencies_us)
    ttft = sorted(recorder.ttfts_us)
    return {
        "requests": len(lat),
        "duration_s": elapsed_s,
        "errors": recorder.errors,
        "p50_us": _percentile(lat, 0.50),
        "p90_us": _percentile(lat, 0.90),
        "p99_us": _percentile(lat, 0.99),
        "mean_us": sum(lat) / len(lat) if lat else 0.0,
        "ttft_p50_us": _percentile(ttft, 0.50),
        "ttft_p99_us": _percentile(ttft, 0.99),
    }


def http_request(url: str, body: bytes) -> bytes:
    parts = urlsplit(url)
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def run(
    mode: str,
    url: str,
    body_file: Path,
    *,
    connections: int,
    duration_s: float,
    core: int | None,
    rate: float = 0.0,
    stagger_s: float = 0.0,
) -> WrkResult:
    """Run the generator in a child process; its CPU is reported as wrk_cpu_s.

    Raises RuntimeError when it fails or prints no result line.
    """
    argv = [
        sys.executable, str(Path(__file__).resolve()), mode, url, str(body_file),
        "--connections", str(connections), "--duration", str(duration_s),
        "--rate", str(rate), "--stagger", str(stagger_s),
    ]  # fmt: skip
    popen = subprocess.Popen(
        pinned(argv, core), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert popen.stdout is not None  # guaranteed by stdout=PIPE
    output = popen.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(popen.pid, 0)
    popen.returncode = os.waitstatus_to_exitcode(status)
    if popen.returncode != 0:
        raise RuntimeError(f"loadgen failed ({popen.returncode}):\n{output[-2000:]}")
    for line in output.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            return WrkResult(**raw, wrk_cpu_s=usage.ru_utime + usage.ru_stime)
    raise RuntimeError(f"loadgen printed no result line:\n{output[-2000:]}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/loadgen.py")
    parser.add_argument("mode", choices=("streams", "poisson"))
    parser.add_argument("url")
    parser.add_argument("body_file", type=Path)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--stagger", type=float, default=0.0)
    args = parser.parse_args(argv)

    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = http_request(args.url, args.body_file.read_bytes())
    if args.mode == "streams":
        coro = run_streams(
            host, port, request, args.connections, args.duration, args.stagger
        )
    else:
        coro = run_poisson(host, port, request, args.rate, args.duration)
    recorder, elapsed = uvloop.run(coro)
    print(MARKER + json.dumps(_summary(recorder, elapsed)), flush=True)


if __name__ == "__main__":
    main()
