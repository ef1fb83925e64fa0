"""Distributed tracing: a span per request and per stage, W3C context to workers.

The request path talks to `Tracing` and `RequestTrace` only. With tracing off
they are shared no-op objects: starting a trace returns the same instance every
time, so a request pays a few method calls and allocates nothing. With
`--enable-trace` the live tracer (imported only then) records the spans and
exports them over OTLP gRPC from a background thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from smg.config import ObservabilityConfig

if TYPE_CHECKING:
    from smg.observability.tracing_otlp import OtlpTracer

Headers = Sequence[tuple[bytes, bytes]]


class Stage:
    """A timed stage of one request (route, upstream attempt, relay).

    This base class is the no-op used when tracing is off. Usable as a
    context manager, which ends it (marked failed when an exception escapes).
    """

    __slots__ = ()

    def set_attribute(self, key: str, value: str | int | float | bool) -> None:
        return None

    def end(self, error: str | None = None) -> None:
        return None

    def __enter__(self) -> Stage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end(None if exc_type is None else exc_type.__name__)


class RequestTrace:
    """The trace of one request; this base class is the no-op one."""

    __slots__ = ()

    @property
    def trace_id(self) -> str | None:
        """The 32-hex-digit trace id, None when tracing is off."""
        return None

    def stage(self, name: str, client: bool = False) -> Stage:
        """Start a child span; `client` marks a call that leaves the gateway."""
        return NOOP_STAGE

    def inject(self, headers: dict[str, str], stage: Stage | None = None) -> None:
        """Set `traceparent`/`tracestate` in upstream headers.

        The parent is `stage` (the upstream attempt) when given, else the
        request span. With tracing off the headers are left as they are, so
        a client's own trace context is forwarded untouched.
        """
        return None

    def set_attribute(self, key: str, value: str | int | float | bool) -> None:
        return None

    def finish(self, status: int, error_code: str = "") -> None:
        """End the request span with the status the client got."""
        return None


NOOP_STAGE = Stage()
NOOP_TRACE = RequestTrace()


class Tracing:
    """Starts request traces; built once at startup from the config."""

    def __init__(
        self, config: ObservabilityConfig, tracer: OtlpTracer | None = None
    ) -> None:
        self._tracer = tracer
        if tracer is None and config.enable_trace:
            from smg.observability.tracing_otlp import OtlpTracer

            self._tracer = OtlpTracer.over_otlp(config.otlp_traces_endpoint)

    @property
    def is_enabled(self) -> bool:
        return self._tracer is not None

    def start_request(
        self, method: str, route: str, headers: Headers, request_id: str
    ) -> RequestTrace:
        """Open the request span, continuing the client's W3C trace if it sent one.

        `route` must be a bounded name (the matched route path), since span
        names are grouped on by tracing backends.
        """
        if self._tracer is None:
            return NOOP_TRACE
        return self._tracer.start_request(method, route, headers, request_id)

    def shutdown(self) -> None:
        """Flush spans not yet exported and stop the exporter; blocks briefly."""
        if self._tracer is not None:
            self._tracer.shutdown()
