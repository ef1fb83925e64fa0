"""The metrics facade in-process: what one call per event does to the exposition."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from smg.config import DEFAULT_DURATION_BUCKETS
from smg.observability.labels import LabelCap
from smg.observability.metrics import GatewayMetrics
from tests.observability.scrape import Exposition, parse

CHAT = "/v1/chat/completions"
# The `le` values of the original's exposition, spelled exactly.
ORIGINAL_BOUNDS = [
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
    "5", "10", "15", "30", "45", "60", "90", "120", "180", "240", "300", "480",
    "900", "1200", "1800", "2700", "3600", "5400", "7200", "+Inf",
]  # fmt: skip


def render(metrics: GatewayMetrics) -> Exposition:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.collector)
    return parse(generate_latest(registry).decode())


def serve_one(metrics: GatewayMetrics, model: str | None, status: int = 200) -> None:
    started = metrics.http_request_started("POST", CHAT)
    routed = metrics.router_request_started(CHAT, model, streaming=False)
    metrics.upstream_response(status)
    metrics.router_request_finished(CHAT, model, routed)
    metrics.http_request_finished("POST", CHAT, status, "", started)


def test_default_buckets_are_spelled_as_the_original_spells_them() -> None:
    metrics = GatewayMetrics(DEFAULT_DURATION_BUCKETS)
    serve_one(metrics, "m")

    exposition = render(metrics)

    bounds = [
        s.labels["le"]
        for s in exposition.samples["smg_http_request_duration_seconds_bucket"]
    ]
    assert bounds == ORIGINAL_BOUNDS


def test_an_observation_on_a_bound_falls_in_that_bucket() -> None:
    metrics = GatewayMetrics((0.5, 1.0))
    metrics.stage("route", 0.5)

    exposition = render(metrics)

    counts = {
        s.labels["le"]: s.value
        for s in exposition.samples["smg_router_stage_duration_seconds_bucket"]
    }
    assert counts == {"0.5": 1, "1": 1, "+Inf": 1}


def test_counters_move_once_per_event() -> None:
    metrics = GatewayMetrics()
    for _ in range(3):
        serve_one(metrics, "m")
    serve_one(metrics, None, status=503)

    exposition = render(metrics)

    assert exposition.value("smg_http_requests_total", path=CHAT) == 4
    assert exposition.value("smg_http_responses_total", status_code="200") == 3
    assert exposition.value("smg_router_requests_total", model="m") == 3
    assert exposition.value("smg_router_requests_total", model="unknown") == 1
    assert exposition.value("smg_router_upstream_responses_total") == 4
    assert exposition.value("smg_admission_inflight") == 0


def test_model_labels_beyond_the_cap_collapse_to_other() -> None:
    metrics = GatewayMetrics(label_cap=2)
    for i in range(5):
        serve_one(metrics, f"model-{i}")
        metrics.worker_selected(f"model-{i}", "random")

    exposition = render(metrics)

    models = {
        s.labels["model"] for s in exposition.samples["smg_router_requests_total"]
    }
    assert models == {"model-0", "model-1", "other"}
    assert exposition.value("smg_router_requests_total", model="other") == 3
    assert exposition.value("smg_worker_selection_total", model="other") == 3


def test_unmatched_paths_are_reported_as_other() -> None:
    metrics = GatewayMetrics()
    started = metrics.http_request_started("BREW", None)
    metrics.http_request_finished("BREW", None, 404, "unknown_url", started)

    exposition = render(metrics)

    assert (
        exposition.value("smg_http_requests_total", method="other", path="other") == 1
    )
    assert exposition.value("smg_http_responses_total", error_code="unknown_url") == 1


def test_label_cap_keeps_admitted_values() -> None:
    cap = LabelCap(limit=1)

    assert [cap("a"), cap("b"), cap("a")] == ["a", "other", "a"]


def test_breaker_series_of_a_removed_worker_are_dropped() -> None:
    metrics = GatewayMetrics()
    metrics.breaker_transition("http://w:1", "closed", "open")
    metrics.breaker_outcome("http://w:1", success=False)

    metrics.forget_worker("http://w:1")

    exposition = render(metrics)
    assert "smg_worker_cb_transitions_total" not in exposition.samples
    assert "smg_worker_cb_outcomes_total" not in exposition.samples
