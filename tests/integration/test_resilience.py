"""Failover under real faults: retries, circuit breakers and health checks."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import MODEL, http_json, set_faults, sim_stats
from tests.procs import Proc

CHAT = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
).encode()
FAST_RETRY = ("--retry-initial-backoff-ms", "1", "--retry-max-backoff-ms", "5")


def post(gateway: Proc) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    conn.request(
        "POST", "/v1/chat/completions", CHAT, {"content-type": "application/json"}
    )
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, resp.getheader("x-smg-routed-worker-id") or ""


def chat_count(sim: Proc) -> int:
    return int(sim_stats(sim)["requests"].get("/v1/chat/completions", 0))


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_503_is_retried_onto_a_healthy_worker(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    bad, good = sim_factory(), sim_factory()
    set_faults(bad, fail_rate=1.0, fail_status=503)
    gateway = gateway_factory(bad, good, flags=("--policy", "round_robin", *FAST_RETRY))
    results = [post(gateway) for _ in range(6)]
    assert all(status == 200 and url == good.url for status, url in results)
    assert chat_count(bad) >= 1


def test_with_retries_disabled_the_client_sees_the_error(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    bad, good = sim_factory(), sim_factory()
    set_faults(bad, fail_rate=1.0, fail_status=503)
    gateway = gateway_factory(
        bad, good, flags=("--policy", "round_robin", "--disable-retries")
    )
    statuses = {post(gateway)[0] for _ in range(4)}
    assert statuses == {200, 503}


def test_refused_connections_are_retried_elsewhere(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    dying, good = sim_factory(), sim_factory()
    gateway = gateway_factory(
        dying, good, flags=("--policy", "round_robin", *FAST_RETRY)
    )
    dying.stop()
    assert all(post(gateway) == (200, good.url) for _ in range(4))


def test_500_from_the_only_worker_is_returned_at_once(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    set_faults(sim, fail_rate=1.0, fail_status=500)
    gateway = gateway_factory(sim, flags=FAST_RETRY)
    assert post(gateway)[0] == 500
    assert chat_count(sim) == 1


def test_breaker_opens_then_half_opens_and_recovers(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    bad, good = sim_factory(), sim_factory()
    gateway = gateway_factory(
        bad,
        good,
        flags=(
            "--policy",
            "round_robin",
            "--disable-retries",
            "--cb-failure-threshold",
            "3",
            "--cb-timeout-duration-secs",
            "1",
            "--cb-success-threshold",
            "1",
        ),
    )
    set_faults(bad, fail_rate=1.0, fail_status=500)
    for _ in range(12):
        post(gateway)
    assert chat_count(bad) == 3  # open after three failures: no more traffic

    set_faults(bad, reset=True)
    time.sleep(1.1)
    assert wait_until(lambda: post(gateway)[1] == bad.url, timeout=5)
    before = chat_count(bad)
    for _ in range(6):
        post(gateway)
    assert chat_count(bad) - before >= 2  # closed again: back in rotation


def test_unhealthy_worker_is_excluded_and_readmitted(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    flaky, good = sim_factory(), sim_factory()
    gateway = gateway_factory(
        flaky,
        good,
        flags=(
            "--policy",
            "round_robin",
            "--health-check-interval-secs",
            "0.2",
            "--health-failure-threshold",
            "1",
            "--health-success-threshold",
            "1",
        ),
    )

    def status_of(sim: Proc) -> str:
        workers = http_json(gateway.url + "/workers")["workers"]
        return next(w["status"] for w in workers if w["url"] == sim.url)

    set_faults(flaky, fail_health=True)
    assert wait_until(lambda: status_of(flaky) == "not_ready")
    assert all(post(gateway)[1] == good.url for _ in range(4))
    set_faults(flaky, fail_health=False)
    assert wait_until(lambda: status_of(flaky) == "ready")
    assert {post(gateway)[1] for _ in range(4)} == {flaky.url, good.url}


def test_thousand_requests_survive_a_worker_failing_half_its_requests(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(3)]
    set_faults(sims[0], fail_rate=0.5, fail_status=503)
    gateway = gateway_factory(*sims, flags=("--policy", "round_robin", *FAST_RETRY))
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: post(gateway)[0], range(1000)))
    assert statuses.count(200) == 1000
