"""A lean HTTP/1.1 server: an asyncio protocol driven by the httptools parser.

Both the gateway and the simulated engine serve through it. It does only what an
inference front needs: keep-alive, pipelined requests answered in order, bodies
capped while they are read, chunked streaming with write back-pressure, and the
cancellation of a handler when its client goes away. Frameworks were measured
against it (bench/README.md): the per-request cost is the product here.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ssl import SSLContext
from typing import cast

import httptools

logger = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]

_REASONS = {
    100: b"Continue",
    200: b"OK",
    202: b"Accepted",
    204: b"No Content",
    206: b"Partial Content",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    409: b"Conflict",
    413: b"Payload Too Large",
    415: b"Unsupported Media Type",
    422: b"Unprocessable Entity",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}
_STATUS_LINES: dict[int, bytes] = {}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CHUNK_END = b"0\r\n\r\n"


def status_line(status: int) -> bytes:
    """Return the cached `HTTP/1.1 <status> <reason>` line for a status code."""
    line = _STATUS_LINES.get(status)
    if line is None:
        reason = _REASONS.get(status, b"Unknown")
        line = b"HTTP/1.1 %d %s\r\n" % (status, reason)
        _STATUS_LINES[status] = line
    return line


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Bounds one connection enforces while reading requests."""

    max_body_bytes: int = 512 * 1024 * 1024
    # More pipelined requests than this pause reading until the queue drains.
    max_pipelined_requests: int = 16
    # A request head (and a body in progress) must complete this soon; guards
    # against slowloris clients. 0 disables.
    header_read_timeout_s: float = 30.0
    # An idle keep-alive connection is closed after this long. 0 disables.
    idle_timeout_s: float = 90.0
    # How often connections are checked against the two timeouts above.
    timeout_check_interval_s: float = 1.0


class Request:
    """One parsed request and the means to answer it on its connection."""

    __slots__ = (
        "_chunked",
        "_conn",
        "_started",
        "body",
        "extra_headers",
        "headers",
        "http_minor",
        "keep_alive",
        "method",
        "path",
        "query",
        "status",
    )

    def __init__(
        self,
        conn: HttpConnection,
        method: str,
        url: bytes,
        headers: Headers,
        body: bytes,
        keep_alive: bool,
        http_minor: int,
    ) -> None:
        path, _, query = url.partition(b"?")
        self.method = method
        self.path = path.decode("latin-1")
        self.query = query.decode("latin-1")
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.http_minor = http_minor
        # Headers added to whatever response this request gets (CORS, explain).
        self.extra_headers: Headers | None = None
        # The status of the response once it has started; 0 until then.
        self.status = 0
        self._conn = conn
        self._started = False
        self._chunked = False

    def header(self, name: bytes) -> bytes | None:
        """Return the first value of a header (name given in lower case)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def is_disconnected(self) -> bool:
        return self._conn.is_closed

    @property
    def response_started(self) -> bool:
        return self._started

    def respond(self, status: int, headers: Headers, body: bytes = b"") -> None:
        """Send a complete response with a Content-Length."""
        self._started = True
        self.status = status
        parts = [status_line(status)]
        for key, value in headers:
            parts.append(b"%s: %s\r\n" % (key, value))
        if self.extra_headers:
            for key, value in self.extra_headers:
                parts.append(b"%s: %s\r\n" % (key, value))
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"content-length: %d\r\n\r\n" % len(body))
        parts.append(body)
        self._conn.write(b"".join(parts))

    def start_stream(self, status: int, headers: Headers) -> None:
        """Send the head of a streamed response; chunks follow with `write`."""
        self._started = True
        self.status = status
        parts = [status_line(status)]
        for key, value in headers:
            parts.append(b"%s: %s\r\n" % (key, value))
        if self.extra_headers:
            for key, value in self.extra_headers:
                parts.append(b"%s: %s\r\n" % (key, value))
        if self.http_minor >= 1:
            self._chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        else:
            # HTTP/1.0 has no chunked coding: the end of the body is the close.
            self.keep_alive = False
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        self._conn.write(b"".join(parts))

    async def write(self, data: bytes) -> None:
        """Send one piece of a streamed body, waiting while the client lags."""
        if self.write_nowait(data):
            await self._conn.drain()

    def write_nowait(self, data: bytes) -> bool:
        """Send one piece of a streamed body; True when the client lags.

        A caller that gets True should stop producing until `drain` returns.
        """
        if data:
            if self._chunked:
                self._conn.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self._conn.write(data)
        return self._conn.is_write_paused

    async def drain(self) -> None:
        """Wait until the client has taken what was written."""
        await self._conn.drain()

    def end_stream(self) -> None:
        """Finish a streamed body."""
        if self._chunked:
            self._conn.write(_CHUNK_END)


Handler = Callable[[Request], Awaitable[None]]
ErrorResponder = Callable[[int, str], tuple[Headers, bytes]]


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests and runs the handler for each."""

    def __init__(
        self,
        handler: Handler,
        limits: ServerLimits,
        render_error: ErrorResponder,
        connections: set[HttpConnection],
    ) -> None:
        self._handler = handler
        self._limits = limits
        self._render_error = render_error
        self._connections = connections
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: Headers = []
        # One chunk stays bytes; more grow one bytearray, whose large buffer goes
        # back to the OS when freed (many small chunks would fragment the heap).
        self._body: bytes | bytearray = b""
        self._too_large = False
        self._queue: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self.is_closed = False
        # Timeout bookkeeping: the sweeper compares these with the clock, so the
        # hot path only stores a float.
        self._reading_since: float | None = self._loop.time()
        self._idle_since: float | None = None

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.is_closed = True
        self._connections.discard(self)
        self._queue.clear()
        if self._task is not None and not self._task.done():
            # The client is gone: cancelling the handler closes its upstream call.
            self._task.cancel()
        self._wake_drain()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported")
        except httptools.HttpParserError:
            self._reject(400, "malformed HTTP request")

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    # httptools parser callbacks

    def on_message_begin(self) -> None:
        self._reading_since = self._loop.time()
        self._idle_since = None
        self._url = b""
        self._headers = []
        self._body = b""
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        length = _content_length(self._headers)
        if length is not None and length > self._limits.max_body_bytes:
            self._too_large = True
            return
        for key, value in self._headers:
            if key == b"expect" and value.lower() == b"100-continue":
                self.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        if len(self._body) + len(body) > self._limits.max_body_bytes:
            self._too_large = True
            self._body = b""
            return
        if not self._body:
            self._body = body
        elif isinstance(self._body, bytearray):
            self._body += body
        else:
            self._body = bytearray(self._body) + body

    def on_message_complete(self) -> None:
        self._reading_since = None
        if self._too_large:
            # The body was read and dropped, so the answer reaches the client.
            self._reject(413, "request body exceeds the maximum payload size")
            return
        parser = self._parser
        version = parser.get_http_version()
        request = Request(
            self,
            parser.get_method().decode("ascii"),
            self._url,
            self._headers,
            bytes(self._body),
            parser.should_keep_alive(),
            1 if version == "1.1" else 0,
        )
        self._body = b""
        self._queue.append(request)
        if self._task is None:
            self._start_next()
        elif len(self._queue) >= self._limits.max_pipelined_requests:
            self._pause_reading()

    # Writing

    @property
    def is_write_paused(self) -> bool:
        return self._write_paused and not self.is_closed

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self.is_closed:
            self._transport.write(data)

    async def drain(self) -> None:
        if not self.is_write_paused:
            return
        if self._drain_waiter is None or self._drain_waiter.done():
            self._drain_waiter = self._loop.create_future()
        await self._drain_waiter

    def close(self) -> None:
        if self._transport is not None and not self.is_closed:
            self._transport.close()

    # Internals

    def _start_next(self) -> None:
        request = self._queue.popleft()
        self._task = self._loop.create_task(self._run(request))

    async def _run(self, request: Request) -> None:
        try:
            await self._handler(request)
        except asyncio.CancelledError:
            return
        except Exception:
            logger.exception("request handler failed", extra={"path": request.path})
            if not request.response_started:
                request.keep_alive = False
                headers, body = self._render_error(500, "internal gateway error")
                request.respond(500, headers, body)
            self.close()
            return
        finally:
            self._task = None

        if not request.keep_alive:
            self.close()
            return
        if self._reading_paused and not self.is_closed:
            self._reading_paused = False
            if self._transport is not None:
                self._transport.resume_reading()
        if self._queue:
            self._start_next()
        else:
            self._idle_since = self._loop.time()

    def check_timeouts(self, now: float) -> None:
        """Close the connection when a head stalls or it idles too long."""
        limits = self._limits
        if self._task is not None:
            return
        reading = self._reading_since
        if (
            reading is not None
            and limits.header_read_timeout_s
            and now - reading > limits.header_read_timeout_s
        ):
            self._reject(408, "the request was not received in time")
            return
        idle = self._idle_since
        if (
            idle is not None
            and limits.idle_timeout_s
            and now - idle > limits.idle_timeout_s
        ):
            self.close()

    def _reject(self, status: int, message: str) -> None:
        headers, body = self._render_error(status, message)
        self._queue.clear()
        parts = [status_line(status)]
        for key, value in headers:
            parts.append(b"%s: %s\r\n" % (key, value))
        parts.append(b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body))
        parts.append(body)
        if self._task is None:
            self.write(b"".join(parts))
            self.close()
        else:
            # Answer in order: let the running request finish, then reject.
            self._task.add_done_callback(lambda _: self._write_and_close(parts))

    def _write_and_close(self, parts: list[bytes]) -> None:
        self.write(b"".join(parts))
        self.close()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _content_length(headers: Headers) -> int | None:
    for key, value in headers:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class HttpServer:
    """Listens on one address and serves every connection with one handler."""

    def __init__(
        self,
        handler: Handler,
        render_error: ErrorResponder,
        limits: ServerLimits | None = None,
    ) -> None:
        self._handler = handler
        self._render_error = render_error
        self._limits = limits or ServerLimits()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.connections: set[HttpConnection] = set()

    async def start(
        self,
        host: str,
        port: int,
        *,
        sock: socket.socket | None = None,
        reuse_port: bool = False,
        ssl: SSLContext | None = None,
    ) -> None:
        """Bind and start accepting; raises OSError when the address is taken."""
        loop = asyncio.get_running_loop()

        def factory() -> HttpConnection:
            return HttpConnection(
                self._handler, self._limits, self._render_error, self.connections
            )

        if sock is not None:
            self._server = await loop.create_server(
                factory, sock=sock, backlog=2048, ssl=ssl
            )
        else:
            self._server = await loop.create_server(
                factory,
                host,
                port,
                backlog=2048,
                reuse_port=reuse_port or None,
                ssl=ssl,
            )
        self._sweeper = loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._limits.timeout_check_interval_s)
            now = loop.time()
            for conn in list(self.connections):
                conn.check_timeouts(now)

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections keep being served."""
        if self._server is not None:
            self._server.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is None:
            return
        self._server.close()
        for conn in list(self.connections):
            conn.close()
        await self._server.wait_closed()
