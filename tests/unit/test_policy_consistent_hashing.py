"""consistent_hashing and its ring: keys stay put and move only with their worker."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.consistent_hashing import ConsistentHashingPolicy
from smg.policies.hash_ring import HashRing
from smg.workers.worker import READY, Worker


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def facts(**headers: str) -> RequestFacts:
    pairs = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return RequestFacts("m", "/v1/chat/completions", {}, pairs)


def policy() -> ConsistentHashingPolicy:
    return ConsistentHashingPolicy(RoutingConfig(), random.Random(0))


def test_same_key_always_lands_on_same_worker() -> None:
    ws, p = workers(4), policy()
    chosen = {p.select(ws, facts(x_smg_routing_key="user-7")) for _ in range(20)}
    assert len(chosen) == 1


def test_key_moves_only_when_its_worker_leaves() -> None:
    ws, p = workers(5), policy()
    p.on_workers_changed("m", ws)
    before = {k: p.select(ws, facts(x_smg_routing_key=k)) for k in map(str, range(300))}
    leaving = ws[2]
    rest = [w for w in ws if w is not leaving]
    p.on_workers_changed("m", rest)
    after = {k: p.select(rest, facts(x_smg_routing_key=k)) for k in before}
    moved = [k for k in before if before[k] is not after[k]]
    assert moved and all(before[k] is leaving for k in moved)


def test_keys_spread_evenly_over_workers() -> None:
    ws, p = workers(4), policy()
    counts = Counter(
        p.select(ws, facts(x_smg_routing_key=f"k{i}")).url  # type: ignore[union-attr]
        for i in range(4000)
    )
    assert min(counts.values()) > 650


@pytest.mark.parametrize(
    ("headers", "source"),
    [
        ({"x_smg_routing_key": "k", "authorization": "Bearer a"}, "routing_key"),
        ({"authorization": "Bearer a", "cookie": "s=1"}, "authorization"),
        ({"x_forwarded_for": "10.0.0.1", "cookie": "s=1"}, "x-forwarded-for"),
        ({"cookie": "s=1"}, "cookie"),
    ],
)
def test_key_source_priority(headers: dict[str, str], source: str) -> None:
    decision = policy().decide(workers(3), facts(**headers))
    assert decision is not None and decision.reason == "hash_ring"
    assert dict(decision.details)["key_source"] == source


def test_target_worker_index_routes_directly_or_finds_none() -> None:
    ws, p = workers(3), policy()
    decision = p.decide(ws, facts(x_smg_target_worker="2"))
    assert decision is not None and decision.worker is ws[2]
    assert decision.reason == "target_worker"
    assert p.decide(ws, facts(x_smg_target_worker="3")) is None


def test_no_key_is_random() -> None:
    decision = policy().decide(workers(3), facts())
    assert decision is not None and decision.reason == "random"


def test_overlong_routing_key_is_ignored() -> None:
    decision = policy().decide(workers(3), facts(x_smg_routing_key="k" * 129))
    assert decision is not None and decision.reason == "random"


def test_ring_skips_ineligible_workers_clockwise() -> None:
    ring = HashRing(virtual_nodes=10)
    ring.set_members(["a", "b", "c"])
    first = ring.lookup(b"key", {"a": "a", "b": "b", "c": "c"})
    assert first is not None
    others = {u: u for u in "abc" if u != first}
    second = ring.lookup(b"key", others)
    assert second in others and ring.lookup(b"key", {}) is None
