"""Each policy's observable behaviour through a real gateway and real `smg sim`s."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import MODEL, http_json, last_request, set_faults
from tests.observability.scrape import scrape
from tests.procs import Proc

LONG_A = "You are the billing assistant of a large utility company. " * 40
LONG_B = "You translate maritime insurance contracts into plain English. " * 40


def chat(text: str, max_tokens: int = 2) -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
    }


def post(
    gateway: Proc, body: dict[str, object], headers: dict[str, str] | None = None
) -> dict[str, str]:
    """POST a chat completion; return the answer's headers (lower-case names)."""
    req = urllib.request.Request(
        gateway.url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        resp.read()
        return {k.lower(): v for k, v in resp.getheaders()}


def routed(gateway: Proc, body: dict[str, object], **headers: str) -> str:
    return post(gateway, body, headers)["x-smg-routed-worker-id"]


def explained(gateway: Proc, body: dict[str, object], **headers: str) -> dict[str, str]:
    """The `x-smg-explain` answer header as a dict of its fields."""
    value = post(gateway, body, {"x-smg-explain": "1", **headers})["x-smg-explain"]
    return dict(part.split("=", 1) for part in value.split("; "))


def test_repeated_long_prefix_sticks_and_distinct_prefixes_spread(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(3)]
    gateway = gateway_factory(*sims, flags=("--policy", "cache_aware"))
    prefixes = [f"Tenant {n} system prompt, long and unique. " * 40 for n in range(6)]
    first_homes = [routed(gateway, chat(p)) for p in prefixes]
    assert Counter(first_homes) == Counter({s.url: 2 for s in sims})
    for prefix, home in zip(prefixes, first_homes, strict=True):
        assert {routed(gateway, chat(prefix + f"q{i}")) for i in range(3)} == {home}


def test_explain_header_says_why_and_only_when_asked(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = gateway_factory(sim_factory(), sim_factory())
    assert "x-smg-explain" not in post(gateway, chat(LONG_A))
    again = explained(gateway, chat(LONG_A + "more"))
    assert again["policy"] == "cache_aware" and again["reason"] == "prefix_match"
    assert float(again["match_ratio"]) > 0.9
    assert again["worker"].startswith("http://127.0.0.1:")


def test_decisions_are_counted_by_policy_and_reason(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = gateway_factory(sim_factory(), sim_factory())
    for _ in range(3):
        post(gateway, chat(LONG_A))

    exposition = scrape(gateway)

    decisions = "smg_routing_decisions_total"
    assert exposition.value(decisions, policy="cache_aware", reason="prefix_match") == 2
    assert exposition.value(decisions, policy="cache_aware", reason="min_load") == 1
    assert exposition.value("smg_cache_tree_chars", model=MODEL) >= len(LONG_A)


def test_hot_prefix_spills_when_its_worker_is_overloaded(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(2)]
    for sim in sims:
        set_faults(sim, delay_ms=400)
    flags = ("--balance-abs-threshold", "2", "--balance-rel-threshold", "1.2")
    gateway = gateway_factory(*sims, flags=flags)
    with ThreadPoolExecutor(12) as pool:
        reasons = list(
            pool.map(lambda _: explained(gateway, chat(LONG_A))["reason"], range(12))
        )
    counts = Counter(reasons)
    assert counts["load_spill"] >= 1 and counts["prefix_match"] >= 3


def test_same_routing_key_same_worker_until_that_worker_leaves(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(3)]
    gateway = gateway_factory(*sims, flags=("--policy", "consistent_hashing"))
    keys = [f"user-{n}" for n in range(24)]
    before = {k: routed(gateway, chat("hi"), **{"x-smg-routing-key": k}) for k in keys}
    assert all(
        routed(gateway, chat("x"), **{"x-smg-routing-key": k}) == before[k]
        for k in keys
    )

    leaving = sims[0]
    leaving.stop()
    after = {k: routed(gateway, chat("hi"), **{"x-smg-routing-key": k}) for k in keys}
    for key in keys:
        if before[key] == leaving.url:
            assert after[key] != leaving.url
        else:
            assert after[key] == before[key]


def test_target_worker_header_picks_by_index(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(2)]
    gateway = gateway_factory(*sims, flags=("--policy", "consistent_hashing"))
    workers = [w["url"] for w in http_json(gateway.url + "/workers")["workers"]]
    for index in (0, 1):
        got = routed(gateway, chat("hi"), **{"x-smg-target-worker": str(index)})
        assert got == workers[index]
    with pytest.raises(urllib.error.HTTPError) as err:
        post(gateway, chat("hi"), {"x-smg-target-worker": "5"})
    assert err.value.code == 503


def test_prefix_hash_keeps_a_shared_head_together(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(3)]
    gateway = gateway_factory(*sims, flags=("--policy", "prefix_hash"))
    assert len({routed(gateway, chat(LONG_B + f"q{i}")) for i in range(6)}) == 1


def test_sticky_keys_survive_then_expire(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(3)]
    flags = ("--policy", "manual", "--max-idle-secs", "1")
    gateway = gateway_factory(*sims, flags=flags)
    key = {"x-smg-routing-key": "session-42"}
    first = explained(gateway, chat("hi"), **key)
    assert first["reason"] == "sticky_new"
    for _ in range(5):
        again = explained(gateway, chat("hi"), **key)
        assert again["reason"] == "sticky_key" and again["worker"] == first["worker"]
    time.sleep(1.2)
    assert explained(gateway, chat("hi"), **key)["reason"] == "sticky_new"


def test_sticky_sessions_pin_conversations_on_any_policy(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(2)]
    flags = ("--policy", "round_robin", "--sticky-sessions")
    gateway = gateway_factory(*sims, flags=flags)
    for conversation in ("conv-a", "conv-b", "conv-c"):
        key = {"x-smg-routing-key": conversation}
        assert len({routed(gateway, chat("turn"), **key) for _ in range(4)}) == 1
    assert len({routed(gateway, chat("no key")) for _ in range(4)}) == 2


def _flood_directly(sim: Proc, count: int) -> None:
    """Fill a one-slot sim's queue behind the gateway's back."""

    def send() -> None:
        try:
            body = json.dumps(chat("flood", max_tokens=3000)).encode()
            req = urllib.request.Request(
                sim.url + "/v1/chat/completions",
                data=body,
                headers={"content-type": "application/json"},
            )
            urllib.request.urlopen(req, timeout=60).read()
        except OSError:
            pass  # the sim is stopped at the end of the test

    for _ in range(count):
        threading.Thread(target=send, daemon=True).start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if (
            http_json(sim.url + "/v1/loads")["loads"][0]["num_waiting_reqs"]
            >= count - 1
        ):
            return
        time.sleep(0.05)
    raise AssertionError("the sim never reported a queue")


def test_least_load_avoids_a_worker_reporting_a_long_queue(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    busy = sim_factory("--max-running-requests", "1", fast=False)
    idle = sim_factory()
    _flood_directly(busy, 6)
    flags = ("--policy", "least_load", "--load-monitor-interval", "0.2")
    gateway = gateway_factory(busy, idle, flags=flags)
    time.sleep(0.5)  # at least one poll after the workers became ready
    assert {routed(gateway, chat("hi")) for _ in range(10)} == {idle.url}


def test_power_of_two_reacts_to_reported_queues(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    busy = sim_factory("--max-running-requests", "1", fast=False)
    idle = sim_factory()
    _flood_directly(busy, 6)
    flags = ("--policy", "power_of_two", "--load-monitor-interval", "0.2")
    gateway = gateway_factory(busy, idle, flags=flags)
    time.sleep(0.5)
    assert {routed(gateway, chat("hi")) for _ in range(10)} == {idle.url}


def test_dp_ranks_receive_data_parallel_rank(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory("--dp-size", "2")
    gateway = gateway_factory(sim, flags=("--policy", "round_robin", "--dp-aware"))
    urls = sorted(w["url"] for w in http_json(gateway.url + "/workers")["workers"])
    assert urls == [f"{sim.url}@0", f"{sim.url}@1"]
    ranks = set()
    for _ in range(4):
        worker = routed(gateway, chat("hi"))
        rank = last_request(sim, "/v1/chat/completions")["body"]["data_parallel_rank"]
        assert worker == f"{sim.url}@{rank}"
        ranks.add(rank)
    assert ranks == {0, 1}
