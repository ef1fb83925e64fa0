"""The HTTP connection mode: pooled upstream connections to HTTP workers.

One aiohttp session serves every worker, keeping idle keep-alive connections per
host. Bodies are sent as the original bytes and answers are read raw (no
decompression, no decoding), so the relay can copy them through untouched.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from smg.config import SecurityConfig, WorkerConfig

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
    """A worker's answer: status and headers now, body read or streamed later."""

    __slots__ = ("_resp", "headers", "is_streamed", "status", "worker_url")

    def __init__(self, resp: aiohttp.ClientResponse, worker_url: str) -> None:
        self._resp = resp
        self.worker_url = worker_url
        self.status = resp.status
        self.headers = [
            (key.lower(), value)
            for key, value in resp.raw_headers
            if key.lower() not in HOP_BY_HOP
        ]
        # Without a length the body is streamed (SSE and other chunked answers).
        self.is_streamed = resp.content_length is None

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except TimeoutError as exc:
            raise UpstreamError(self.worker_url, "timed out", timed_out=True) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(self.worker_url, type(exc).__name__) from exc
        finally:
            self._resp.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield body bytes as they arrive; raises UpstreamError if cut short."""
        content = self._resp.content
        try:
            while True:
                data = await content.readany()
                if not data:
                    return
                yield data
        except TimeoutError as exc:
            raise UpstreamError(self.worker_url, "timed out", timed_out=True) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(self.worker_url, type(exc).__name__) from exc

    def close(self) -> None:
        """Drop the connection; used when the client left mid-body."""
        self._resp.close()

    def release(self) -> None:
        self._resp.release()


class HttpWorkerClient:
    """Sends requests to HTTP workers over one pooled session."""

    def __init__(
        self, config: WorkerConfig, security: SecurityConfig | None = None
    ) -> None:
        self._config = config
        self._security = security or SecurityConfig()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        idle = self._config.pool_idle_timeout_secs or None
        connector = aiohttp.TCPConnector(
            limit=0,
            keepalive_timeout=idle,
            ttl_dns_cache=300,
            enable_cleanup_closed=False,
            ssl=worker_tls_context(self._security),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=10,
                sock_read=self._config.request_timeout_secs,
            ),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "client not started"
        return self._session

    async def send(
        self,
        method: str,
        worker_url: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
    ) -> UpstreamResponse:
        """Send one request and return once the status and headers arrived.

        A connection error before any answer is retried once at once: a pooled
        keep-alive connection may have been closed by the worker meanwhile.
        """
        url = worker_url + path
        for attempt in (0, 1):
            try:
                resp = await self.session.request(
                    method, url, data=body, headers=headers, allow_redirects=False
                )
                return UpstreamResponse(resp, worker_url)
            except TimeoutError as exc:
                raise UpstreamError(worker_url, "timed out", timed_out=True) from exc
            except aiohttp.ServerDisconnectedError as exc:
                if attempt == 1:
                    raise UpstreamError(worker_url, "disconnected") from exc
            except aiohttp.ClientError as exc:
                raise UpstreamError(worker_url, type(exc).__name__) from exc
        raise AssertionError("unreachable")

    async def get_json(
        self, worker_url: str, path: str, timeout_s: float, api_key: str | None = None
    ) -> Any:
        """GET a small JSON document; raises UpstreamError on any failure."""
        try:
            async with self.session.get(
                worker_url + path,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                headers=_auth(api_key),
            ) as resp:
                if resp.status >= 400:
                    raise UpstreamError(worker_url, f"status {resp.status}")
                body = await resp.read()
        except TimeoutError as exc:
            raise UpstreamError(worker_url, "timed out", timed_out=True) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(worker_url, type(exc).__name__) from exc
        try:
            return orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(worker_url, "invalid JSON") from exc

    async def probe(
        self, worker_url: str, path: str, timeout_s: float, api_key: str | None = None
    ) -> bool:
        """True when GET `path` answers 2xx within the timeout."""
        try:
            async with self.session.get(
                worker_url + path,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                headers=_auth(api_key),
            ) as resp:
                await resp.read()
                return 200 <= resp.status < 300
        except (TimeoutError, aiohttp.ClientError):
            return False


def _auth(api_key: str | None) -> dict[str, str] | None:
    return {"authorization": f"Bearer {api_key}"} if api_key else None


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
