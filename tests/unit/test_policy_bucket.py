"""bucket: each worker owns a range of request sizes; ranges follow the load."""

from __future__ import annotations

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.bucket import BucketPolicy
from smg.workers.worker import READY, Worker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def sized(chars: int) -> RequestFacts:
    return RequestFacts("m", "/generate", {"text": "x" * chars})


def bucket(clock: FakeClock, **overrides: object) -> BucketPolicy:
    return BucketPolicy(RoutingConfig(**overrides), clock)  # type: ignore[arg-type]


def test_initial_ranges_split_4096_evenly() -> None:
    ws, p = workers(4), bucket(FakeClock(), balance_abs_threshold=10**9)
    picks = [p.select(ws, sized(n)) for n in (10, 1500, 2500, 9000)]
    assert picks == ws
    assert p.bounds == [1024.0, 2048.0, 3072.0]


def test_uneven_recent_load_sends_to_least_loaded() -> None:
    ws, p = workers(2), bucket(FakeClock(), balance_abs_threshold=100)
    for _ in range(3):
        p.on_routed(ws[0], sized(500))
    decision = p.decide(ws, sized(10))
    assert decision is not None and decision.worker is ws[1]
    assert decision.reason == "load_balance"


def test_boundaries_move_to_share_recent_load() -> None:
    clock = FakeClock()
    ws, p = workers(2), bucket(clock, balance_abs_threshold=10**9)
    for size in [100] * 20 + [400] * 5:
        worker = p.select(ws, sized(size))
        assert worker is not None
        p.on_routed(worker, sized(size))
    clock.now += 6
    p.select(ws, sized(1))
    assert p.bounds[0] < 2048.0


def test_old_requests_leave_the_window() -> None:
    clock = FakeClock()
    ws, p = workers(2), bucket(clock, balance_abs_threshold=100)
    p.on_routed(ws[0], sized(5000))
    clock.now += 6
    assert p.decide(ws, sized(10)).reason == "bucket"  # type: ignore[union-attr]
