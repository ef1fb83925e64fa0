"""The live side of tracing, on the OpenTelemetry SDK; imported only when enabled.

Spans are parented explicitly (never through OpenTelemetry's ambient context),
so concurrent requests on one event loop cannot adopt each other's spans.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import (
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    format_trace_id,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)

from smg import __version__
from smg.observability.tracing import RequestTrace, Stage

Headers = Sequence[tuple[bytes, bytes]]
_TRACE_HEADERS = (b"traceparent", b"tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()


class _HeaderGetter(Getter[Headers]):
    """Reads W3C trace headers from the server's (name, value) byte pairs."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        name = key.encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier if k == name]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


_GETTER = _HeaderGetter()


class OtelStage(Stage):
    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def set_attribute(self, key: str, value: str | int | float | bool) -> None:
        self.span.set_attribute(key, value)

    def end(self, error: str | None = None) -> None:
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, error))
        self.span.end()


class OtelRequestTrace(RequestTrace):
    __slots__ = ("_context", "_span", "_tracer")

    def __init__(self, tracer: Tracer, span: Span) -> None:
        self._tracer = tracer
        self._span = span
        self._context = set_span_in_context(span)

    @property
    def trace_id(self) -> str | None:
        return format_trace_id(self._span.get_span_context().trace_id)

    def stage(self, name: str, client: bool = False) -> Stage:
        kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
        span = self._tracer.start_span(name, context=self._context, kind=kind)
        return OtelStage(span)

    def inject(self, headers: dict[str, str], stage: Stage | None = None) -> None:
        context = self._context
        if isinstance(stage, OtelStage):
            context = set_span_in_context(stage.span)
        _PROPAGATOR.inject(headers, context=context)

    def set_attribute(self, key: str, value: str | int | float | bool) -> None:
        self._span.set_attribute(key, value)

    def finish(self, status: int, error_code: str = "") -> None:
        span = self._span
        span.set_attribute("http.response.status_code", status)
        if error_code:
            span.set_attribute("smg.error_code", error_code)
        # Server spans mark only 5xx as errors: a 4xx is the client's mistake.
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, error_code or str(status)))
        span.end()


class OtelTracer:
    """Owns the tracer provider, its batch processor and exporter."""

    def __init__(self, exporter: SpanExporter) -> None:
        resource = Resource.create(
            {"service.name": "smg", "service.version": __version__}
        )
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("smg", __version__)

    @classmethod
    def over_otlp(cls, endpoint: str) -> OtelTracer:
        """Export to an OTLP gRPC collector at `host:port` (plaintext).

        A collector that is down costs only failed exports, retried in the
        background; the request path never waits for it.
        """
        if "://" not in endpoint:
            endpoint = "http://" + endpoint
        return cls(OTLPSpanExporter(endpoint=endpoint, insecure=True))

    def start_request(
        self, method: str, route: str, headers: Headers, request_id: str
    ) -> RequestTrace:
        parent: Context | None = None
        if any(k in _TRACE_HEADERS for k, _ in headers):
            parent = _PROPAGATOR.extract(headers, getter=_GETTER)
        span = self._tracer.start_span(
            f"{method} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": route,
                "smg.request_id": request_id,
            },
        )
        return OtelRequestTrace(self._tracer, span)

    def shutdown(self) -> None:
        self._provider.shutdown()
