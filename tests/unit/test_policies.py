"""Policies are pure choices: fed workers and facts, checked without any I/O."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts, routing_text
from smg.policies.cache_aware import CacheAwarePolicy
from smg.policies.passthrough import PassthroughPolicy
from smg.policies.power_of_two import PowerOfTwoPolicy
from smg.policies.random import RandomPolicy
from smg.policies.round_robin import RoundRobinPolicy
from smg.workers.worker import READY, Worker


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def facts(text: str = "") -> RequestFacts:
    body = {"messages": [{"role": "user", "content": text}]} if text else None
    return RequestFacts("m", "/v1/chat/completions", body)


@pytest.mark.parametrize(
    "policy",
    [
        RandomPolicy(),
        RoundRobinPolicy(),
        PowerOfTwoPolicy(),
        PassthroughPolicy(),
        CacheAwarePolicy(RoutingConfig()),
    ],
)
def test_no_workers_gives_none(policy: object) -> None:
    assert policy.select([], facts("x")) is None  # type: ignore[attr-defined]


def test_round_robin_cycles_in_order() -> None:
    ws = workers(3)
    policy = RoundRobinPolicy()
    assert [policy.select(ws, facts()) for _ in range(6)] == ws + ws


def test_random_is_uniform_enough_with_seeded_rng() -> None:
    ws = workers(4)
    policy = RandomPolicy(random.Random(1))
    counts = Counter(policy.select(ws, facts()).url for _ in range(4000))  # type: ignore[union-attr]
    assert min(counts.values()) > 850


def test_power_of_two_prefers_less_loaded_worker() -> None:
    busy, idle = workers(2)
    busy.load = 5
    policy = PowerOfTwoPolicy(random.Random(0))
    assert all(policy.select([busy, idle], facts()) is idle for _ in range(20))


def test_power_of_two_single_worker_is_returned_without_sampling() -> None:
    (only,) = workers(1)
    assert PowerOfTwoPolicy().select([only], facts()) is only


def test_passthrough_picks_first() -> None:
    ws = workers(3)
    assert PassthroughPolicy().select(ws, facts()) is ws[0]


def test_cache_aware_repeated_prefix_sticks_and_distinct_prefixes_spread() -> None:
    ws = workers(2)
    policy = CacheAwarePolicy(RoutingConfig())
    first = policy.select(ws, facts("system prompt A " * 50))
    assert first is not None
    first.load += 1  # still in flight, so a miss would go elsewhere
    assert policy.select(ws, facts("system prompt A " * 50 + "question 2")) is first
    other = policy.select(ws, facts("completely different B " * 50))
    assert other is not first


def test_cache_aware_spills_from_overloaded_holder() -> None:
    ws = workers(2)
    policy = CacheAwarePolicy(
        RoutingConfig(balance_abs_threshold=2, balance_rel_threshold=1.2)
    )
    holder = policy.select(ws, facts("hot prefix " * 50))
    assert holder is not None
    holder.load = 10
    assert policy.select(ws, facts("hot prefix " * 50)) is not holder


def test_routing_text_joins_message_contents() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
        ]
    }
    assert routing_text(body) == "a b"
    assert routing_text({"prompt": ["x", "y"]}) == "x y"
    assert routing_text({"input_ids": [1, 2]}) == "1 2"
