"""HTTP/1.1 to workers: one asyncio protocol per connection, pooled per origin.

The upstream side is half of the gateway's work per request. A general client
(aiohttp) spent about half of the gateway's CPU under load on machinery a proxy
does not need: cookie jars, redirects, decoding, stream readers. Here the
socket's bytes go through httptools' C parser straight into a list the relay
drains, and a request is one `write` of its head and body.

A connection serves one exchange at a time. Reading is paused while more than
`HIGH_WATER` bytes wait for a slow client, so a fast worker cannot fill memory.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from urllib.parse import urlsplit

import httptools

# Body bytes buffered from a worker before reading from it pauses.
HIGH_WATER = 1 << 20

Headers = list[tuple[bytes, bytes]]
# Where a piped body goes: writes one piece, returns True while the reader lags.
Sink = Callable[[bytes], bool]
Drain = Callable[[], Awaitable[None]]
# Headers that say where a body ends; without them it ends with the connection.
_FRAMING = (b"content-length", b"transfer-encoding")


class ConnectionFailedError(Exception):
    """The exchange failed; `timed_out` tells a timeout from a broken connection.

    `before_answer` is true when the worker sent nothing back, so a request on a
    reused connection may be retried on a fresh one.
    """

    def __init__(self, reason: str, *, timed_out: bool, before_answer: bool) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        self.before_answer = before_answer


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a worker url's connections go."""

    key: str
    host: str
    port: int
    tls: bool
    host_header: bytes

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if tls else 80)
        return cls(url, host, port, tls, parts.netloc.encode("latin-1"))


class Connection(asyncio.Protocol):
    """One keep-alive connection to a worker and the exchange on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._last_data = 0.0
        self.closed = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._sink: Sink | None = None
        self.first_piece_s: float | None = None
        self.pieces = 0
        self.status = 0
        self.headers: Headers = []
        self.has_headers = False
        self.done = False
        self.keep_alive = False
        self._body: list[bytes] = []
        # Piped body chunks parsed from the current read, not yet delivered.
        self._pending: list[bytes] = []
        self._buffered = 0
        self._answered = False
        self._error: ConnectionFailedError | None = None

    # The exchange, as the client drives it

    def send(self, request: bytes) -> None:
        assert self._transport is not None
        self._reset()
        self._transport.write(request)

    async def wait_headers(self, timeout_s: float) -> None:
        while not self.has_headers:
            await self._wait(timeout_s)

    async def next_data(self, timeout_s: float) -> bytes:
        """Body bytes received since the last call; b"" once the body is complete."""
        while not self._body:
            if self.done:
                return b""
            await self._wait(timeout_s)
        data = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    def start_pipe(self, sink: Sink) -> None:
        """From now on body bytes go straight to `sink` as they arrive.

        No task wakes up per piece: the socket callback writes to the client.
        """
        self._sink = sink
        if self._body:
            data = b"".join(self._body)
            self._body.clear()
            self._buffered = 0
            self._deliver(data)

    async def wait_piped(self, timeout_s: float, drain: Drain) -> None:
        """Until the piped body is complete; reading pauses while the sink lags."""
        while not self.done:
            if self._paused:
                await drain()
                self._paused = False
                if self._transport is not None:
                    self._transport.resume_reading()
                continue
            await self._wait(timeout_s)

    def _deliver(self, data: bytes) -> None:
        if not self.pieces:
            self.first_piece_s = perf_counter()
        self.pieces += 1
        assert self._sink is not None
        if self._sink(data) and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
            self._wake()

    def abort(self) -> None:
        """Drop the connection: the exchange is abandoned midway."""
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    @property
    def reusable(self) -> bool:
        return self.done and self.keep_alive and not self.closed

    async def _wait(self, timeout_s: float) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self._loop.create_future()
        self._last_data = self._loop.time()
        self._timer = self._loop.call_later(timeout_s, self._check_idle, timeout_s)
        try:
            await waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiter = None
        if self._error is not None:
            raise self._error

    def _check_idle(self, timeout_s: float) -> None:
        """Fail once the worker has been silent for `timeout_s`; else re-arm."""
        idle_s = self._loop.time() - self._last_data
        if idle_s < timeout_s:
            self._timer = self._loop.call_later(
                timeout_s - idle_s, self._check_idle, timeout_s
            )
            return
        self._timer = None
        self._fail("timed out", timed_out=True)
        self.abort()

    def _fail(self, reason: str, *, timed_out: bool = False) -> None:
        if self._error is None and not self.done:
            self._error = ConnectionFailedError(
                reason, timed_out=timed_out, before_answer=not self._answered
            )
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._answered = True
        self._last_data = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"malformed answer: {exc}")
            self.abort()
        finally:
            # Every body chunk this read held goes to the client in one write:
            # an engine that sends one chunk per token, read late under load,
            # costs one syscall per read rather than one per token.
            pending = self._pending
            if pending:
                data = pending[0] if len(pending) == 1 else b"".join(pending)
                pending.clear()
                self._deliver(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.has_headers and not self.done and not self._delimited():
            # No length and not chunked: the body ends where the connection does.
            self.done = True
            self._wake()
            return
        self._fail("connection closed" if exc is None else f"connection lost: {exc}")

    def _delimited(self) -> bool:
        return any(
            k in (b"content-length", b"transfer-encoding") for k, _ in self.headers
        )

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.has_headers = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._sink is not None:
            self._pending.append(body)
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused:
            assert self._transport is not None
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        self.done = True
        self._wake()


class ConnectionPool:
    """Idle keep-alive connections per origin, and new ones on demand."""

    def __init__(
        self,
        tls: ssl.SSLContext | None,
        connect_timeout_s: float,
        idle_timeout_s: float | None,
    ) -> None:
        self._tls = tls
        self._connect_timeout_s = connect_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._idle: dict[str, list[Connection]] = {}
        self._origins: dict[str, Origin] = {}

    def origin(self, url: str) -> Origin:
        origin = self._origins.get(url)
        if origin is None:
            origin = self._origins[url] = Origin.parse(url)
        return origin

    def take_idle(self, origin: Origin) -> Connection | None:
        """A pooled connection that is still open and not idle too long."""
        idle = self._idle.get(origin.key)
        if not idle:
            return None
        oldest_ok = 0.0
        if self._idle_timeout_s:
            oldest_ok = time.monotonic() - self._idle_timeout_s
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since >= oldest_ok:
                return conn
            conn.abort()
        return None

    async def connect(self, origin: Origin) -> Connection:
        loop = asyncio.get_running_loop()
        tls = (self._tls or ssl.create_default_context()) if origin.tls else None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                ),
                self._connect_timeout_s,
            )
        except TimeoutError as exc:
            raise ConnectionFailedError(
                "connect timed out", timed_out=True, before_answer=True
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionFailedError(
                f"connect failed: {exc}", timed_out=False, before_answer=True
            ) from exc
        return conn

    def release(self, origin: Origin, conn: Connection) -> None:
        """Return a connection whose exchange is complete, or drop it."""
        if not conn.reusable:
            conn.abort()
            return
        conn.idle_since = time.monotonic()
        self._idle.setdefault(origin.key, []).append(conn)

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()


def request_head(
    method: str, origin: Origin, path: str, headers: dict[str, str], length: int | None
) -> bytes:
    """The request line and headers, ready to write before the body."""
    lines = [f"{method} {path} HTTP/1.1\r\n".encode("latin-1")]
    lines.append(b"host: " + origin.host_header + b"\r\n")
    for key, value in headers.items():
        lines.append(f"{key}: {value}\r\n".encode("latin-1"))
    if length is not None:
        lines.append(b"content-length: %d\r\n" % length)
    lines.append(b"\r\n")
    return b"".join(lines)
