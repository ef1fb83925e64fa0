"""Fakes for the simulator's unit tests: a recording sleep and an in-memory
connection that captures what a handler writes, so no test opens a socket."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from smg.http.server import Request
from smg.sim.app import SimApp
from smg.sim.config import LatencyConfig, SimConfig
from smg.sim.context import build_context
from smg.sim.latency import LatencyModel


class RecordingSleep:
    """An injectable sleep that records delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class FakeConnection:
    """Stands in for `HttpConnection`: collects written bytes, tracks closing."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.is_closed = False
        self.is_write_paused = False

    def write(self, data: bytes) -> None:
        if not self.is_closed:
            self.data += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.is_closed = True


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool
    chunked: bool = False
    complete: bool = True
    events: list[bytes] = field(default_factory=list)

    def json(self) -> Any:
        return orjson.loads(self.body)

    def data(self) -> list[Any]:
        """The JSON payloads of `data:` events, without `[DONE]`."""
        payloads = []
        for event in self.events:
            for line in event.split(b"\n"):
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    payloads.append(orjson.loads(line[6:]))
        return payloads


def make_app(
    latency: LatencyConfig | None = None,
    sleep: RecordingSleep | None = None,
    **config: Any,
) -> SimApp:
    """A simulator app; with `sleep`, latency is modelled but nothing waits."""
    sim_config = SimConfig(latency=latency or LatencyConfig(), **config)
    model = LatencyModel(sim_config.latency, sleep or RecordingSleep())
    return SimApp(build_context(sim_config, model))


async def call(
    app: SimApp,
    path: str,
    body: Any = None,
    method: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Reply:
    """Run one request through the app and parse what it wrote."""
    raw = (
        body if isinstance(body, bytes) else b"" if body is None else orjson.dumps(body)
    )
    conn = FakeConnection()
    verb = method or ("GET" if body is None else "POST")
    request = Request(conn, verb, path.encode(), headers or [], raw, True, 1)  # type: ignore[arg-type]
    await app.handle(request)
    return parse_reply(bytes(conn.data), conn.is_closed)


def parse_reply(raw: bytes, closed: bool) -> Reply:
    if not raw:
        return Reply(0, {}, b"", closed, complete=False)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    if headers.get("transfer-encoding") != "chunked":
        return Reply(status, headers, rest, closed)
    body, complete = _dechunk(rest)
    events = [event for event in body.split(b"\n\n") if event]
    return Reply(status, headers, body, closed, True, complete, events)


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(out), True
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out), False
