"""Admission under load: full queue 429, queue timeout 503, rate limit enforced."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import MODEL, set_faults
from tests.procs import Proc

CHAT = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
).encode()


def post(gateway: Proc) -> tuple[int, dict[str, str], dict]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    conn.request(
        "POST", "/v1/chat/completions", CHAT, {"content-type": "application/json"}
    )
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    return resp.status, headers, json.loads(body) if body else {}


def burst(gateway: Proc, n: int) -> list[tuple[int, dict[str, str], dict]]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: post(gateway), range(n)))


def test_full_queue_is_429_with_retry_after(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    set_faults(sim, delay_ms=400)
    gateway = gateway_factory(
        sim, flags=("--max-concurrent-requests", "1", "--queue-size", "0")
    )
    results = burst(gateway, 4)
    refused = [r for r in results if r[0] == 429]
    assert len(refused) == 3 and any(r[0] == 200 for r in results)
    _, headers, body = refused[0]
    assert headers["retry-after"] == "2"
    assert body["error"]["code"] == "admission_queue_full"
    assert body["error"]["type"] == "rate_limit_error"


def test_queue_timeout_is_503(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    set_faults(sim, delay_ms=600)
    gateway = gateway_factory(
        sim,
        flags=(
            "--max-concurrent-requests",
            "1",
            "--queue-size",
            "10",
            "--queue-timeout-secs",
            "0.2",
        ),
    )
    results = burst(gateway, 3)
    timed_out = [r for r in results if r[0] == 503]
    assert len(timed_out) == 2
    assert timed_out[0][2]["error"]["code"] == "admission_queue_timeout"
    assert "retry-after" in timed_out[0][1]


def test_queued_requests_are_served_when_capacity_frees(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    set_faults(sim, delay_ms=50)
    gateway = gateway_factory(
        sim, flags=("--max-concurrent-requests", "2", "--queue-size", "50")
    )
    assert [r[0] for r in burst(gateway, 12)] == [200] * 12


def test_rate_limit_is_enforced(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = gateway_factory(
        sim_factory(),
        flags=("--rate-limit-tokens-per-second", "2", "--queue-timeout-secs", "0.3"),
    )
    statuses = [r[0] for r in burst(gateway, 10)]
    # Two tokens in the bucket plus at most one refill inside the wait window.
    assert 2 <= statuses.count(200) <= 4
    assert statuses.count(503) == 10 - statuses.count(200)
