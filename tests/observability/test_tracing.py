"""Tracing against a real OTLP/gRPC receiver, and W3C context reaching workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from smg.config import ObservabilityConfig
from smg.observability.tracing import NOOP_TRACE, Tracing
from smg.observability.tracing_otlp import OtlpTracer
from tests.conftest import last_request
from tests.observability.otlp_receiver import OtlpReceiver
from tests.observability.traffic import chat
from tests.procs import SMG, Proc, free_port, metrics_flags, spawn, wait_http

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
CLIENT_CONTEXT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
CHAT = "/v1/chat/completions"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def traced_gateway(
    receiver: OtlpReceiver, sim_factory: Callable[..., Proc], procs: list[Proc]
) -> Proc:
    sim = sim_factory()
    port = free_port()
    args = [*SMG, "launch", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--worker-urls", sim.url, "--policy", "round_robin"]
    args += ["--enable-trace", "--otlp-traces-endpoint", receiver.endpoint]
    args += metrics_flags()
    # Export every 100 ms instead of every 5 s, so spans arrive while we wait.
    gateway = spawn("gateway-traced", args, port, {"OTEL_BSP_SCHEDULE_DELAY": "100"})
    procs.append(gateway)
    wait_http(gateway, "/readiness", timeout=30)
    gateway.extra["sim"] = sim
    return gateway


def test_tracing_off_hands_out_one_shared_noop_trace() -> None:
    tracing = Tracing(ObservabilityConfig(enable_trace=False))
    headers = {"traceparent": CLIENT_CONTEXT}

    trace = tracing.start_request("POST", CHAT, [], "req-1")
    trace.inject(headers, trace.stage("upstream", client=True))

    assert trace is NOOP_TRACE and trace.trace_id is None
    assert headers == {"traceparent": CLIENT_CONTEXT}


def test_spans_reach_an_otlp_receiver_in_the_clients_trace(
    receiver: OtlpReceiver,
) -> None:
    tracer = OtlpTracer.over_otlp(receiver.endpoint)
    client_headers = [(b"traceparent", CLIENT_CONTEXT.encode())]
    trace = tracer.start_request("POST", CHAT, client_headers, "req-1")
    attempt = trace.stage("upstream", client=True)
    upstream: dict[str, str] = {}

    trace.inject(upstream, attempt)
    attempt.end()
    trace.finish(200)
    tracer.shutdown()

    spans = {s.name: s for s in receiver.wait_for(TRACE_ID, count=2)}
    request, sent = spans[f"POST {CHAT}"], spans["upstream"]
    assert request.parent_span_id == CLIENT_SPAN
    assert sent.parent_span_id == request.span_id
    assert upstream["traceparent"] == f"00-{TRACE_ID}-{sent.span_id}-01"
    assert request.attributes["smg.request_id"] == "req-1"
    assert request.service_name == "smg"


def test_the_clients_trace_id_reaches_the_worker(traced_gateway: Proc) -> None:
    assert chat(traced_gateway, headers={"traceparent": CLIENT_CONTEXT}) == 200

    seen = last_request(traced_gateway.extra["sim"], CHAT)["headers"]["traceparent"]

    assert seen.split("-")[1] == TRACE_ID


def test_the_worker_is_called_from_an_exported_gateway_span(
    traced_gateway: Proc, receiver: OtlpReceiver
) -> None:
    assert chat(traced_gateway, headers={"traceparent": CLIENT_CONTEXT}) == 200

    seen = last_request(traced_gateway.extra["sim"], CHAT)["headers"]["traceparent"]
    spans = receiver.wait_for(TRACE_ID, count=4)

    by_name = {s.name: s for s in spans}
    assert set(by_name) == {f"POST {CHAT}", "route", "upstream", "relay"}
    request = by_name[f"POST {CHAT}"]
    assert request.parent_span_id == CLIENT_SPAN
    assert request.attributes["http.response.status_code"] == 200
    assert all(by_name[n].parent_span_id == request.span_id for n in ("route", "relay"))
    # The worker's parent is the upstream attempt, not the client's span.
    assert seen.split("-")[2] == by_name["upstream"].span_id


def test_a_request_without_context_starts_a_trace_the_worker_joins(
    traced_gateway: Proc, receiver: OtlpReceiver
) -> None:
    assert chat(traced_gateway) == 200

    seen = last_request(traced_gateway.extra["sim"], CHAT)["headers"]["traceparent"]
    _, trace_id, parent_of_worker, _ = seen.split("-")

    spans = receiver.wait_for(trace_id, count=2)
    assert parent_of_worker in {s.span_id for s in spans}
