"""The selection seam: tried workers, explanations, DP targets, release."""

from __future__ import annotations

import logging
import random

import orjson
import pytest

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.registry import PolicyRegistry
from smg.routers.selection import select_worker, wants_explanation
from smg.workers.worker import READY, Worker


def workers(n: int) -> list[Worker]:
    return [Worker(f"http://w{i}:1", status=READY) for i in range(n)]


def registry(**overrides: object) -> PolicyRegistry:
    return PolicyRegistry(RoutingConfig(**overrides), random.Random(0))  # type: ignore[arg-type]


def chat(text: str, headers: list[tuple[bytes, bytes]] | None = None) -> RequestFacts:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    return RequestFacts("m", "/v1/chat/completions", body, headers or [])


def test_tried_workers_are_avoided_while_others_remain() -> None:
    ws = workers(2)
    selection = select_worker(registry(policy="round_robin"), chat("x"), ws, [ws[0]])
    assert selection is not None and selection.worker is ws[1]
    again = select_worker(registry(policy="round_robin"), chat("x"), ws, ws)
    assert again is not None


def test_target_worker_is_kept_across_retries() -> None:
    ws = workers(3)
    facts = chat("x", [(b"x-smg-target-worker", b"1")])
    selection = select_worker(registry(policy="consistent_hashing"), facts, ws, [ws[1]])
    assert selection is not None and selection.worker is ws[1]


def test_explanation_names_policy_worker_reason_and_figures() -> None:
    ws = workers(2)
    selection = select_worker(registry(), chat("hello " * 100), ws)
    assert selection is not None
    text = selection.explain().decode()
    assert text.startswith("policy=cache_aware; worker=http://w")
    assert "reason=min_load" in text and "match_ratio=0.0" in text
    assert "hello" not in text


@pytest.mark.parametrize(
    ("value", "wanted"), [(b"1", True), (b"true", True), (b"0", False)]
)
def test_explain_header_is_opt_in(value: bytes, wanted: bool) -> None:
    assert wants_explanation(chat("x", [(b"x-smg-explain", value)])) is wanted


def test_decisions_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    reg = registry(policy="round_robin")
    counted: list[tuple[str, str, str]] = []
    reg.count_decision = lambda *labels: counted.append(labels)
    with caplog.at_level(logging.DEBUG, logger="smg.routers.selection"):
        select_worker(reg, chat("x"), workers(1))
    assert counted == [("m", "round_robin", "round_robin")]
    assert caplog.records[0].reason == "round_robin"  # type: ignore[attr-defined]


def test_dp_rank_selection_targets_the_engine_with_the_rank() -> None:
    rank = Worker(
        "http://e:1@3",
        status=READY,
        labels={"dp_rank": "3", "dp_base_url": "http://e:1"},
    )
    facts = chat("x")
    selection = select_worker(registry(policy="round_robin"), facts, [rank])
    assert selection is not None and selection.upstream_url == "http://e:1"
    sent = orjson.loads(selection.payload(facts.body, b"{}"))
    assert sent["data_parallel_rank"] == 3 and sent["model"] == "m"


def test_plain_worker_payload_is_forwarded_unchanged() -> None:
    ws = workers(1)
    selection = select_worker(registry(policy="round_robin"), chat("x"), ws)
    assert selection is not None and selection.upstream_url == ws[0].url
    assert selection.payload({"a": 1}, b"original") == b"original"


def test_release_reaches_the_policy_once() -> None:
    reg = registry(policy="round_robin", routing_key_override=True)
    facts = chat("x", [(b"x-smg-routing-key", b"k")])
    ws = workers(2)
    selection = select_worker(reg, facts, ws)
    assert selection is not None
    policy = reg.for_model("m")
    assert policy._in_flight == {("k", selection.worker.url): 1}  # type: ignore[attr-defined]
    selection.release()
    selection.release()
    assert policy._in_flight == {}  # type: ignore[attr-defined]
