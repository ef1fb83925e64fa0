"""The simulator's HTTP surface, run in-process against an in-memory connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from smg.sim.app import SimApp
from smg.sim.config import NO_LATENCY
from tests.sim.fakes import RecordingSleep, Reply, call, make_app

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "Hi there"}]}
LONG_CHAT = {"messages": [{"role": "user", "content": "Tell me a story. " * 30}]}


def run(app: SimApp, path: str, body: Any = None, **kwargs: Any) -> Reply:
    return asyncio.run(call(app, path, body, **kwargs))


@pytest.fixture
def app() -> SimApp:
    return make_app(NO_LATENCY)


def test_chat_completion_echoes_model_and_reports_usage(app: SimApp) -> None:
    reply = run(app, "/v1/chat/completions", {**CHAT, "max_tokens": 5})
    body = reply.json()
    assert reply.status == 200 and body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-") and body["model"] == "m1"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}


def test_repeated_long_prompt_reports_cached_tokens(app: SimApp) -> None:
    first = run(app, "/v1/chat/completions", LONG_CHAT).json()["usage"]
    second = run(app, "/v1/chat/completions", LONG_CHAT).json()["usage"]
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert 0 < cached <= second["prompt_tokens"]
    run(app, "/flush_cache", b"", method="POST")
    third = run(app, "/v1/chat/completions", LONG_CHAT).json()["usage"]
    assert third["prompt_tokens_details"]["cached_tokens"] == 0


@pytest.mark.parametrize("paced", [False, True])
def test_chat_stream_sends_role_tokens_finish_usage_and_done(paced: bool) -> None:
    app = make_app(None if paced else NO_LATENCY, RecordingSleep())
    body = {**CHAT, "max_tokens": 20, "stream": True}
    reply = run(
        app, "/v1/chat/completions", {**body, "stream_options": {"include_usage": True}}
    )
    chunks = reply.data()
    assert reply.complete and reply.events[-1] == b"data: [DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    tokens = [c["choices"][0]["delta"]["content"] for c in chunks[1:21]]
    assert chunks[21]["choices"][0]["finish_reason"] == "length"
    assert (
        chunks[22]["usage"]["completion_tokens"] == 20 and chunks[22]["choices"] == []
    )
    whole = run(app, "/v1/chat/completions", {**CHAT, "max_tokens": 20}).json()
    assert "".join(tokens) == whole["choices"][0]["message"]["content"]


def test_stream_with_several_choices_finishes_each(app: SimApp) -> None:
    body = {**CHAT, "max_tokens": 3, "n": 2, "stream": True}
    chunks = run(app, "/v1/chat/completions", body).data()
    finished = [
        c["choices"][0]["index"] for c in chunks if c["choices"][0]["finish_reason"]
    ]
    assert sorted(finished) == [0, 1] and len(chunks) == 2 + 6 + 2


def test_stop_string_ends_with_finish_reason_stop(app: SimApp) -> None:
    text = run(app, "/v1/completions", {"prompt": "x", "max_tokens": 30}).json()
    stop = text["choices"][0]["text"][10:16]
    cut = run(app, "/v1/completions", {"prompt": "x", "max_tokens": 30, "stop": stop})
    choice = cut.json()["choices"][0]
    assert choice["finish_reason"] == "stop" and stop not in choice["text"]


def test_completion_accepts_token_ids_and_streams_text(app: SimApp) -> None:
    reply = run(
        app, "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": 4, "stream": True}
    )
    chunks = reply.data()
    assert chunks[0]["object"] == "text_completion" and len(chunks) == 5
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", b"{not json", None),
        ("/v1/chat/completions", {"model": "m"}, "messages"),
        ("/v1/chat/completions", {**CHAT, "max_tokens": "ten"}, "max_tokens"),
        ("/v1/completions", {"model": "m"}, "prompt"),
        ("/v1/completions", {"prompt": ["a", "b"]}, "prompt"),
        ("/generate", {"sampling_params": {}}, "text"),
        ("/v1/rerank", {"query": "q"}, "documents"),
        ("/v1/embeddings", {}, "input"),
        ("/v1/messages", {"messages": []}, "max_tokens"),
    ],
)
def test_invalid_requests_get_openai_shaped_400(
    app: SimApp, path: str, body: Any, param: str | None
) -> None:
    reply = run(app, path, body)
    error = reply.json()["error"]
    assert reply.status == 400 and error["type"] == "invalid_request_error"
    assert error["param"] == param and error["message"]


def test_unknown_path_is_404_and_wrong_method_405(app: SimApp) -> None:
    assert run(app, "/nope").status == 404
    assert run(app, "/v1/chat/completions").status == 405
    assert run(app, "/v1/models", {}).status == 405


def test_generate_answers_sglang_shape_and_streams_cumulative_text(app: SimApp) -> None:
    body = {"text": "Hello", "sampling_params": {"max_new_tokens": 4}}
    whole = run(app, "/generate", body).json()
    assert len(whole["output_ids"]) == 4
    assert whole["meta_info"]["finish_reason"] == {"type": "length", "length": 4}
    chunks = run(app, "/generate", {**body, "stream": True}).data()
    assert [c["text"] for c in chunks][-1] == whole["text"]
    assert chunks[1]["text"].startswith(chunks[0]["text"])
    assert chunks[-1]["meta_info"]["completion_tokens"] == 4
