"""cache_aware: prefix affinity, the threshold, load spill, tokens, removal."""

from __future__ import annotations

import random
import tracemalloc

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.cache_aware import CacheAwarePolicy
from smg.workers.worker import READY, Worker

SYSTEM_A = "You are a helpful assistant for the billing team. " * 40
SYSTEM_B = "You translate legal contracts from French into English. " * 40


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def chat(text: str) -> RequestFacts:
    body = {"messages": [{"role": "user", "content": text}]}
    return RequestFacts("m", "/v1/chat/completions", body)


def policy(**overrides: object) -> CacheAwarePolicy:
    return CacheAwarePolicy(RoutingConfig(**overrides), random.Random(0))  # type: ignore[arg-type]


def test_repeated_prefix_sticks_to_its_first_worker() -> None:
    ws, p = workers(4), policy()
    first = p.decide(ws, chat(SYSTEM_A + "question 1"))
    assert first is not None and first.reason == "min_load"
    first.worker.load += 1  # still in flight: a miss would go elsewhere
    again = p.decide(ws, chat(SYSTEM_A + "another question"))
    assert again is not None and again.worker is first.worker
    assert again.reason == "prefix_match"
    assert dict(again.details)["match_ratio"] > 0.9


def test_distinct_prefixes_spread_over_workers() -> None:
    ws, p = workers(2), policy()
    a = p.select(ws, chat(SYSTEM_A))
    assert a is not None
    a.load += 1
    b = p.select(ws, chat(SYSTEM_B))
    assert b is not None and b is not a


def test_match_below_threshold_goes_to_least_loaded() -> None:
    ws, p = workers(2), policy(cache_threshold=0.5)
    holder = p.select(ws, chat(SYSTEM_A[:640]))
    assert holder is not None
    holder.load += 1
    # 640 shared characters of about 3000: a ratio near 0.2, under 0.5.
    decision = p.decide(ws, chat(SYSTEM_A[:640] + SYSTEM_B))
    assert decision is not None and decision.worker is not holder
    assert decision.reason == "min_load"


def test_hot_prefix_spills_from_overloaded_holder_and_replicates() -> None:
    ws, p = workers(2), policy(balance_abs_threshold=2, balance_rel_threshold=1.2)
    holder = p.select(ws, chat(SYSTEM_A))
    assert holder is not None
    holder.load = 10
    spilled = p.decide(ws, chat(SYSTEM_A))
    assert spilled is not None and spilled.worker is not holder
    assert spilled.reason == "load_spill"
    holder.load = 0
    spilled.worker.load = 0
    # Both now hold the prefix; either may serve it as a match.
    assert p.decide(ws, chat(SYSTEM_A)).reason == "prefix_match"  # type: ignore[union-attr]


def test_spill_margin_is_capped_for_small_pools() -> None:
    """With the default margin of 64 a pool of mean load 2 could never spill."""
    ws, p = workers(4), policy()
    holder = p.select(ws, chat(SYSTEM_A))
    assert holder is not None
    holder.load = 8  # mean 2: over 1.5 * mean and over mean + max(4, 2 sqrt(2))
    decision = p.decide(ws, chat(SYSTEM_A))
    assert decision is not None and decision.reason == "load_spill"


def test_token_ids_are_matched_by_pages() -> None:
    ws, p = workers(2), policy()
    ids = list(range(1000, 1320))
    body = {"input_ids": ids}
    first = p.decide(ws, RequestFacts("m", "/generate", body))
    assert first is not None
    first.worker.load += 1
    body2 = {"input_ids": [*ids, 7, 8, 9]}
    again = p.decide(ws, RequestFacts("m", "/generate", body2))
    assert again is not None and again.worker is first.worker
    assert len(p.token_index) == 20 and len(p.text_index) == 0


def test_routing_tokens_header_selects_token_matching() -> None:
    ws, p = workers(2), policy()
    header = ",".join(str(i) for i in range(64)).encode()
    facts = RequestFacts(
        "m", "/v1/chat/completions", None, [(b"x-smg-routing-tokens", header)]
    )
    p.decide(ws, facts)
    assert len(p.token_index) == 4


def test_removed_worker_is_never_chosen_from_the_index() -> None:
    ws, p = workers(2), policy()
    holder = p.select(ws, chat(SYSTEM_A))
    assert holder is not None
    survivors = [w for w in ws if w is not holder]
    p.on_workers_changed("m", survivors)
    decision = p.decide(survivors, chat(SYSTEM_A))
    assert decision is not None and decision.reason == "min_load"


def test_index_memory_stays_bounded_under_unique_prompts() -> None:
    ws, p = workers(8), policy(max_tree_size=64 * 2000)
    tracemalloc.start()
    for i in range(4000):
        p.decide(ws, chat(f"unique prompt {i} " + "x" * 1000))
    _, peak_unbounded = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert p.text_index.size_units <= 64 * 2000
    # About 2000 entries of a few words each; far below storing the prompts.
    assert peak_unbounded < 4_000_000


def test_empty_text_goes_to_least_loaded() -> None:
    ws, p = workers(2), policy()
    ws[0].load = 3
    decision = p.decide(ws, RequestFacts("m", "/v1/chat/completions", None))
    assert decision is not None and decision.worker is ws[1]
