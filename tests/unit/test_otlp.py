"""The hand-made OTLP encoding, read back with the generated protobuf classes,
and the trace-context rules of the live tracer."""

from __future__ import annotations

import logging
import time

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from smg.observability.otlp_export import BatchExporter, BatchSettings, grpc_sender
from smg.observability.otlp_wire import (
    KIND_CLIENT,
    KIND_SERVER,
    ExportHeader,
    SpanRecord,
    export_request,
)
from smg.observability.tracing_otlp import OtlpTracer, Sampler, parse_traceparent
from tests.procs import free_port

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT = 0x00F067AA0BA902B7
CONTEXT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class ListSink:
    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []

    def submit(self, span: SpanRecord) -> None:
        self.spans.append(span)

    def shutdown(self) -> None:
        return None


def _decode(request: bytes) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(request)


def _attributes(pairs: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in pairs:  # type: ignore[attr-defined]
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind)
    return out


def test_every_field_survives_the_generated_parser() -> None:
    span = SpanRecord(
        TRACE_ID,
        0x1122334455667788,
        PARENT,
        "POST /v1/chat/completions",
        KIND_SERVER,
        1_700_000_000_000_000_001,
        1_700_000_000_123_000_000,
        {"s": "é", "t": True, "f": False, "i": 200, "neg": -3, "x": 0.25},
        trace_state="vendor=1",
        error="upstream_timeout",
    )
    header = ExportHeader.build({"service.name": "smg"}, "smg", "0.1.0")

    decoded = _decode(export_request(header, [span]))

    resource_spans = decoded.resource_spans[0]
    assert _attributes(resource_spans.resource.attributes) == {"service.name": "smg"}
    scope_spans = resource_spans.scope_spans[0]
    assert (scope_spans.scope.name, scope_spans.scope.version) == ("smg", "0.1.0")
    got = scope_spans.spans[0]
    assert got.trace_id == TRACE_ID.to_bytes(16, "big")
    assert got.span_id.hex() == "1122334455667788"
    assert got.parent_span_id == PARENT.to_bytes(8, "big")
    assert got.trace_state == "vendor=1"
    assert (got.name, got.kind) == ("POST /v1/chat/completions", KIND_SERVER)
    assert got.start_time_unix_nano == 1_700_000_000_000_000_001
    assert got.end_time_unix_nano == 1_700_000_000_123_000_000
    assert _attributes(got.attributes) == {
        "s": "é",
        "t": True,
        "f": False,
        "i": 200,
        "neg": -3,
        "x": 0.25,
    }
    assert (got.status.code, got.status.message) == (2, "upstream_timeout")


def test_a_root_span_has_no_parent_and_no_status() -> None:
    span = SpanRecord(TRACE_ID, 7, 0, "route", KIND_CLIENT, 1, 2)
    header = ExportHeader.build({}, "smg", "0")

    got = _decode(export_request(header, [span, span])).resource_spans[0]

    assert len(got.scope_spans[0].spans) == 2
    first = got.scope_spans[0].spans[0]
    assert first.parent_span_id == b"" and first.status.code == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (CONTEXT, (TRACE_ID, PARENT, True)),
        (CONTEXT[:-2] + b"00", (TRACE_ID, PARENT, False)),
        (b" " + CONTEXT + b" ", (TRACE_ID, PARENT, True)),
        # A later version may carry more fields; 00 may not.
        (b"01" + CONTEXT[2:] + b"-more", (TRACE_ID, PARENT, True)),
        (CONTEXT + b"-more", None),
        (b"ff" + CONTEXT[2:], None),
        (CONTEXT.upper(), None),
        (b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01", None),
        (b"00-4bf92f3577b34da6a3ce929d0e0e4736-" + b"0" * 16 + b"-01", None),
        (b"00-4bf92f35-00f067aa0ba902b7-01", None),
        (b"garbage", None),
    ],
)
def test_traceparent_parsing_follows_w3c(
    value: bytes, expected: tuple[int, int, bool] | None
) -> None:
    assert parse_traceparent(value) == expected


def test_a_clients_context_is_continued_with_its_tracestate() -> None:
    sink = ListSink()
    tracer = OtlpTracer(sink)
    headers = [(b"traceparent", CONTEXT), (b"tracestate", b"vendor=1")]

    trace = tracer.start_request("POST", "/v1/completions", headers, "req-1")
    stage = trace.stage("upstream", client=True)
    upstream: dict[str, str] = {"tracestate": "stale"}
    trace.inject(upstream, stage)
    stage.end()
    trace.finish(200)

    request, sent = sink.spans[1], sink.spans[0]
    assert trace.trace_id == f"{TRACE_ID:032x}"
    assert request.parent_id == PARENT and sent.parent_id == request.span_id
    assert upstream == {
        "traceparent": f"00-{TRACE_ID:032x}-{sent.span_id:016x}-01",
        "tracestate": "vendor=1",
    }
    assert request.attributes["http.response.status_code"] == 200


def test_an_unsampled_parent_is_propagated_and_nothing_exported() -> None:
    sink = ListSink()
    tracer = OtlpTracer(sink)
    headers = [(b"traceparent", CONTEXT[:-2] + b"00")]

    trace = tracer.start_request("POST", "/generate", headers, "req-1")
    upstream: dict[str, str] = {}
    with trace.stage("route"):
        pass
    trace.inject(upstream)
    trace.finish(200)

    assert upstream["traceparent"].startswith(f"00-{TRACE_ID:032x}-")
    assert upstream["traceparent"].endswith("-00")
    assert sink.spans == []


def test_a_bad_traceparent_starts_a_new_trace_and_drops_its_tracestate() -> None:
    tracer = OtlpTracer(ListSink())
    headers = [(b"traceparent", b"nonsense"), (b"tracestate", b"vendor=1")]

    trace = tracer.start_request("POST", "/generate", headers, "req-1")
    upstream = {"tracestate": "vendor=1"}
    trace.inject(upstream)

    assert trace.trace_id is not None and trace.trace_id != f"{TRACE_ID:032x}"
    assert "tracestate" not in upstream


def test_server_errors_mark_the_request_span_failed_client_errors_do_not() -> None:
    sink = ListSink()
    tracer = OtlpTracer(sink)

    tracer.start_request("POST", "/v1/models", [], "a").finish(404, "not_found")
    tracer.start_request("POST", "/v1/models", [], "b").finish(503, "no_workers")

    assert [s.error for s in sink.spans] == [None, "no_workers"]
    assert sink.spans[0].attributes["smg.error_code"] == "not_found"


def test_an_unreachable_collector_is_logged_once_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    send, close = grpc_sender(f"127.0.0.1:{free_port()}", timeout_s=0.5)
    settings = BatchSettings(schedule_delay_s=0.01, max_queue=4, max_batch=2)
    exporter = BatchExporter(ExportHeader.build({}, "smg", "0"), send, settings, close)
    caplog.set_level(logging.WARNING, logger="smg.observability.otlp_export")

    for i in range(3):
        exporter.submit(SpanRecord(TRACE_ID, i + 1, 0, "x", KIND_SERVER, 1, 2))
        time.sleep(0.3)
    exporter.shutdown()

    failures = [r for r in caplog.records if "trace export failing" in r.message]
    assert len(failures) == 1
    assert exporter.exported == 0


def test_a_full_queue_drops_and_counts_instead_of_growing() -> None:
    sent: list[bytes] = []
    # A schedule far away: nothing leaves the queue until shutdown.
    settings = BatchSettings(schedule_delay_s=60, max_queue=3, max_batch=100)
    exporter = BatchExporter(ExportHeader.build({}, "smg", "0"), sent.append, settings)

    for i in range(5):
        exporter.submit(SpanRecord(TRACE_ID, i + 1, 0, "x", KIND_SERVER, 1, 2))
    exporter.shutdown()

    assert exporter.dropped == 2 and exporter.exported == 3
    spans = _decode(sent[0]).resource_spans[0].scope_spans[0].spans
    assert [s.span_id.hex() for s in spans] == [f"{i:016x}" for i in (1, 2, 3)]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Sampler(1.0, True)),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, Sampler(0.0, False)),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
             "OTEL_TRACES_SAMPLER_ARG": "0.25"},
            Sampler(0.25, True),
        ),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"},
            Sampler(1.0, False),
        ),
    ],
)  # fmt: skip
def test_samplers_come_from_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: Sampler
) -> None:
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert Sampler.from_env() == expected


def test_a_ratio_keeps_that_share_of_new_traces_and_obeys_parents() -> None:
    sink = ListSink()
    tracer = OtlpTracer(sink, Sampler(0.25, parent_based=True))

    for i in range(4000):
        tracer.start_request("POST", "/generate", [], f"r{i}").finish(200)
    unsampled_parent = [(b"traceparent", CONTEXT[:-2] + b"00")]
    tracer.start_request("POST", "/generate", unsampled_parent, "p0").finish(200)
    tracer.start_request("POST", "/generate", [(b"traceparent", CONTEXT)], "p1").finish(
        200
    )

    kept = [s.attributes["smg.request_id"] for s in sink.spans]
    assert 800 < len(kept) - 1 < 1200
    assert "p1" in kept and "p0" not in kept
