"""/metrics of a real gateway in front of `smg sim`, read with prometheus_client.

Names, types and label names are the original's, so its dashboards and alerts
keep working; counters are compared before and after real traffic.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest

from tests.conftest import MODEL, set_faults
from tests.observability.scrape import Exposition, scrape
from tests.observability.traffic import chat, get, post
from tests.procs import SMG, Proc, free_port

ROUTE = {"router_type", "backend_type", "connection_mode", "model", "endpoint"}
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "smg_http_requests": ("counter", {"method", "path"}),
    "smg_http_request_duration_seconds": ("histogram", {"method", "path"}),
    "smg_http_responses": ("counter", {"path", "status_code", "error_code"}),
    "smg_http_connections_active": ("gauge", set()),
    "smg_admission_inflight": ("gauge", set()),
    "smg_admission_queue_depth": ("gauge", set()),
    "smg_admission_queue_rejected": ("counter", {"reason"}),
    "smg_router_requests": ("counter", ROUTE | {"streaming"}),
    "smg_router_request_duration_seconds": ("histogram", ROUTE),
    "smg_router_request_errors": ("counter", ROUTE | {"error_type"}),
    "smg_router_upstream_responses": (
        "counter",
        {"router_type", "status_code", "error_code"},
    ),
    "smg_router_upstream_send_retries": ("counter", {"router_type"}),
    "smg_router_stage_duration_seconds": ("histogram", {"router_type", "stage"}),
    "smg_router_ttft_seconds": (
        "histogram",
        {"router_type", "backend_type", "model", "endpoint"},
    ),
    "smg_worker_pool_size": ("gauge", {"worker_type", "connection_mode", "model"}),
    "smg_worker_requests_active": ("gauge", {"worker"}),
    "smg_worker_requests": ("counter", {"worker", "model"}),
    "smg_worker_health": ("gauge", {"worker"}),
    "smg_worker_health_checks": ("counter", {"worker_type", "result"}),
    "smg_worker_selection": (
        "counter",
        {"worker_type", "connection_mode", "model", "policy"},
    ),
    "smg_worker_errors": ("counter", {"worker_type", "connection_mode", "error_type"}),
    "smg_worker_cb_state": ("gauge", {"worker"}),
    "smg_worker_cb_transitions": ("counter", {"worker", "from", "to"}),
    "smg_worker_cb_outcomes": ("counter", {"worker", "outcome"}),
    "smg_worker_cb_consecutive_failures": ("gauge", {"worker"}),
    "smg_worker_cb_consecutive_successes": ("gauge", {"worker"}),
    "smg_worker_retries": ("counter", {"worker_type", "endpoint"}),
    "smg_worker_retries_exhausted": ("counter", {"worker_type", "endpoint"}),
    "smg_worker_retry_backoff_seconds": ("histogram", {"attempt"}),
}


def _delta(before: Exposition, after: Exposition) -> Callable[..., float]:
    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    return delta


def test_exposition_uses_the_original_names_types_and_labels(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = gateway_factory(sim_factory())
    assert chat(gateway) == 200

    exposition = scrape(gateway)

    for name, (kind, labels) in EXPECTED.items():
        assert exposition.types.get(name) == kind, name
        assert exposition.label_names[name] <= labels, name
    assert exposition.value("process_resident_memory_bytes") > 0


def test_worker_series_follow_the_fleet_and_its_traffic(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory(), sim_factory()]
    gateway = gateway_factory(*sims, flags=("--policy", "round_robin"))
    _wait_all_ready(gateway, len(sims))

    for _ in range(6):
        assert chat(gateway) == 200
    exposition = scrape(gateway)

    assert exposition.value("smg_worker_pool_size", model=MODEL) == 2
    assert exposition.value("smg_worker_requests_total", model=MODEL) == 6
    for sim in sims:
        assert exposition.value("smg_worker_requests_total", worker=sim.url) == 3
        assert exposition.value("smg_worker_requests_active", worker=sim.url) == 0
        assert exposition.value("smg_worker_health", worker=sim.url) == 1
        assert exposition.value("smg_worker_cb_state", worker=sim.url) == 0


def test_request_counters_move_by_the_requests_sent(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = gateway_factory(sim_factory(), flags=("--policy", "round_robin"))
    before = scrape(gateway)

    statuses = [chat(gateway) for _ in range(4)]
    statuses += [chat(gateway, stream=True), chat(gateway, model="not-served")]
    statuses.append(post(gateway, "/v1/chat/completions", b"{bad")[0])
    statuses.append(get(gateway, "/no/such/path"))
    assert statuses == [200, 200, 200, 200, 200, 404, 400, 404]
    delta = _delta(before, scrape(gateway))

    chat_path = {"path": "/v1/chat/completions"}
    assert delta("smg_http_requests_total", method="POST", **chat_path) == 7
    assert delta("smg_http_requests_total", method="GET", path="other") == 1
    assert delta("smg_http_request_duration_seconds_count", **chat_path) == 7
    ok = {"status_code": "200", "error_code": ""}
    assert delta("smg_http_responses_total", **chat_path, **ok) == 5
    assert delta("smg_http_responses_total", status_code="400", **chat_path) == 1
    assert (
        delta(
            "smg_http_responses_total",
            status_code="404",
            error_code="model_not_found",
            **chat_path,
        )
        == 1
    )
    routed = {"model": MODEL, "endpoint": "chat"}
    assert delta("smg_router_requests_total", streaming="false", **routed) == 4
    assert delta("smg_router_requests_total", streaming="true", **routed) == 1
    assert delta("smg_router_requests_total", model="other") == 1
    assert delta("smg_router_request_duration_seconds_count", **routed) == 5
    assert delta("smg_router_upstream_responses_total", status_code="200") == 5
    assert delta("smg_worker_selection_total", model=MODEL, policy="round_robin") == 5
    assert delta("smg_router_ttft_seconds_count", **routed) == 1
    assert delta("smg_router_stream_chunks_total", **routed) >= 1


def test_retries_and_breaker_outcomes_are_counted(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    flags = ("--retry-max-retries", "3", "--retry-initial-backoff-ms", "1")
    gateway = gateway_factory(sim, flags=flags)
    set_faults(sim, fail_rate=1.0, fail_status=503)
    before = scrape(gateway)

    assert chat(gateway) == 503
    delta = _delta(before, scrape(gateway))

    assert delta("smg_worker_retries_total", endpoint="chat") == 2
    assert delta("smg_router_upstream_send_retries_total") == 2
    assert delta("smg_worker_retries_exhausted_total", endpoint="chat") == 1
    assert delta("smg_worker_retry_backoff_seconds_count", attempt="1") == 1
    assert delta("smg_router_upstream_responses_total", status_code="503") == 3
    outcomes = {"worker": sim.url, "outcome": "failure"}
    assert delta("smg_worker_cb_outcomes_total", **outcomes) == 3


def test_duration_histograms_use_the_configured_buckets(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    flags = ("--prometheus-duration-buckets", "5", "0.05", "0.5")
    gateway = gateway_factory(sim_factory(), flags=flags)
    assert chat(gateway, stream=True) == 200

    exposition = scrape(gateway)

    configured = {"0.05", "0.5", "5", "+Inf"}
    assert exposition.buckets("smg_http_request_duration_seconds") == configured
    assert exposition.buckets("smg_router_request_duration_seconds") == configured
    assert exposition.buckets("smg_router_ttft_seconds") == configured


def test_a_taken_metrics_port_stops_startup_naming_the_flag(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    taken = gateway_factory(sim).extra["metrics_port"]
    args = ["launch", "--host", "127.0.0.1", "--port", str(free_port())]
    args += ["--worker-urls", sim.url, "--prometheus-host", "127.0.0.1"]
    args += ["--prometheus-port", str(taken)]

    result = subprocess.run([*SMG, *args], capture_output=True, text=True, timeout=30)

    assert result.returncode == 1
    assert "--prometheus-port" in result.stderr


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--prometheus-port", "0"), "--prometheus-port"),
        (("--prometheus-duration-buckets", "1", "-2"), "--prometheus-duration-buckets"),
    ],
)
def test_invalid_metrics_flags_are_refused(
    flags: tuple[str, ...], fragment: str
) -> None:
    args = [*SMG, "launch", "--worker-urls", "http://127.0.0.1:9", *flags]

    result = subprocess.run(args, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2 and fragment in result.stderr


def _wait_all_ready(gateway: Proc, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while scrape(gateway).value("smg_worker_health") < count:
        assert time.monotonic() < deadline, "workers never all became healthy"
        time.sleep(0.1)
