"""The simulated KV hand-off between a prefill and a decode worker.

A prefill worker holds each request's "KV" under a room id and serves it on a
bootstrap listener (`GET /kv/<room>`); a decode worker claims the room there,
waiting while the prefill is still running. A room is handed out once, so a
decode leg that names the wrong host, port or room cannot succeed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp
import orjson

from smg.http.server import HttpServer, Request
from smg.sim.errors import JSON_HEADERS, render_status

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
ROOM_PREFIX = "/kv/"


class KvRooms:
    """Rooms of finished prefills, each waiting for its one decode claim."""

    def __init__(self, ttl_s: float, clock: Clock = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.held = 0
        self.claimed = 0

    def hold(self, room: str) -> None:
        """Make `room` claimable and wake a claim already waiting for it."""
        self._expire()
        self._expiry[room] = self._clock() + self._ttl_s
        self.held += 1
        for waiter in self._waiters.pop(room, []):
            if not waiter.done():
                waiter.set_result(None)

    async def claim(self, room: str, timeout_s: float) -> bool:
        """Take `room`, waiting up to `timeout_s` for its prefill; False if never."""
        if self._take(room):
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(room, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(room)
            if waiters and waiter in waiters:
                waiters.remove(waiter)
        return self._take(room)

    @property
    def pending(self) -> int:
        return len(self._expiry)

    def _take(self, room: str) -> bool:
        expiry = self._expiry.pop(room, None)
        if expiry is None or expiry < self._clock():
            return False
        self.claimed += 1
        return True

    def _expire(self) -> None:
        now = self._clock()
        for room in [r for r, t in self._expiry.items() if t < now]:
            del self._expiry[room]


class BootstrapServer:
    """The prefill worker's bootstrap listener: one claim per `GET /kv/<room>`."""

    def __init__(self, rooms: KvRooms, claim_timeout_s: float) -> None:
        self._rooms = rooms
        self._timeout_s = claim_timeout_s
        self._server = HttpServer(self._handle, render_status)

    async def start(self, host: str, port: int) -> int:
        await self._server.start(host, port)
        return self._server.port

    async def close(self) -> None:
        await self._server.close()

    async def _handle(self, request: Request) -> None:
        if request.method != "GET" or not request.path.startswith(ROOM_PREFIX):
            request.respond(404, JSON_HEADERS, b'{"error":"unknown bootstrap path"}')
            return
        room = request.path[len(ROOM_PREFIX) :]
        if await self._rooms.claim(room, self._timeout_s):
            request.respond(200, JSON_HEADERS, orjson.dumps({"room": room}))
        else:
            request.respond(404, JSON_HEADERS, orjson.dumps({"missing_room": room}))


async def claim_remote(
    session: aiohttp.ClientSession, host: str, port: int, room: str, timeout_s: float
) -> bool:
    """Claim `room` from the bootstrap listener at host:port; False on any failure."""
    url = f"http://{host}:{port}{ROOM_PREFIX}{room}"
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s + 1.0)
        async with session.get(url, timeout=timeout) as resp:
            await resp.read()
            return resp.status == 200
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        logger.warning(
            "bootstrap claim failed",
            extra={"host": host, "port": port, "reason": type(exc).__name__},
        )
        return False
