"""End to end through the gateway to `mlx_lm.server`, an engine nobody here wrote.

Every test runs twice: once with the engine listing its model on `/v1/models`
and once with the empty body it sends when its HF cache is missing, which
leaves the gateway without a model name for the worker. The model has random
weights, so texts are gibberish that may hold U+FFFD; only their equality
between paths is asserted, never their content.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from openai import OpenAI
from openai.types import Completion
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
)

pytestmark = pytest.mark.realworker

ROUTED_WORKER_HEADER = "x-smg-routed-worker-id"
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Hello, tiny model"}
]
PROMPT = "Once upon a time"
MAX_TOKENS = 24


def _chat(client: OpenAI, model: str) -> ChatCompletion:
    return client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=0
    )


def _complete(client: OpenAI, model: str) -> Completion:
    return client.completions.create(
        model=model, prompt=PROMPT, max_tokens=MAX_TOKENS, temperature=0
    )


def _chat_deltas(chunks: Iterable[ChatCompletionChunk]) -> tuple[str, list[str], int]:
    """Join the streamed content; return it, the finish reasons and usage tokens."""
    text, completion_tokens = "", 0
    finishes: list[str] = []
    for chunk in chunks:
        if chunk.usage is not None:
            completion_tokens = chunk.usage.completion_tokens
        for choice in chunk.choices:
            text += choice.delta.content or ""
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
    return text, finishes, completion_tokens


def test_chat_reply_has_usage_and_routed_worker_header(
    client: OpenAI, model: str
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=0
    )
    assert raw.headers.get(ROUTED_WORKER_HEADER)

    reply = raw.parse()
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= MAX_TOKENS


def test_gateway_relays_engine_text_unchanged(
    client: OpenAI, engine_client: OpenAI, model: str
) -> None:
    """Greedy output through the gateway equals the engine's own answer."""
    direct = _chat(engine_client, model).choices[0].message.content
    assert _chat(client, model).choices[0].message.content == direct
    direct_text = _complete(engine_client, model).choices[0].text
    assert _complete(client, model).choices[0].text == direct_text


def test_engine_is_deterministic_when_greedy(engine_client: OpenAI, model: str) -> None:
    """Precondition of the stream-equals-reply checks, asserted on the engine."""
    first = _chat(engine_client, model).choices[0].message.content
    assert first
    assert _chat(engine_client, model).choices[0].message.content == first


def test_chat_stream_ends_and_matches_non_streamed_reply(
    client: OpenAI, model: str
) -> None:
    expected = _chat(client, model)
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=MESSAGES,
        max_tokens=MAX_TOKENS,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers.get(ROUTED_WORKER_HEADER)

    text, finishes, completion_tokens = _chat_deltas(raw.parse())
    assert text == expected.choices[0].message.content
    assert finishes == [expected.choices[0].finish_reason]
    assert expected.usage is not None
    assert completion_tokens == expected.usage.completion_tokens


def test_completion_reply_has_usage_and_routed_worker_header(
    client: OpenAI, model: str
) -> None:
    raw = client.completions.with_raw_response.create(
        model=model, prompt=PROMPT, max_tokens=MAX_TOKENS, temperature=0
    )
    assert raw.headers.get(ROUTED_WORKER_HEADER)

    reply = raw.parse()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= MAX_TOKENS


def test_completion_stream_ends_and_matches_non_streamed_reply(
    client: OpenAI, model: str
) -> None:
    expected = _complete(client, model).choices[0]
    raw = client.completions.with_raw_response.create(
        model=model, prompt=PROMPT, max_tokens=MAX_TOKENS, temperature=0, stream=True
    )
    assert raw.headers.get(ROUTED_WORKER_HEADER)

    chunks = list(raw.parse())
    text = "".join(choice.text for chunk in chunks for choice in chunk.choices)
    finishes = [
        c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason
    ]
    assert text == expected.text
    assert finishes == [expected.finish_reason]
