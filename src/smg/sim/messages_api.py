"""A minimal Anthropic Messages API: one text block, streamed or whole.

Tools, images and thinking are accepted and ignored. Errors keep the OpenAI shape
the rest of the simulator uses, not Anthropic's.
"""

from __future__ import annotations

from typing import Any

from smg.http.server import Request
from smg.sim.context import SimContext
from smg.sim.engine import Generation, GenerationSpec
from smg.sim.errors import missing_field
from smg.sim.params import (
    JsonObject,
    chat_prompt,
    content_text,
    max_tokens,
    model_name,
    parse_object,
    stop_strings,
    wants_stream,
)
from smg.sim.sampler import Completion
from smg.sim.sse import EventStream, named_event, open_stream
from smg.sim.tokenizer import Prompt


async def messages(ctx: SimContext, request: Request) -> Any:
    body = parse_object(request.body)
    if body.get("max_tokens") is None:
        raise missing_field("max_tokens")
    spec = GenerationSpec(
        _prompt(body),
        max_tokens(body, ("max_tokens",), ctx.config.max_tokens_default),
        stop=stop_strings(body.get("stop_sequences")),
    )
    message_id = ctx.ids.new("msg_")
    model = model_name(body, ctx.config.model)
    engine = ctx.engine
    if wants_stream(body):
        async with engine.generate(spec) as generation:
            start = _message(message_id, model, generation, None)
            await _stream(ctx, request, start, generation)
        return None

    async with engine.generate(spec) as generation:
        await engine.decode(generation.completion_tokens)
    return _message(message_id, model, generation, generation.choices[0])


def _prompt(body: JsonObject) -> Prompt:
    turns = body.get("messages")
    if turns is None:
        raise missing_field("messages")
    system = body.get("system")
    if system is None:
        return chat_prompt(body)
    system_turn = {"role": "system", "content": content_text(system)}
    listed = turns if isinstance(turns, list) else []
    return chat_prompt({"messages": [system_turn, *listed]})


def _message(
    message_id: str, model: str, generation: Generation, choice: Completion | None
) -> JsonObject:
    """The message object; with no `choice`, the empty one a stream starts with."""
    done = choice is not None
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": choice.text}] if choice else [],
        "stop_reason": _stop_reason(choice) if choice else None,
        "stop_sequence": choice.matched_stop if choice else None,
        "usage": _usage(generation, generation.completion_tokens if done else 0),
    }


def _stop_reason(choice: Completion) -> str:
    return "stop_sequence" if choice.finish_reason == "stop" else "max_tokens"


def _usage(generation: Generation, output_tokens: int) -> JsonObject:
    # Anthropic counts cache reads apart from the uncached input tokens.
    return {
        "input_tokens": generation.prompt_tokens - generation.cached_tokens,
        "cache_read_input_tokens": generation.cached_tokens,
        "cache_creation_input_tokens": 0,
        "output_tokens": output_tokens,
    }


async def _stream(
    ctx: SimContext, request: Request, start: JsonObject, generation: Generation
) -> None:
    stream = open_stream(ctx, request)
    choice = generation.choices[0]
    await _send(stream, "message_start", message=start)
    block = {"type": "text", "text": ""}
    await _send(stream, "content_block_start", index=0, content_block=block)
    for piece in choice.pieces:
        await ctx.engine.step()
        delta = {"type": "text_delta", "text": piece}
        await _send(stream, "content_block_delta", index=0, delta=delta)

    await _send(stream, "content_block_stop", index=0)
    stop = {"stop_reason": _stop_reason(choice), "stop_sequence": choice.matched_stop}
    usage = {"output_tokens": generation.completion_tokens}
    await _send(stream, "message_delta", delta=stop, usage=usage)
    await _send(stream, "message_stop")
    # Anthropic streams end with message_stop, not with `[DONE]`.
    await stream.finish(b"")


async def _send(stream: EventStream, kind: str, **fields: Any) -> None:
    await stream.send(named_event(kind, {"type": kind, **fields}))
