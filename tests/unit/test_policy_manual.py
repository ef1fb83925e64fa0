"""manual: sticky keys with backups, idle eviction and assignment modes."""

from __future__ import annotations

import random

import pytest

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.manual import ManualPolicy
from smg.policies.sticky_keys import StickyTable
from smg.workers.worker import READY, Worker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def keyed(key: str) -> RequestFacts:
    return RequestFacts(
        "m", "/v1/chat/completions", {}, [(b"x-smg-routing-key", key.encode())]
    )


def manual(clock: FakeClock, **overrides: object) -> ManualPolicy:
    config = RoutingConfig(max_idle_secs=60, **overrides)  # type: ignore[arg-type]
    return ManualPolicy(config, random.Random(0), clock)


def test_key_is_pinned_on_first_use_and_kept() -> None:
    ws, p = workers(4), manual(FakeClock())
    first = p.decide(ws, keyed("alice"))
    assert first is not None and first.reason == "sticky_new"
    again = [p.decide(ws, keyed("alice")) for _ in range(10)]
    assert all(d is not None and d.worker is first.worker for d in again)
    assert again[0].reason == "sticky_key"  # type: ignore[union-attr]


def test_key_fails_over_to_a_backup_and_returns_home() -> None:
    ws, p = workers(3), manual(FakeClock())
    home = p.select(ws, keyed("bob"))
    assert home is not None
    others = [w for w in ws if w is not home]
    moved = p.decide(others, keyed("bob"))
    assert moved is not None and moved.reason == "sticky_moved"
    assert p.select(others, keyed("bob")) is moved.worker
    assert p.select(ws, keyed("bob")) is home


def test_idle_keys_expire() -> None:
    clock = FakeClock()
    ws, p = workers(8), manual(clock)
    p.select(ws, keyed("carol"))
    clock.now += 59
    assert p.decide(ws, keyed("carol")).reason == "sticky_key"  # type: ignore[union-attr]
    clock.now += 61
    assert p.decide(ws, keyed("carol")).reason == "sticky_new"  # type: ignore[union-attr]


def test_requests_without_a_key_are_not_pinned() -> None:
    ws, p = workers(2), manual(FakeClock())
    decision = p.decide(ws, RequestFacts("m", "/v1/chat/completions", {}))
    assert decision is not None and decision.reason == "no_key"
    assert len(p.table) == 0


@pytest.mark.parametrize("mode", ["min_load", "min_group"])
def test_assignment_modes(mode: str) -> None:
    ws, p = workers(2), manual(FakeClock(), assignment_mode=mode)
    if mode == "min_load":
        ws[0].load = 3
    else:
        p.table.pin("someone", ws[0].url)
    assert p.select(ws, keyed("dave")) is ws[1]


def test_table_keeps_two_workers_per_key_and_counts_groups() -> None:
    table = StickyTable(max_idle_s=60, clock=FakeClock())
    for url in ("a", "b", "c"):
        table.pin("k", url)
    assert table.workers_of("k") == ["a", "c"]
    assert (table.keys_on("a"), table.keys_on("b"), table.keys_on("c")) == (1, 0, 1)
    table.pin("k", "d", first=True)
    assert table.workers_of("k") == ["d", "a"]
