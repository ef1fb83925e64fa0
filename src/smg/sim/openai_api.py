"""`POST /v1/chat/completions` and `POST /v1/completions`, streamed or whole.

Stream chunks are built from byte templates made once per request, since one
chunk per token is the hottest loop in the simulator.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from smg.http.server import Request
from smg.sim.context import SimContext
from smg.sim.engine import Generation, GenerationSpec
from smg.sim.params import (
    JsonObject,
    chat_prompt,
    choice_count,
    completion_prompt,
    include_usage,
    max_tokens,
    model_name,
    optional_int,
    parse_object,
    stop_strings,
    wants_stream,
)
from smg.sim.sampler import Completion
from smg.sim.sse import data_event, json_string, open_stream, relay_tokens
from smg.sim.tokenizer import Prompt

_MAX_TOKEN_FIELDS = ("max_completion_tokens", "max_tokens")
_TOKEN_TAIL = b',"logprobs":null,"finish_reason":null}]}\n\n'


def usage(generation: Generation) -> JsonObject:
    completion = generation.completion_tokens
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": generation.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": generation.cached_tokens},
    }


def generation_spec(
    ctx: SimContext, body: JsonObject, prompt: Prompt, fields: tuple[str, ...]
) -> GenerationSpec:
    """Sampling parameters shared by the OpenAI-style endpoints."""
    return GenerationSpec(
        prompt,
        max_tokens(body, fields, ctx.config.max_tokens_default),
        optional_int(body, "seed"),
        stop_strings(body.get("stop")),
        choice_count(body),
    )


async def chat_completions(ctx: SimContext, request: Request) -> Any:
    body = parse_object(request.body)
    spec = generation_spec(ctx, body, chat_prompt(body), _MAX_TOKEN_FIELDS)
    head = _Head(ctx.ids.new("chatcmpl-"), model_name(body, ctx.config.model))
    if wants_stream(body):
        await _stream(ctx, request, spec, _ChatChunks(head), include_usage(body))
        return None

    generation = await _generate_whole(ctx, spec)
    choices = [
        {
            "index": index,
            "message": {"role": "assistant", "content": choice.text},
            "logprobs": None,
            "finish_reason": choice.finish_reason,
            "matched_stop": choice.matched_stop,
        }
        for index, choice in enumerate(generation.choices)
    ]
    return head.object("chat.completion", choices=choices, usage=usage(generation))


async def completions(ctx: SimContext, request: Request) -> Any:
    body = parse_object(request.body)
    prompt = completion_prompt(body.get("prompt"))
    spec = generation_spec(ctx, body, prompt, ("max_tokens",))
    head = _Head(ctx.ids.new("cmpl-"), model_name(body, ctx.config.model))
    if wants_stream(body):
        await _stream(ctx, request, spec, _TextChunks(head), include_usage(body))
        return None

    generation = await _generate_whole(ctx, spec)
    choices = [
        {
            "index": index,
            "text": choice.text,
            "logprobs": None,
            "finish_reason": choice.finish_reason,
            "matched_stop": choice.matched_stop,
        }
        for index, choice in enumerate(generation.choices)
    ]
    return head.object("text_completion", choices=choices, usage=usage(generation))


async def _generate_whole(ctx: SimContext, spec: GenerationSpec) -> Generation:
    engine = ctx.engine
    async with engine.generate(spec) as generation:
        await engine.decode(max(len(c.token_ids) for c in generation.choices))
    return generation


class _Head:
    """The id, creation time and model every object of one answer repeats."""

    def __init__(self, response_id: str, model: str) -> None:
        self.id = response_id
        self.model = model
        self.created = int(time.time())

    def object(self, kind: str, **fields: Any) -> JsonObject:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            **fields,
        }

    def chunk_prefix(self, kind: str) -> bytes:
        """Bytes of a chunk up to the value of its choice's `index`."""
        return (
            b'data: {"id":%s,"object":"%s","created":%d,"model":%s,'
            % (
                orjson.dumps(self.id),
                kind.encode(),
                self.created,
                orjson.dumps(self.model),
            )
            + b'"choices":[{"index":'
        )


class _ChatChunks:
    kind = "chat.completion.chunk"

    def __init__(self, head: _Head) -> None:
        self.head = head
        self._prefix = head.chunk_prefix(self.kind)

    def opening(self, index: int) -> bytes | None:
        delta = {"role": "assistant", "content": ""}
        return self._choice_event(index, delta, None)

    def token(self, index: int, piece: str) -> bytes:
        return b'%s%d,"delta":{"content":%s}%s' % (
            self._prefix,
            index,
            json_string(piece),
            _TOKEN_TAIL,
        )

    def finish(self, index: int, choice: Completion) -> bytes:
        return self._choice_event(index, {}, choice.finish_reason)

    def _choice_event(self, index: int, delta: JsonObject, reason: str | None) -> bytes:
        choice = {
            "index": index,
            "delta": delta,
            "logprobs": None,
            "finish_reason": reason,
        }
        return data_event(self.head.object(self.kind, choices=[choice]))


class _TextChunks:
    kind = "text_completion"

    def __init__(self, head: _Head) -> None:
        self.head = head
        self._prefix = head.chunk_prefix(self.kind)

    def opening(self, index: int) -> bytes | None:
        return None

    def token(self, index: int, piece: str) -> bytes:
        return b'%s%d,"text":%s%s' % (
            self._prefix,
            index,
            json_string(piece),
            _TOKEN_TAIL,
        )

    def finish(self, index: int, choice: Completion) -> bytes:
        body = {
            "index": index,
            "text": "",
            "logprobs": None,
            "finish_reason": choice.finish_reason,
        }
        return data_event(self.head.object(self.kind, choices=[body]))


_Chunks = _ChatChunks | _TextChunks


async def _stream(
    ctx: SimContext,
    request: Request,
    spec: GenerationSpec,
    chunks: _Chunks,
    with_usage: bool,
) -> None:
    engine = ctx.engine
    async with engine.generate(spec) as generation:
        stream = open_stream(ctx, request)
        for index in range(len(generation.choices)):
            opening = chunks.opening(index)
            if opening is not None:
                await stream.send(opening)
        step = None if engine.is_fast else engine.step
        await relay_tokens(
            stream, generation.choices, step, chunks.token, chunks.finish
        )
        if with_usage:
            event = chunks.head.object(chunks.kind, choices=[], usage=usage(generation))
            await stream.send(data_event(event))
        await stream.finish()
