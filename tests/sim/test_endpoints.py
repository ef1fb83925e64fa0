"""Info, load, pooling, Responses and Messages routes, in-process."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from typing import Any

import pytest

from smg.sim.app import SimApp
from smg.sim.config import NO_LATENCY
from tests.sim.fakes import Reply, call, make_app


def run(app: SimApp, path: str, body: Any = None, **kwargs: Any) -> Reply:
    return asyncio.run(call(app, path, body, **kwargs))


@pytest.fixture
def app() -> SimApp:
    return make_app(NO_LATENCY, model="org/sim", dp_size=2)


def test_models_and_server_info_name_the_served_model(app: SimApp) -> None:
    model = run(app, "/v1/models").json()["data"][0]
    assert (model["id"], model["owned_by"]) == ("org/sim", "sglang")
    for path in ("/get_server_info", "/server_info"):
        info = run(app, path).json()
        assert info["served_model_name"] == "org/sim" and info["dp_size"] == 2
    assert run(app, "/get_model_info").json()["is_generation"] is True


def test_loads_report_running_waiting_and_cache_hit_rate(app: SimApp) -> None:
    app.ctx.stats.prompt_tokens, app.ctx.stats.cache_hit_tokens = 100, 40
    report = run(app, "/v1/loads").json()
    load = report["loads"][0]
    assert report["dp_rank_count"] == 1 and load["dp_rank"] == 0
    assert load["cache_hit_rate"] == 0.4 and load["num_running_reqs"] == 0
    assert report["aggregate"]["total_reqs"] == 0
    assert run(app, "/get_load").json() == [
        {"dp_rank": 0, "num_reqs": 0, "num_waiting_reqs": 0, "num_tokens": 0}
    ]


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings_are_deterministic_unit_vectors(app: SimApp, encoding: str) -> None:
    body = {"input": ["a", "b", "a"], "encoding_format": encoding}
    data = run(app, "/v1/embeddings", body).json()["data"]
    vectors = [_floats(item["embedding"]) for item in data]
    assert vectors[0] == pytest.approx(vectors[2]) and vectors[0] != vectors[1]
    assert len(vectors[0]) == 16
    assert math.fsum(v * v for v in vectors[1]) == pytest.approx(1.0, rel=1e-5)


def _floats(value: Any) -> list[float]:
    if isinstance(value, list):
        return value
    raw = base64.b64decode(value)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_rerank_returns_an_array_sorted_by_score(app: SimApp) -> None:
    body = {"query": "cache hit", "documents": ["nothing here", "a cache hit", "cache"]}
    results = run(app, "/v1/rerank", body).json()
    assert [r["index"] for r in results] == [1, 2, 0]
    assert results[0]["document"] == "a cache hit"
    assert results[0]["score"] >= results[1]["score"] >= results[2]["score"]


def test_classify_gives_probabilities_per_input(app: SimApp) -> None:
    data = run(app, "/v1/classify", {"input": ["x", "y"]}).json()["data"]
    assert len(data) == 2 and sum(data[0]["probs"]) == pytest.approx(1.0)


def test_responses_answer_whole_and_streamed_agree(app: SimApp) -> None:
    body = {"input": "Hi", "max_output_tokens": 4}
    whole = run(app, "/v1/responses", body).json()
    text = whole["output"][0]["content"][0]["text"]
    assert whole["object"] == "response" and whole["usage"]["output_tokens"] == 4
    events = run(app, "/v1/responses", {**body, "stream": True}).data()
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == text and events[-1]["type"] == "response.completed"


def test_messages_answer_anthropic_shape_and_stream(app: SimApp) -> None:
    body = {
        "max_tokens": 3,
        "system": "Be brief",
        "messages": [{"role": "user", "content": "Hi"}],
    }
    whole = run(app, "/v1/messages", body).json()
    assert whole["type"] == "message" and whole["stop_reason"] == "max_tokens"
    events = run(app, "/v1/messages", {**body, "stream": True}).data()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    deltas = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(deltas) == whole["content"][0]["text"]
