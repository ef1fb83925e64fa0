"""A minimal OpenAI Responses API: one assistant text message, streamed or whole.

No state is kept: `previous_response_id`, `store`, tools and reasoning are
accepted and ignored. Answers are `completed` even when `max_output_tokens` cut
them, which keeps gateway tests simple.
"""

from __future__ import annotations

import time
from typing import Any

from smg.http.server import Request
from smg.sim.context import SimContext
from smg.sim.engine import Generation, GenerationSpec
from smg.sim.errors import invalid_field, missing_field
from smg.sim.params import (
    JsonObject,
    chat_prompt,
    max_tokens,
    model_name,
    optional_int,
    parse_object,
    wants_stream,
)
from smg.sim.sse import EventStream, named_event, open_stream
from smg.sim.tokenizer import Prompt


async def responses(ctx: SimContext, request: Request) -> Any:
    body = parse_object(request.body)
    spec = GenerationSpec(
        _prompt(body),
        max_tokens(body, ("max_output_tokens",), ctx.config.max_tokens_default),
        optional_int(body, "seed"),
    )
    answer = _Answer(ctx, body)
    engine = ctx.engine
    if wants_stream(body):
        async with engine.generate(spec) as generation:
            await _stream(ctx, request, generation, answer)
        return None

    async with engine.generate(spec) as generation:
        await engine.decode(generation.completion_tokens)
    return answer.response(generation, "completed")


def _prompt(body: JsonObject) -> Prompt:
    messages: list[Any] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if items is None:
        raise missing_field("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
    elif isinstance(items, list):
        messages.extend(item for item in items if isinstance(item, dict))
    else:
        raise invalid_field("input", "a string or an array of input items")
    if not messages:
        raise invalid_field("input", "a non-empty string or array of input items")
    return chat_prompt({"messages": messages})


class _Answer:
    """Ids and fields shared by the final response and every stream event."""

    def __init__(self, ctx: SimContext, body: JsonObject) -> None:
        self.id = ctx.ids.new("resp_")
        self.message_id = ctx.ids.new("msg_")
        self.model = model_name(body, ctx.config.model)
        self.created_at = int(time.time())
        self.body = body

    def message(self, text: str, status: str) -> JsonObject:
        part = {"type": "output_text", "text": text, "annotations": []}
        return {
            "type": "message",
            "id": self.message_id,
            "status": status,
            "role": "assistant",
            "content": [part] if status == "completed" else [],
        }

    def response(self, generation: Generation | None, status: str) -> JsonObject:
        output = []
        if generation is not None:
            output.append(self.message(generation.choices[0].text, "completed"))
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": output,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "previous_response_id": self.body.get("previous_response_id"),
            "error": None,
            "incomplete_details": None,
            "metadata": self.body.get("metadata") or {},
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": _usage(generation) if generation is not None else None,
        }


def _usage(generation: Generation) -> JsonObject:
    output = generation.completion_tokens
    return {
        "input_tokens": generation.prompt_tokens,
        "input_tokens_details": {"cached_tokens": generation.cached_tokens},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": generation.prompt_tokens + output,
    }


async def _stream(
    ctx: SimContext, request: Request, generation: Generation, answer: _Answer
) -> None:
    stream = open_stream(ctx, request)
    events = _Events(stream)
    await events.send("response.created", response=answer.response(None, "in_progress"))
    item = answer.message("", "in_progress")
    await events.send("response.output_item.added", output_index=0, item=item)
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": answer.message_id, "output_index": 0, "content_index": 0}
    await events.send("response.content_part.added", **where, part=part)

    choice = generation.choices[0]
    for piece in choice.pieces:
        await ctx.engine.step()
        await events.send("response.output_text.delta", **where, delta=piece)

    await events.send("response.output_text.done", **where, text=choice.text)
    part = {**part, "text": choice.text}
    await events.send("response.content_part.done", **where, part=part)
    item = answer.message(choice.text, "completed")
    await events.send("response.output_item.done", output_index=0, item=item)
    final = answer.response(generation, "completed")
    await events.send("response.completed", response=final)
    await stream.finish(b"")


class _Events:
    """Named events carrying their type and a running sequence number."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._sequence = 0

    async def send(self, kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        await self._stream.send(named_event(kind, payload))
