"""The HTTP connection mode: pooled upstream connections to HTTP workers.

Connections come from one pool (see h1.py) keeping idle keep-alive connections
per worker. Bodies are sent as the original bytes and answers are read raw (no
decompression, no decoding), so the relay can copy them through untouched.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import orjson

from smg.config import SecurityConfig, WorkerConfig
from smg.workers.h1 import (
    Connection,
    ConnectionFailedError,
    ConnectionPool,
    Drain,
    Origin,
    Sink,
    request_head,
)

# A worker that does not accept a connection within this long is unreachable.
CONNECT_TIMEOUT_S = 10.0

# Upstream headers that describe one hop, not the message: never relayed back.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"date",
        b"server",
    }
)


class UpstreamError(Exception):
    """A worker could not be reached or stopped answering."""

    def __init__(
        self, worker_url: str, reason: str, *, timed_out: bool = False
    ) -> None:
        super().__init__(f"request to worker {worker_url} failed: {reason}")
        self.worker_url = worker_url
        self.timed_out = timed_out


class UpstreamResponse:
    """A worker's answer: status and headers now, body read or streamed later.

    The connection goes back to the pool once the body is complete (`read`, or
    `release` after `chunks`); `close` drops it when the client left midway.
    """

    __slots__ = (
        "_conn",
        "_origin",
        "_pool",
        "_timeout_s",
        "headers",
        "is_streamed",
        "status",
        "worker_url",
    )

    def __init__(
        self,
        pool: ConnectionPool,
        origin: Origin,
        conn: Connection,
        worker_url: str,
        timeout_s: float,
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._conn: Connection | None = conn
        self._timeout_s = timeout_s
        self.worker_url = worker_url
        self.status = conn.status
        headers = conn.headers
        self.headers = [(k, v) for k, v in headers if k not in HOP_BY_HOP]
        # Without a length the body is streamed (SSE and other chunked answers).
        self.is_streamed = not any(k == b"content-length" for k, _ in headers)

    async def read(self) -> bytes:
        parts = []
        async for data in self.chunks():
            parts.append(data)
        self.release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield body bytes as they arrive; raises UpstreamError if cut short."""
        conn = self._conn
        if conn is None:
            return
        while True:
            try:
                data = await conn.next_data(self._timeout_s)
            except ConnectionFailedError as exc:
                self.close()
                raise _upstream_error(self.worker_url, exc) from exc
            if not data:
                return
            yield data

    async def pipe(self, sink: Sink, drain: Drain) -> tuple[float | None, int]:
        """Send the body to `sink` as it arrives, until complete.

        Returns when the first piece went out (perf_counter; None if none) and
        how many pieces did. Raises UpstreamError if the worker cut it short.
        """
        conn = self._conn
        if conn is None:
            return None, 0
        conn.start_pipe(sink)
        try:
            await conn.wait_piped(self._timeout_s, drain)
        except ConnectionFailedError as exc:
            self.close()
            raise _upstream_error(self.worker_url, exc) from exc
        return conn.first_piece_s, conn.pieces

    def close(self) -> None:
        """Drop the connection; used when the client left mid-body."""
        if self._conn is not None:
            self._conn.abort()
            self._conn = None

    def release(self) -> None:
        """Hand the connection back to the pool (dropped unless complete)."""
        if self._conn is not None:
            self._pool.release(self._origin, self._conn)
            self._conn = None


class HttpWorkerClient:
    """Sends requests to HTTP workers over pooled keep-alive connections."""

    def __init__(
        self, config: WorkerConfig, security: SecurityConfig | None = None
    ) -> None:
        self._config = config
        self._security = security or SecurityConfig()
        self._pool: ConnectionPool | None = None

    async def start(self) -> None:
        tls = worker_tls_context(self._security)
        self._pool = ConnectionPool(
            tls if isinstance(tls, ssl.SSLContext) else None,
            CONNECT_TIMEOUT_S,
            self._config.pool_idle_timeout_secs or None,
        )

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    @property
    def pool(self) -> ConnectionPool:
        assert self._pool is not None, "client not started"
        return self._pool

    async def send(
        self,
        method: str,
        worker_url: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
        timeout_s: float | None = None,
    ) -> UpstreamResponse:
        """Send one request and return once the status and headers arrived.

        A request on a reused keep-alive connection that the worker closed
        meanwhile is sent again at once on a fresh one. `timeout_s` bounds each
        wait for the worker (default: --request-timeout-secs).
        """
        pool = self.pool
        origin = pool.origin(worker_url)
        wait_s = timeout_s or self._config.request_timeout_secs
        length = None if body is None else len(body)
        request = request_head(method, origin, path, headers, length)
        if body:
            request += body
        conn = pool.take_idle(origin)
        try:
            if conn is not None:
                try:
                    return await self._exchange(
                        origin, conn, request, worker_url, wait_s
                    )
                except ConnectionFailedError as exc:
                    if not exc.before_answer or exc.timed_out:
                        raise
            conn = await pool.connect(origin)
            return await self._exchange(origin, conn, request, worker_url, wait_s)
        except ConnectionFailedError as exc:
            raise _upstream_error(worker_url, exc) from exc

    async def _exchange(
        self,
        origin: Origin,
        conn: Connection,
        request: bytes,
        worker_url: str,
        wait_s: float,
    ) -> UpstreamResponse:
        conn.send(request)
        try:
            await conn.wait_headers(wait_s)
        except BaseException:
            # Failed, timed out or cancelled (client gone): the exchange is over.
            conn.abort()
            raise
        return UpstreamResponse(self.pool, origin, conn, worker_url, wait_s)

    async def get_json(
        self, worker_url: str, path: str, timeout_s: float, api_key: str | None = None
    ) -> Any:
        """GET a small JSON document; raises UpstreamError on any failure."""
        body = await self.get_bytes(worker_url, path, timeout_s, api_key)
        try:
            return orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(worker_url, "invalid JSON") from exc

    async def get_bytes(
        self, worker_url: str, path: str, timeout_s: float, api_key: str | None = None
    ) -> bytes:
        """GET a small document's body; raises UpstreamError on any failure."""
        status, body = await self._get(worker_url, path, timeout_s, api_key)
        if status >= 400:
            raise UpstreamError(worker_url, f"status {status}")
        return body

    async def probe(
        self, worker_url: str, path: str, timeout_s: float, api_key: str | None = None
    ) -> bool:
        """True when GET `path` answers 2xx within the timeout."""
        try:
            status, _ = await self._get(worker_url, path, timeout_s, api_key)
        except UpstreamError:
            return False
        return 200 <= status < 300

    async def _get(
        self, worker_url: str, path: str, timeout_s: float, api_key: str | None
    ) -> tuple[int, bytes]:
        """GET within `timeout_s` overall: (status, body)."""
        try:
            async with asyncio.timeout(timeout_s):
                resp = await self.send(
                    "GET", worker_url, path, _auth(api_key), timeout_s=timeout_s
                )
                return resp.status, await resp.read()
        except TimeoutError as exc:
            raise UpstreamError(worker_url, "timed out", timed_out=True) from exc


def _upstream_error(worker_url: str, exc: ConnectionFailedError) -> UpstreamError:
    return UpstreamError(worker_url, str(exc), timed_out=exc.timed_out)


def _auth(api_key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def worker_tls_context(security: SecurityConfig) -> ssl.SSLContext | bool:
    """TLS settings for https:// workers: custom CAs and a client identity (mTLS)."""
    if not (security.ca_cert_paths or security.client_cert_path):
        return True
    context = ssl.create_default_context()
    for path in security.ca_cert_paths:
        context.load_verify_locations(path)
    if security.client_cert_path:
        context.load_cert_chain(security.client_cert_path, security.client_key_path)
    return context
