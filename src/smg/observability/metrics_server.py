"""The Prometheus listener: `GET /metrics` on its own address and port.

It runs on the gateway's HTTP server and event loop, not in a thread: a scrape
renders the counters between two requests, so it sees one consistent snapshot
and no update ever needs a lock. Rendering takes a millisecond or two, once per
scrape interval.
"""

from __future__ import annotations

from prometheus_client.exposition import generate_latest
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from smg.http.server import Headers, HttpServer, Request

METRICS_PATH = "/metrics"
# The classic text format, which every Prometheus version reads.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class MetricsServer:
    """Serves the gateway's metrics plus the process's CPU and memory figures."""

    def __init__(self, collector: Collector) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        # Exported as process_*: CPU seconds, resident memory, open fds.
        ProcessCollector(registry=self.registry)
        self._server = HttpServer(self._handle, _render_error)

    @property
    def port(self) -> int:
        return self._server.port

    async def start(self, host: str, port: int) -> None:
        """Bind and serve; raises OSError when the address is taken."""
        await self._server.start(host, port)

    async def close(self) -> None:
        await self._server.close()

    async def _handle(self, request: Request) -> None:
        if request.path != METRICS_PATH:
            request.respond(404, _TEXT, b"not found; metrics are at /metrics\n")
            return
        if request.method != "GET":
            request.respond(405, [*_TEXT, (b"allow", b"GET")], b"")
            return
        body = generate_latest(self.registry)
        request.respond(200, [(b"content-type", CONTENT_TYPE)], body)


def _render_error(status: int, message: str) -> tuple[Headers, bytes]:
    return list(_TEXT), message.encode() + b"\n"
