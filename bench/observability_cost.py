"""What observability costs one request: the facade calls it makes, in ns.

Replays, in a tight loop, the observability calls a proxied non-streamed chat
request makes once wired into the request path (begin/end of the request,
router start/finish, the routing stage and its worker selection, one upstream
attempt with its span, trace headers, response and breaker outcome, and the
relay stage). Reports nanoseconds per request for each configuration: metrics
alone, metrics plus the access log, metrics plus tracing (spans recorded and
encoded to OTLP protobuf on the spot, the work the exporter thread does, then
dropped, so no network is timed), and the same metric events on
prometheus_client's own children for comparison. Run from the repository root:

    .venv/bin/python bench/observability_cost.py [--requests N]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry, Counter, Histogram

from smg.config import DEFAULT_DURATION_BUCKETS, ObservabilityConfig
from smg.observability.access_log import AccessLog
from smg.observability.logging import JsonFormatter, RedactingFormatter
from smg.observability.metrics import GatewayMetrics
from smg.observability.observer import Observability
from smg.observability.otlp_wire import SpanRecord, encode_span
from smg.observability.tracing import Tracing
from smg.observability.tracing_otlp import OtlpTracer

CHAT = "/v1/chat/completions"
MODEL = "bench-model"
WORKER = "http://127.0.0.1:8000"
HEADERS = [(b"content-type", b"application/json"), (b"x-request-id", b"r-1")]


class _EncodingSink:
    """Encodes each span at once, as the exporter thread would, then drops it."""

    def submit(self, span: SpanRecord) -> None:
        encode_span(span)

    def shutdown(self) -> None:
        return None


def one_request(obs: Observability) -> None:
    """The observability calls of one proxied, non-streamed chat request."""
    metrics = obs.metrics
    scope = obs.begin_request("POST", CHAT, CHAT, HEADERS, "chatcmpl-1")
    started = metrics.router_request_started(CHAT, MODEL, False)
    routing = scope.trace.stage("route")
    t0 = time.perf_counter()
    metrics.stage("route", time.perf_counter() - t0)
    metrics.worker_selected(MODEL, "round_robin")
    routing.end()
    attempt = scope.trace.stage("upstream", client=True)
    attempt.set_attribute("smg.worker_url", WORKER)
    upstream_headers = {"content-type": "application/json"}
    scope.trace.inject(upstream_headers, attempt)
    sent = time.perf_counter()
    relay_started = time.perf_counter()
    metrics.stage("upstream", relay_started - sent)
    metrics.upstream_response(200)
    metrics.breaker_outcome(WORKER, success=True)
    attempt.end()
    scope.model, scope.worker_url = MODEL, WORKER
    with scope.trace.stage("relay"):
        pass
    metrics.stage("relay", time.perf_counter() - relay_started)
    metrics.router_request_finished(CHAT, MODEL, started)
    obs.end_request(scope, 200)


def prometheus_client_request(children: tuple[object, ...]) -> None:
    """The same metric events on prometheus_client's (locked) children."""
    requests, duration, responses, routed, selected, upstream, outcome = children
    requests.inc()  # type: ignore[attr-defined]
    routed.inc()  # type: ignore[attr-defined]
    selected.inc()  # type: ignore[attr-defined]
    upstream.inc()  # type: ignore[attr-defined]
    outcome.inc()  # type: ignore[attr-defined]
    for seconds in (0.0123, 0.0118, 0.00001, 0.002, 0.009):
        duration.observe(seconds)  # type: ignore[attr-defined]
    responses.inc()  # type: ignore[attr-defined]


def _prometheus_client_children() -> tuple[object, ...]:
    registry = CollectorRegistry()
    buckets = DEFAULT_DURATION_BUCKETS

    def counter(name: str) -> object:
        return Counter(name, name, ["a"], registry=registry).labels("x")

    histogram = Histogram("d", "d", ["a"], registry=registry, buckets=buckets)
    return (
        counter("r"),
        histogram.labels("x"),
        counter("s"),
        counter("t"),
        counter("u"),
        counter("v"),
        counter("w"),
    )


def _access_log_to_devnull() -> None:
    handler = logging.FileHandler(os.devnull)
    handler.setFormatter(RedactingFormatter(JsonFormatter()))
    access = logging.getLogger("smg.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False


def configurations() -> dict[str, Callable[[], None]]:
    off = Tracing(ObservabilityConfig())
    traced = Tracing(ObservabilityConfig(), OtlpTracer(_EncodingSink()))
    metrics_only = Observability(GatewayMetrics(), off, AccessLog(enabled=False))
    with_access = Observability(GatewayMetrics(), off, AccessLog(enabled=True))
    with_tracing = Observability(GatewayMetrics(), traced, AccessLog(enabled=False))
    children = _prometheus_client_children()
    return {
        "no observability calls (loop floor)": lambda: None,
        "metrics on, tracing off, access log off": lambda: one_request(metrics_only),
        "metrics on, tracing off, access log on (JSON)": lambda: one_request(
            with_access
        ),
        "metrics on, tracing on (spans encoded, not sent)": lambda: one_request(
            with_tracing
        ),
        "same metric events on prometheus_client": lambda: prometheus_client_request(
            children
        ),
    }


def measure(call: Callable[[], None], requests: int, repeats: int = 5) -> float:
    """Best-of-`repeats` nanoseconds per call over `requests` calls."""
    for _ in range(min(requests, 1000)):
        call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(requests):
            call()
        best = min(best, (time.perf_counter_ns() - start) / requests)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()
    _access_log_to_devnull()

    print("| configuration | ns per request |")
    print("|---|---:|")
    for name, call in configurations().items():
        requests = args.requests // 10 if "tracing on" in name else args.requests
        print(f"| {name} | {measure(call, requests):,.0f} |")


if __name__ == "__main__":
    main()
