"""The routing-key override: sticky sessions wrapped around any policy."""

from __future__ import annotations

import random

import pytest

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.registry import build_policy
from smg.policies.sticky_sessions import StickySessions, conversation_key
from smg.workers.worker import READY, Worker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def rid(value: str) -> RequestFacts:
    return RequestFacts("m", "/generate", {"text": "hi", "rid": value})


def sticky(clock: FakeClock | None = None) -> StickySessions:
    config = RoutingConfig(policy="round_robin", routing_key_override=True)
    policy = build_policy("round_robin", config, random.Random(0), clock or FakeClock())
    assert isinstance(policy, StickySessions)
    return policy


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("conv1_t3_r2", "conv1"),
        ("conv1_t3", "conv1"),
        ("conv1_r1", "conv1"),
        ("c_x", "c_x"),
    ],
)
def test_retry_and_turn_suffixes_are_stripped(raw: str, key: str) -> None:
    assert conversation_key(raw) == key


def test_turns_of_a_conversation_share_a_worker() -> None:
    ws, p = workers(3), sticky()
    first = p.decide(ws, rid("conv_t0"))
    assert first is not None and first.reason == "sticky_new"
    for turn in range(1, 6):
        decision = p.decide(ws, rid(f"conv_t{turn}"))
        assert decision is not None and decision.worker is first.worker
        assert decision.reason == "sticky_key"


def test_without_a_key_the_wrapped_policy_decides() -> None:
    ws, p = workers(2), sticky()
    plain = RequestFacts("m", "/generate", {"text": "hi"})
    assert [p.decide(ws, plain).reason for _ in range(2)] == ["round_robin"] * 2  # type: ignore[union-attr]


def test_over_cap_key_moves_only_to_a_less_loaded_worker() -> None:
    ws, p = workers(2), sticky()
    facts = rid("busy")
    home = p.select(ws, facts)
    assert home is not None
    for _ in range(2):
        p.on_routed(home, facts)
    other = next(w for w in ws if w is not home)
    other.load, home.load = 5, 2
    assert p.decide(ws, facts).worker is home  # type: ignore[union-attr]
    other.load = 0
    moved = p.decide(ws, facts)
    assert moved is not None and moved.reason == "sticky_respill"
    assert moved.worker is other
    p.on_finished(home, facts)
    assert p.select(ws, facts) is other


def test_keys_expire_after_idle_time() -> None:
    clock = FakeClock()
    p = sticky(clock)
    ws = workers(2)
    p.select(ws, rid("c1"))
    clock.now += RoutingConfig().max_idle_secs + 1
    assert p.decide(ws, rid("c1")).reason == "sticky_new"  # type: ignore[union-attr]


def test_keyed_policies_are_not_wrapped() -> None:
    config = RoutingConfig(routing_key_override=True)
    for name in ("manual", "consistent_hashing"):
        assert not isinstance(build_policy(name, config), StickySessions)
