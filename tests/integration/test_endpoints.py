"""Every route of the gateway, through a real gateway in front of real sims."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from openai import OpenAI

from tests.conftest import MODEL, http_json, last_request
from tests.procs import Proc

Fleet = tuple[Proc, list[Proc]]


def client(gateway: Proc) -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)


def test_chat_completion_round_trip(fleet: Fleet) -> None:
    gateway, _ = fleet
    raw = client(gateway).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}], max_tokens=8
    )
    reply = raw.parse()
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens == 8
    assert raw.headers["x-request-id"].startswith("chatcmpl-")
    assert raw.headers["x-smg-routed-worker-id"].startswith("http://127.0.0.1:")


def test_chat_stream_ends_with_done_and_matches_non_streamed(fleet: Fleet) -> None:
    gateway, _ = fleet
    messages = [{"role": "user", "content": "Tell me a story"}]
    full = client(gateway).chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=16,
        seed=7,  # type: ignore[arg-type]
    )
    stream = client(gateway).chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=16,
        seed=7,
        stream=True,  # type: ignore[arg-type]
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == full.choices[0].message.content


def test_completions_streaming_and_not(fleet: Fleet) -> None:
    gateway, _ = fleet
    oai = client(gateway)
    whole = oai.completions.create(model=MODEL, prompt="Once upon", max_tokens=6)
    assert whole.choices[0].text
    chunks = list(
        oai.completions.create(
            model=MODEL, prompt="Once upon", max_tokens=6, stream=True
        )
    )
    assert (
        "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    )


def test_stream_usage_reports_cached_tokens(fleet: Fleet) -> None:
    gateway, _ = fleet
    oai = client(gateway)
    prompt = "shared system prompt " * 40
    for _ in range(3):  # round robin: each of the two sims sees it at least once
        chunks = list(
            oai.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=2,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens > 0


def test_embeddings(fleet: Fleet) -> None:
    gateway, _ = fleet
    reply = client(gateway).embeddings.create(model=MODEL, input=["a", "b"])
    assert len(reply.data) == 2 and len(reply.data[0].embedding) > 0


@pytest.mark.parametrize("path", ["/v1/rerank", "/rerank"])
def test_rerank_wraps_sorts_and_cuts_results(fleet: Fleet, path: str) -> None:
    gateway, _ = fleet
    body = {
        "model": MODEL,
        "query": "capital of France",
        "top_k": 2,
        "documents": ["Paris", "Berlin", "Rome"],
        "return_documents": False,
    }
    reply = http_json(gateway.url + path, body)
    assert reply["object"] == "rerank" and reply["model"] == MODEL
    scores = [r["score"] for r in reply["results"]]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    assert all("document" not in r for r in reply["results"])


def test_v1_rerank_needs_no_model_but_rerank_does(fleet: Fleet) -> None:
    gateway, _ = fleet
    body = {"query": "q", "documents": ["a", "b"]}
    assert http_json(gateway.url + "/v1/rerank", body)["model"] == "unknown"
    with pytest.raises(urllib.error.HTTPError) as exc:
        http_json(gateway.url + "/rerank", body)
    assert exc.value.code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/generate", {"text": "Hello", "sampling_params": {"max_new_tokens": 4}}),
        ("/v1/classify", {"model": MODEL, "input": "great movie"}),
        ("/v1/responses", {"model": MODEL, "input": "Hello", "max_output_tokens": 4}),
        (
            "/v1/messages",
            {
                "model": MODEL,
                "max_tokens": 4,
                "messages": [{"role": "user", "content": "Hi"}],
            },
        ),
    ],
)
def test_other_serving_routes_are_proxied(fleet: Fleet, path: str, body: dict) -> None:
    gateway, _ = fleet
    reply = http_json(gateway.url + path, body)
    assert reply


def test_generate_without_model_forwards_model_unknown(fleet: Fleet) -> None:
    gateway, sims = fleet
    for _ in range(2):  # round robin reaches both sims
        http_json(gateway.url + "/generate", {"text": "x", "sampling_params": {}})
    assert all(last_request(s, "/generate")["body"]["model"] == "unknown" for s in sims)


@pytest.mark.parametrize("path", ["/health", "/liveness"])
def test_liveness_is_plain_ok(fleet: Fleet, path: str) -> None:
    gateway, _ = fleet
    with urllib.request.urlopen(gateway.url + path) as resp:
        assert resp.status == 200 and resp.read() == b"OK"


def test_readiness_counts_workers(fleet: Fleet) -> None:
    gateway, _ = fleet
    body = http_json(gateway.url + "/readiness")
    assert body == {"status": "ready", "healthy_workers": 2, "total_workers": 2}


def test_models_lists_the_discovered_model(fleet: Fleet) -> None:
    gateway, _ = fleet
    models = client(gateway).models.list()
    assert [m.id for m in models.data] == [MODEL]


@pytest.mark.parametrize("path", ["/get_model_info", "/get_server_info"])
def test_info_routes_relay_first_worker(fleet: Fleet, path: str) -> None:
    gateway, sims = fleet
    assert http_json(gateway.url + path) == http_json(sims[0].url + path)


def test_health_generate_is_relayed(fleet: Fleet) -> None:
    gateway, _ = fleet
    with urllib.request.urlopen(gateway.url + "/health_generate") as resp:
        assert resp.status == 200


def test_workers_lists_both_with_model_and_status(fleet: Fleet) -> None:
    gateway, sims = fleet
    body = http_json(gateway.url + "/workers")
    assert body["total"] == 2
    assert {w["url"] for w in body["workers"]} == {s.url for s in sims}
    assert all(
        w["model_id"] == MODEL and w["status"] == "ready" for w in body["workers"]
    )
    assert body["stats"]["regular_count"] == 2


@pytest.mark.parametrize("path", ["/get_loads", "/loads"])
def test_loads_merge_worker_reports(fleet: Fleet, path: str) -> None:
    gateway, sims = fleet
    body = http_json(gateway.url + path)
    assert {entry["worker"] for entry in body["loads"]} == {s.url for s in sims}
    assert "total_running_reqs" in body["aggregate"]


def test_flush_cache_fans_out_to_every_worker(fleet: Fleet) -> None:
    gateway, sims = fleet
    body = http_json(gateway.url + "/flush_cache", {})
    assert body["status"] == "success" and body["workers_flushed"] == 2
    assert all(last_request(s, "/flush_cache")["method"] == "POST" for s in sims)
