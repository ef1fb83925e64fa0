"""least_load and power_of_two on polled load reports and in-flight counts."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.least_load import LeastLoadPolicy
from smg.policies.load_report import WorkerLoad
from smg.policies.power_of_two import PowerOfTwoPolicy
from smg.workers.worker import READY, Worker

FACTS = RequestFacts("m", "/v1/chat/completions", {})


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def report(worker: Worker, **fields: float) -> WorkerLoad:
    return WorkerLoad(worker.url, **fields)  # type: ignore[arg-type]


def least_load(**overrides: object) -> LeastLoadPolicy:
    return LeastLoadPolicy(RoutingConfig(**overrides), random.Random(0))  # type: ignore[arg-type]


def test_avoids_worker_reporting_a_long_queue() -> None:
    busy, idle = workers(2)
    p = least_load()
    p.on_loads({busy.url: report(busy, waiting_reqs=12), idle.url: report(idle)})
    assert all(p.select([busy, idle], FACTS) is idle for _ in range(10))


def test_uncached_queued_tokens_outweigh_request_counts() -> None:
    a, b = workers(2)
    p = least_load()
    p.on_loads(
        {
            a.url: report(a, waiting_reqs=1, waiting_uncached_tokens=50_000),
            b.url: report(b, waiting_reqs=3, waiting_uncached_tokens=300),
        }
    )
    decision = p.decide([a, b], FACTS)
    assert decision is not None and decision.worker is b
    assert decision.reason == "min_load" and "expected_wait_ms" in dict(
        decision.details
    )


def test_requests_sent_since_the_report_count_against_a_worker() -> None:
    a, b = workers(2)
    p = least_load()
    p.on_loads({a.url: report(a), b.url: report(b, waiting_reqs=1)})
    a.load = 3  # three sent after the report, still in flight
    assert p.select([a, b], FACTS) is b


def test_kv_pressure_steers_away_from_a_full_cache() -> None:
    a, b = workers(2)
    p = least_load()
    p.on_loads({a.url: report(a, token_usage=0.95), b.url: report(b, token_usage=0.1)})
    assert p.select([a, b], FACTS) is b


def test_ties_are_broken_at_random() -> None:
    ws = workers(3)
    p = least_load()
    p.on_loads({w.url: report(w) for w in ws})
    counts = Counter(p.select(ws, FACTS).url for _ in range(300))  # type: ignore[union-attr]
    assert len(counts) == 3 and min(counts.values()) > 60


def test_without_reports_it_joins_the_shortest_queue() -> None:
    a, b = workers(2)
    a.load = 2
    assert least_load().select([a, b], FACTS) is b


def test_capped_workers_are_skipped_and_all_capped_gives_none() -> None:
    a, b = workers(2)
    p = least_load(least_load_max_waiting_requests=4)
    p.on_loads({a.url: report(a, waiting_reqs=4), b.url: report(b, waiting_reqs=5)})
    assert p.select([a, b], FACTS) is None
    p.on_loads({a.url: report(a, waiting_reqs=1), b.url: report(b, waiting_reqs=5)})
    assert p.select([a, b], FACTS) is a


def test_worker_without_report_is_charged_at_peer_throughput() -> None:
    reported, fresh = workers(2)
    p = least_load()
    p.on_loads({reported.url: report(reported, waiting_reqs=2)})
    assert p.select([reported, fresh], FACTS) is fresh
    fresh.load = 3
    assert p.select([reported, fresh], FACTS) is reported


def power_of_two(metric: str) -> PowerOfTwoPolicy:
    config = RoutingConfig(power_of_two_load_metric=metric)
    return PowerOfTwoPolicy(random.Random(0), config)


@pytest.mark.parametrize("metric", ["expected_wait", "least_requests"])
def test_power_of_two_follows_reported_load(metric: str) -> None:
    busy, idle = workers(2)
    p = power_of_two(metric)
    p.on_loads({busy.url: report(busy, waiting_reqs=9), idle.url: report(idle)})
    decision = p.decide([busy, idle], FACTS)
    assert decision is not None and decision.worker is idle
    assert dict(decision.details)["metric"] == metric


def test_power_of_two_requests_metric_ignores_reports() -> None:
    a, b = workers(2)
    p = power_of_two("requests")
    p.on_loads({a.url: report(a), b.url: report(b, waiting_reqs=9)})
    a.load = 2
    assert p.select([a, b], FACTS) is b


def test_power_of_two_falls_back_to_in_flight_without_reports() -> None:
    busy, idle = workers(2)
    busy.load = 5
    p = power_of_two("expected_wait")
    assert all(p.select([busy, idle], FACTS) is idle for _ in range(20))


def test_in_flight_requests_the_worker_does_not_report_still_count() -> None:
    """Requests held before admission (or on the wire) are invisible to the report."""
    stalled, other = workers(2)
    stalled.load = 5
    p = least_load()
    p.on_loads(
        {
            stalled.url: report(stalled, in_flight_at_poll=5),
            other.url: report(other, running_reqs=1, in_flight_at_poll=1),
        }
    )
    other.load = 1
    assert p.select([stalled, other], FACTS) is other
