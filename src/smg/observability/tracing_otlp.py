"""The live side of tracing: W3C trace context in, spans out over OTLP/gRPC.

A span here is a small record that a batch exporter encodes in its own
thread; a request with its three stages costs a few microseconds on the event
loop, where the OpenTelemetry SDK cost about a hundred. Sampling reads the
standard `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` variables; the
default follows the parent: a client that sent `traceparent` with the sampled
flag off gets its context propagated to the worker and nothing exported, and
every other request is recorded. An unsampled request still propagates its
context, flagged unsampled, so the worker can agree.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from time import time_ns

from smg import __version__
from smg.observability.otlp_export import (
    BatchExporter,
    BatchSettings,
    SpanSink,
    grpc_sender,
)
from smg.observability.otlp_wire import (
    KIND_CLIENT,
    KIND_INTERNAL,
    KIND_SERVER,
    AttributeValue,
    ExportHeader,
    SpanRecord,
)
from smg.observability.tracing import RequestTrace, Stage

Headers = Sequence[tuple[bytes, bytes]]

_TRACEPARENT = re.compile(
    rb"\s*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\s*"
)
# Tracestate is passed on as the client sent it, within the spec's bound.
_MAX_TRACESTATE = 512


@dataclass(frozen=True, slots=True)
class Sampler:
    """Which traces are recorded, as OpenTelemetry's standard samplers decide.

    `ratio` applies to traces this gateway starts (or every trace, when
    `parent_based` is off): a trace is kept when the low 64 bits of its id
    fall below `ratio` of their range, so every hop that uses the same rule
    keeps the same traces.
    """

    ratio: float = 1.0
    parent_based: bool = True

    @classmethod
    def from_env(cls) -> Sampler:
        name = os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
        parent_based = name.startswith("parentbased_")
        rule = name.removeprefix("parentbased_")
        if rule == "always_off":
            return cls(0.0, parent_based)
        if rule == "traceidratio":
            return cls(_ratio(os.environ.get("OTEL_TRACES_SAMPLER_ARG")), parent_based)
        return cls(1.0, parent_based)

    def sampled(self, trace_id: int, parent_sampled: bool | None) -> bool:
        if self.parent_based and parent_sampled is not None:
            return parent_sampled
        return (trace_id & _LOW_64) < self.ratio * _RANGE_64


_LOW_64 = (1 << 64) - 1
_RANGE_64 = float(1 << 64)


def _ratio(raw: str | None) -> float:
    try:
        value = float(raw) if raw else 1.0
    except ValueError:
        return 1.0
    return min(max(value, 0.0), 1.0)


def parse_traceparent(value: bytes) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) from a W3C `traceparent`, or None."""
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace, parent, flags, rest = match.groups()
    # Version 00 has exactly four fields; later versions may append more.
    if version == b"ff" or (version == b"00" and rest):
        return None
    trace_id, parent_id = int(trace, 16), int(parent, 16)
    if not trace_id or not parent_id:
        return None
    return trace_id, parent_id, bool(int(flags, 16) & 1)


class LiveStage(Stage):
    __slots__ = ("_trace", "span")

    def __init__(self, trace: LiveRequestTrace, span: SpanRecord) -> None:
        self._trace = trace
        self.span = span

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.span.attributes[key] = value

    def end(self, error: str | None = None) -> None:
        span = self.span
        span.end_ns = time_ns()
        span.error = error
        self._trace.submit(span)


class LiveRequestTrace(RequestTrace):
    __slots__ = ("_exporter", "_sampled", "_span")

    def __init__(self, exporter: SpanSink, span: SpanRecord, sampled: bool) -> None:
        self._exporter = exporter
        self._span = span
        self._sampled = sampled

    @property
    def trace_id(self) -> str | None:
        return f"{self._span.trace_id:032x}"

    def stage(self, name: str, client: bool = False) -> Stage:
        parent = self._span
        span = SpanRecord(
            parent.trace_id,
            random.getrandbits(64) or 1,
            parent.span_id,
            name,
            KIND_CLIENT if client else KIND_INTERNAL,
            time_ns(),
            trace_state=parent.trace_state,
        )
        return LiveStage(self, span)

    def inject(self, headers: dict[str, str], stage: Stage | None = None) -> None:
        span = stage.span if isinstance(stage, LiveStage) else self._span
        flags = "01" if self._sampled else "00"
        headers["traceparent"] = f"00-{span.trace_id:032x}-{span.span_id:016x}-{flags}"
        if span.trace_state:
            headers["tracestate"] = span.trace_state
        else:
            headers.pop("tracestate", None)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._span.attributes[key] = value

    def finish(self, status: int, error_code: str = "") -> None:
        span = self._span
        span.end_ns = time_ns()
        span.attributes["http.response.status_code"] = status
        if error_code:
            span.attributes["smg.error_code"] = error_code
        # Server spans mark only 5xx as errors: a 4xx is the client's mistake.
        if status >= 500:
            span.error = error_code or str(status)
        self.submit(span)

    def submit(self, span: SpanRecord) -> None:
        if self._sampled:
            self._exporter.submit(span)


class OtlpTracer:
    """Starts request traces and owns the exporter they feed."""

    def __init__(self, exporter: SpanSink, sampler: Sampler | None = None) -> None:
        self._exporter = exporter
        self._sampler = sampler or Sampler()

    @classmethod
    def over_otlp(cls, endpoint: str) -> OtlpTracer:
        """Export to an OTLP gRPC collector at `host:port` (plaintext) or URL."""
        settings = BatchSettings.from_env()
        send, close = grpc_sender(endpoint, settings.export_timeout_s)
        exporter = BatchExporter(export_header(), send, settings, close)
        return cls(exporter, Sampler.from_env())

    def start_request(
        self, method: str, route: str, headers: Headers, request_id: str
    ) -> RequestTrace:
        trace_id, parent_id, state = 0, 0, ""
        parent_sampled: bool | None = None
        for key, value in headers:
            if key == b"traceparent" and not trace_id:
                parent = parse_traceparent(value)
                if parent is not None:
                    trace_id, parent_id, parent_sampled = parent
            elif key == b"tracestate" and not state:
                state = value.decode("latin-1")[:_MAX_TRACESTATE]
        if not trace_id:
            trace_id, state = random.getrandbits(128) or 1, ""
        sampled = self._sampler.sampled(trace_id, parent_sampled)
        span = SpanRecord(
            trace_id,
            random.getrandbits(64) or 1,
            parent_id,
            f"{method} {route}",
            KIND_SERVER,
            time_ns(),
            attributes={
                "http.request.method": method,
                "http.route": route,
                "smg.request_id": request_id,
            },
            trace_state=state,
        )
        return LiveRequestTrace(self._exporter, span, sampled)

    def shutdown(self) -> None:
        self._exporter.shutdown()


def export_header() -> ExportHeader:
    service = os.environ.get("OTEL_SERVICE_NAME") or "smg"
    resource = {"service.name": service, "service.version": __version__}
    return ExportHeader.build(resource, "smg", __version__)
