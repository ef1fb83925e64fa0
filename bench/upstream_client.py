"""Micro-benchmark of the gateway's upstream HTTP client candidates against nginx.

Each client sends the same small POST over pooled keep-alive connections and
reads the whole answer: aiohttp (configured as src/smg/workers/http_client.py
does), httpx2 (the maintained httpx line) and a bare asyncio Protocol around
httptools' response parser, which shows what is left once a library's layers
are gone. Run: `.venv/bin/python bench/upstream_client.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httptools  # type: ignore[import-untyped]
import uvloop

if __package__ in (None, ""):
    # Run as a script: make the repository root importable so `bench` resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scenarios import CHAT_PATH, chat_body
from bench.upstreams import start_nginx

BODY = chat_body(stream=False, max_tokens=16).encode()
HEADERS = {"Content-Type": "application/json"}

Post = Callable[[], Awaitable[bytes]]


class _RawConnection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("upstream closed"))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        body, self._body = b"".join(self._body), []
        if waiter is not None and not waiter.done():
            waiter.set_result(body)

    async def request(self, raw: bytes) -> bytes:
        assert self.transport is not None  # set by connection_made
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self._waiter


class RawClient:
    """A LIFO pool of _RawConnection: reuse the most recently idle socket."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._idle: list[_RawConnection] = []
        self._head = (
            f"POST {CHAT_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\n"
        ).encode()

    async def post(self, body: bytes) -> bytes:
        conn = self._idle.pop() if self._idle else await self._connect()
        raw = b"%sContent-Length: %d\r\n\r\n%s" % (self._head, len(body), body)
        answer = await conn.request(raw)
        self._idle.append(conn)
        return answer

    async def _connect(self) -> _RawConnection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_RawConnection, self._host, self._port)
        return conn

    async def close(self) -> None:
        for conn in self._idle:
            if conn.transport is not None:
                conn.transport.close()


async def _aiohttp_client(url: str) -> tuple[Post, Callable[[], Awaitable[Any]]]:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=False),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
    )

    async def post() -> bytes:
        async with session.post(url, data=BODY, headers=HEADERS) as resp:
            return await resp.read()

    return post, session.close


async def _httpx_client(url: str) -> tuple[Post, Callable[[], Awaitable[Any]]]:
    import httpx2

    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=None)
    client = httpx2.AsyncClient(limits=limits)

    async def post() -> bytes:
        response = await client.post(url, content=BODY, headers=HEADERS)
        return response.content

    return post, client.aclose


async def _raw_client(url: str) -> tuple[Post, Callable[[], Awaitable[Any]]]:
    host, port = url.split("//")[1].split("/")[0].split(":")
    client = RawClient(host, int(port))

    async def post() -> bytes:
        return await client.post(BODY)

    return post, client.close


CLIENTS = {
    "aiohttp": _aiohttp_client,
    "httpx2": _httpx_client,
    "raw httptools": _raw_client,
}


@dataclass(frozen=True)
class Sample:
    requests: int
    wall_s: float
    cpu_s: float

    @property
    def wall_us_per_request(self) -> float:
        return self.wall_s / self.requests * 1e6

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.wall_s


async def _measure(name: str, url: str, concurrency: int, duration_s: float) -> Sample:
    post, close = await CLIENTS[name](url)
    try:
        await _drive(post, concurrency, 0.3)  # opens the pool's connections
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        requests = await _drive(post, concurrency, duration_s)
        wall = time.perf_counter() - wall_before
        return Sample(requests, wall, time.process_time() - cpu_before)
    finally:
        await close()


async def _drive(post: Post, concurrency: int, duration_s: float) -> int:
    deadline = time.perf_counter() + duration_s
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await post()
            done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def run_case(name: str, url: str, concurrency: int, duration_s: float) -> Sample:
    # A fresh uvloop per case, as the gateway runs on uvloop.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_measure(name, url, concurrency, duration_s))


def _median(samples: list[Sample], metric: Callable[[Sample], float]) -> str:
    values = sorted(metric(sample) for sample in samples)
    return f"{statistics.median(values):,.0f} ({values[0]:,.0f}..{values[-1]:,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s cases, 2 reps")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    duration_s, reps = (1.0, 2) if args.quick else (2.0, 5)

    cores = sorted(os.sched_getaffinity(0))
    pin = len(cores) >= 2
    results: dict[tuple[str, int], list[Sample]] = {}
    with tempfile.TemporaryDirectory(prefix="smg-bench-client-") as tmp:
        nginx, base_url = start_nginx(Path(tmp), cores[0] if pin else None)
        try:
            if pin:
                os.sched_setaffinity(0, {cores[1]})
            url = base_url + CHAT_PATH
            for rep in range(reps):
                for name in CLIENTS:
                    for concurrency in (1, args.concurrency):
                        sample = run_case(name, url, concurrency, duration_s)
                        results.setdefault((name, concurrency), []).append(sample)
                print(f"rep {rep + 1}/{reps} done", file=sys.stderr, flush=True)
        finally:
            nginx.stop()

    _print_table(results, args.concurrency, pin)


def _print_table(
    results: dict[tuple[str, int], list[Sample]], concurrency: int, pin: bool
) -> None:
    print(
        f"| client | 1 coroutine: µs/request | CPU µs/request | {concurrency} "
        f"concurrent: req/s | CPU µs/request |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in CLIENTS:
        single, many = results[(name, 1)], results[(name, concurrency)]
        cells = [
            _median(single, lambda s: s.wall_us_per_request),
            _median(single, lambda s: s.cpu_us_per_request),
            _median(many, lambda s: s.requests_per_s),
            _median(many, lambda s: s.cpu_us_per_request),
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    where = "client on its own core, nginx on another" if pin else "unpinned"
    print(f"\nmedian (min..max) over repetitions; {where}; uvloop.")


if __name__ == "__main__":
    main()
