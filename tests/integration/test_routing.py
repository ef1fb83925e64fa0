"""Which worker gets a request, and what it receives: policies, models, headers."""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable

import pytest

from tests.conftest import MODEL, http_json, last_request, set_faults, sim_stats
from tests.procs import Proc

CHAT = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 2,
}


def post(
    gateway: Proc,
    body: dict,
    headers: dict[str, str] | None = None,
    path: str = "/v1/chat/completions",
) -> tuple[dict[str, str], dict]:
    req = urllib.request.Request(
        gateway.url + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=15) as resp:
        return {k.lower(): v for k, v in resp.getheaders()}, json.loads(resp.read())


def routed_counts(gateway: Proc, n: int, body: dict = CHAT) -> Counter[str]:
    return Counter(post(gateway, body)[0]["x-smg-routed-worker-id"] for _ in range(n))


def test_round_robin_alternates(fleet: tuple[Proc, list[Proc]]) -> None:
    gateway, sims = fleet
    order = [post(gateway, CHAT)[0]["x-smg-routed-worker-id"] for _ in range(6)]
    assert set(order) == {s.url for s in sims}
    assert all(a != b for a, b in itertools.pairwise(order))


def test_random_spreads_over_workers(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(2)]
    gateway = gateway_factory(*sims, flags=("--policy", "random"))
    counts = routed_counts(gateway, 40)
    assert set(counts) == {s.url for s in sims} and min(counts.values()) >= 5


def test_passthrough_sends_everything_to_first_worker(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory() for _ in range(2)]
    gateway = gateway_factory(*sims, flags=("--policy", "passthrough"))
    assert set(routed_counts(gateway, 6)) == {sims[0].url}


def test_power_of_two_prefers_the_less_loaded_worker(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    slow, fast = sim_factory(), sim_factory()
    set_faults(slow, delay_ms=400)
    gateway = gateway_factory(slow, fast, flags=("--policy", "power_of_two"))
    results: list[str] = []

    def send() -> None:
        results.append(post(gateway, CHAT)[0]["x-smg-routed-worker-id"])

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(results)
    assert counts[fast.url] > counts[slow.url]


def test_model_field_picks_the_worker_group(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    alpha, beta = sim_factory(model="alpha"), sim_factory(model="beta")
    gateway = gateway_factory(alpha, beta)
    for model, sim in (("alpha", alpha), ("beta", beta)):
        headers, _ = post(gateway, {**CHAT, "model": model})
        assert headers["x-smg-routed-worker-id"] == sim.url
    models = {m["id"] for m in http_json(gateway.url + "/v1/models")["data"]}
    assert models == {"alpha", "beta"}


def test_model_alias_is_rewritten_to_the_canonical_name(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory(model="canonical-model")
    gateway = gateway_factory(sim, flags=("--model-alias", "nickname=canonical-model"))
    post(gateway, {**CHAT, "model": "nickname"})
    assert (
        last_request(sim, "/v1/chat/completions")["body"]["model"] == "canonical-model"
    )
    models = {m["id"] for m in http_json(gateway.url + "/v1/models")["data"]}
    assert models == {"canonical-model", "nickname"}


def test_forwarded_headers_follow_the_allow_list(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim)
    sent = {
        "authorization": "Bearer client-key",
        "x-correlation-id": "corr-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "x-request-id-tenant": "t1",
        "x-secret-internal": "must-not-pass",
        "cookie": "session=abc",
    }
    post(gateway, CHAT, sent)
    seen = last_request(sim, "/v1/chat/completions")["headers"]
    for name in (
        "authorization",
        "x-correlation-id",
        "traceparent",
        "x-request-id-tenant",
    ):
        assert seen[name] == sent[name]
    assert "x-secret-internal" not in seen and "cookie" not in seen


def test_api_key_guards_serving_and_reaches_the_worker(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim, flags=("--api-key", "sekret"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(gateway, CHAT)
    assert refused.value.code == 401
    post(gateway, CHAT, {"authorization": "Bearer sekret"})
    seen = last_request(sim, "/v1/chat/completions")["headers"]
    assert seen["authorization"] == "Bearer sekret"
    assert last_request(sim, "/health")["headers"]["authorization"] == "Bearer sekret"


@pytest.mark.parametrize(
    ("path", "body", "prefix"),
    [
        ("/v1/chat/completions", CHAT, "chatcmpl-"),
        ("/v1/completions", {"model": MODEL, "prompt": "a", "max_tokens": 1}, "cmpl-"),
        ("/generate", {"text": "a", "sampling_params": {"max_new_tokens": 1}}, "gnt-"),
        ("/v1/embeddings", {"model": MODEL, "input": "a"}, "req-"),
    ],
)
def test_request_ids_are_minted_with_route_prefix(
    fleet: tuple[Proc, list[Proc]], path: str, body: dict, prefix: str
) -> None:
    gateway, _ = fleet
    headers, _ = post(gateway, body, path=path)
    request_id = headers["x-request-id"]
    assert request_id.startswith(prefix) and len(request_id) == len(prefix) + 24


def test_client_request_id_is_echoed_and_forwarded(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim)
    headers, _ = post(gateway, CHAT, {"x-correlation-id": "my-id-42"})
    assert headers["x-request-id"] == "my-id-42"
    assert (
        last_request(sim, "/v1/chat/completions")["headers"]["x-request-id"]
        == "my-id-42"
    )
    too_long = "a" * 200
    headers, _ = post(gateway, CHAT, {"x-request-id": too_long})
    assert headers["x-request-id"].startswith("chatcmpl-")


def test_custom_request_id_headers(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = gateway_factory(sim_factory(), flags=("--request-id-headers", "x-my-id"))
    headers, _ = post(gateway, CHAT, {"x-my-id": "custom-1", "x-request-id": "ignored"})
    assert headers["x-request-id"] == "custom-1"


def test_gateway_starts_before_its_worker_and_becomes_ready(
    gateway_factory: Callable[..., Proc], procs: list[Proc]
) -> None:
    from tests.procs import free_port, start_sim, wait_http

    port = free_port()
    gateway = gateway_factory(f"http://127.0.0.1:{port}", ready=False)
    with pytest.raises(urllib.request.HTTPError):
        http_json(gateway.url + "/readiness")
    procs.append(start_sim("--model", "late-model", "--fast", port=port))
    wait_http(gateway, "/readiness", timeout=10)
    workers = http_json(gateway.url + "/workers")["workers"]
    assert workers[0]["model_id"] == "late-model" and workers[0]["status"] == "ready"


def test_in_flight_load_returns_to_zero(fleet: tuple[Proc, list[Proc]]) -> None:
    gateway, sims = fleet
    for _ in range(4):
        post(gateway, CHAT)
    assert all(w["load"] == 0 for w in http_json(gateway.url + "/workers")["workers"])
    assert (
        sum(sim_stats(s)["requests"].get("/v1/chat/completions", 0) for s in sims) > 0
    )
