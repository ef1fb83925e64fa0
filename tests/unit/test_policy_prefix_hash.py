"""prefix_hash: the head of the prompt picks the worker, load bounds the choice."""

from __future__ import annotations

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.prefix_hash import PrefixHashPolicy
from smg.workers.worker import READY, Worker

HEAD = "Shared system prompt for every tenant. " * 40


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def chat(text: str) -> RequestFacts:
    body = {"messages": [{"role": "user", "content": text}]}
    return RequestFacts("m", "/v1/chat/completions", body)


def test_requests_sharing_the_head_share_a_worker() -> None:
    ws, p = workers(4), PrefixHashPolicy(RoutingConfig())
    chosen = {p.select(ws, chat(HEAD + f"question {i}")) for i in range(10)}
    assert len(chosen) == 1


def test_only_the_configured_head_counts() -> None:
    ws, p = workers(8), PrefixHashPolicy(RoutingConfig(prefix_token_count=4))
    # 16 characters decide: these differ only after them.
    assert p.select(ws, chat("0123456789abcdefXX")) is p.select(
        ws, chat("0123456789abcdefYY")
    )


def test_overloaded_target_hands_over_to_least_loaded() -> None:
    ws, p = workers(2), PrefixHashPolicy(RoutingConfig())
    target = p.select(ws, chat(HEAD))
    assert target is not None
    target.load = 30  # average 15.5: over max(15.5 * 1.25, 15.5 + 10)
    decision = p.decide(ws, chat(HEAD))
    assert decision is not None and decision.reason == "load_spill"
    assert decision.worker is not target


def test_everyone_overloaded_keeps_the_ring_target() -> None:
    ws, p = (
        workers(2),
        PrefixHashPolicy(RoutingConfig(prefix_hash_balance_abs_threshold=0)),
    )
    target = p.select(ws, chat(HEAD))
    assert target is not None
    for w in ws:
        w.load = 50
    assert p.select(ws, chat(HEAD)) is target


def test_token_ids_and_routing_key_are_keys_too() -> None:
    ws, p = workers(3), PrefixHashPolicy(RoutingConfig())
    tokens = RequestFacts("m", "/generate", {"input_ids": list(range(300))})
    assert dict(p.decide(ws, tokens).details)["key_source"] == "token_prefix"  # type: ignore[union-attr]
    keyed = RequestFacts("m", "/generate", {}, [(b"x-smg-routing-key", b"u1")])
    assert dict(p.decide(ws, keyed).details)["key_source"] == "routing_key"  # type: ignore[union-attr]


def test_no_content_goes_to_least_loaded() -> None:
    ws, p = workers(2), PrefixHashPolicy(RoutingConfig())
    ws[0].load = 2
    decision = p.decide(ws, RequestFacts("m", "/generate", None))
    assert decision is not None and decision.worker is ws[1]
    assert decision.reason == "min_load"
