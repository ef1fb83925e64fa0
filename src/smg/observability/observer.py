"""Observability: metrics, tracing and the access log behind one request hook.

The top request handler calls `begin_request` when a request arrives and
`end_request` once its answer is out; everything per request (HTTP metrics,
the request span, the access line, the request-id scope of log records) hangs
off those two calls. Deeper layers report their own events to `metrics` and
the current trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter

from smg.config import GatewayConfig
from smg.observability.access_log import AccessLog
from smg.observability.metrics import GatewayMetrics
from smg.observability.scope import RequestScope
from smg.observability.tracing import Tracing

Headers = Sequence[tuple[bytes, bytes]]
# Span name of requests to paths no route serves.
UNMATCHED_ROUTE = "other"


@dataclass(slots=True)
class Observability:
    """What the request path reports to; built once per gateway."""

    metrics: GatewayMetrics
    tracing: Tracing
    access_log: AccessLog

    @classmethod
    def build(cls, config: GatewayConfig) -> Observability:
        return cls(
            metrics=GatewayMetrics(config.observability.duration_buckets),
            tracing=Tracing(config.observability),
            access_log=AccessLog(config.logging.access_log),
        )

    def begin_request(
        self,
        method: str,
        path: str,
        route: str | None,
        headers: Headers,
        request_id: str,
    ) -> RequestScope:
        """Count the request, open its span and make it the task's scope.

        `route` is the matched route path, or None when no route matches (the
        path is then reported as `other`, keeping label values bounded).
        """
        started = self.metrics.http_request_started(method, route)
        trace = self.tracing.start_request(
            method, route or UNMATCHED_ROUTE, headers, request_id
        )
        return RequestScope(request_id, method, path, route, started, trace).enter()

    def end_request(self, scope: RequestScope, status: int) -> None:
        """Record the answer the client got; call once, in the same task."""
        error_code = scope.error_code
        self.metrics.http_request_finished(
            scope.method, scope.route, status, error_code, scope.started_s
        )
        scope.trace.finish(status, error_code)
        self.access_log.record(
            scope.request_id,
            scope.method,
            scope.path,
            status,
            perf_counter() - scope.started_s,
            error_code,
            scope.model,
            scope.worker_url,
        )
        scope.exit()
