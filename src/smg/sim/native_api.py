"""SGLang's native surface: `/generate`, health, server and model info, loads.

Streamed `/generate` chunks carry the cumulative text, as SGLang sends by default;
`output_ids` appear only in the whole answer.
"""

from __future__ import annotations

import time
import zlib
from datetime import UTC, datetime
from typing import Any

from smg import __version__
from smg.http.server import Request
from smg.sim.context import SimContext
from smg.sim.engine import Generation, GenerationSpec
from smg.sim.errors import SimError, invalid_field, missing_field
from smg.sim.params import (
    JsonObject,
    completion_prompt,
    max_tokens,
    optional_int,
    parse_object,
    stop_strings,
    wants_stream,
)
from smg.sim.sampler import Completion
from smg.sim.sse import data_event, open_stream
from smg.sim.tokenizer import CHARS_PER_TOKEN, Prompt

VERSION = f"{__version__}-sim"


async def generate(ctx: SimContext, request: Request) -> Any:
    body = parse_object(request.body)
    batch = _batch_items(body)
    if batch is not None and not wants_stream(body):
        # Batches are answered item by item, as a list, like SGLang's.
        return [await _generate_whole(ctx, item) for item in batch]
    spec = _generate_spec(ctx, body)
    if wants_stream(body):
        logprobs = _input_logprobs(ctx, spec.prompt) if _wants_logprobs(body) else None
        await _stream_generate(ctx, request, spec, _rid(ctx, body), logprobs)
        return None
    return await _generate_whole(ctx, body)


def _rid(ctx: SimContext, body: JsonObject) -> str:
    request_id = body.get("rid")
    return request_id if isinstance(request_id, str) else ctx.ids.new("gen-")


def _batch_items(body: JsonObject) -> list[JsonObject] | None:
    """One body per prompt of a batched `text` or `input_ids`; None if single."""
    for name in ("input_ids", "text"):
        value = body.get(name)
        if not (isinstance(value, list) and len(value) > 1):
            continue
        if all(isinstance(item, (str, list)) for item in value):
            return [{**body, name: item} for item in value]
    return None


async def _generate_whole(ctx: SimContext, body: JsonObject) -> JsonObject:
    spec = _generate_spec(ctx, body)
    request_id = _rid(ctx, body)
    logprobs = _input_logprobs(ctx, spec.prompt) if _wants_logprobs(body) else None
    started = time.monotonic()
    engine = ctx.engine
    async with engine.generate(spec) as generation:
        await engine.decode(len(generation.choices[0].token_ids))
    choice = generation.choices[0]
    meta = _meta_info(request_id, generation, choice, len(choice.token_ids), True)
    meta["e2e_latency"] = time.monotonic() - started
    if logprobs is not None:
        meta["input_token_logprobs"] = logprobs
    return {"text": choice.text, "output_ids": choice.token_ids, "meta_info": meta}


def _generate_spec(ctx: SimContext, body: JsonObject) -> GenerationSpec:
    params = body.get("sampling_params") or {}
    if not isinstance(params, dict):
        raise invalid_field("sampling_params", "an object")
    return GenerationSpec(
        _generate_prompt(body),
        max_tokens(params, ("max_new_tokens",), ctx.config.max_tokens_default),
        optional_int(params, "sampling_seed"),
        stop_strings(params.get("stop")),
    )


def _generate_prompt(body: JsonObject) -> Prompt:
    if body.get("text") is not None:
        return completion_prompt(body["text"], "text")
    if body.get("input_ids") is not None:
        return completion_prompt(body["input_ids"], "input_ids")
    raise missing_field("text")


def _meta_info(
    request_id: str,
    generation: Generation,
    choice: Completion,
    completion_tokens: int,
    is_done: bool,
) -> JsonObject:
    return {
        "id": request_id,
        "finish_reason": _finish_reason(choice) if is_done else None,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": completion_tokens,
        "cached_tokens": generation.cached_tokens,
    }


def _finish_reason(choice: Completion) -> JsonObject:
    if choice.finish_reason == "stop":
        return {"type": "stop", "matched": choice.matched_stop}
    return {"type": "length", "length": len(choice.token_ids)}


def _wants_logprobs(body: JsonObject) -> bool:
    return body.get("return_logprob") is True


def _input_logprobs(ctx: SimContext, prompt: Prompt) -> list[list[Any]]:
    """`[logprob, token_id, None]` per prompt token, as SGLang reports them.

    A disaggregated decode worker did not compute the prompt, so it reports only
    the last prompt token; the gateway prepends the prefill worker's entries.
    """
    ids = list(prompt.ids) if prompt.ids is not None else _text_ids(prompt.text)
    if ctx.pd is not None and ctx.pd.role == "decode":
        ids = ids[-1:]
    return [[-0.1 - (token % 97) / 10, token, None] for token in ids]


def _text_ids(text: str | None) -> list[int]:
    text = text or ""
    return [
        zlib.crc32(text[i : i + CHARS_PER_TOKEN].encode()) % 32000
        for i in range(0, len(text), CHARS_PER_TOKEN)
    ]


async def _stream_generate(
    ctx: SimContext,
    request: Request,
    spec: GenerationSpec,
    request_id: str,
    logprobs: list[list[Any]] | None,
) -> None:
    engine = ctx.engine
    async with engine.generate(spec) as generation:
        stream = open_stream(ctx, request)
        choice = generation.choices[0]
        pieces = choice.pieces
        text = ""
        for count, piece in enumerate(pieces, start=1):
            await engine.step()
            text += piece
            meta = _meta_info(
                request_id, generation, choice, count, count == len(pieces)
            )
            if logprobs is not None:
                meta["input_token_logprobs"] = logprobs
            await stream.send(data_event({"text": text, "meta_info": meta}))
        if not pieces:
            meta = _meta_info(request_id, generation, choice, 0, True)
            await stream.send(data_event({"text": "", "meta_info": meta}))
        await stream.finish()


async def health(ctx: SimContext, request: Request) -> Any:
    if ctx.faults.current.fail_health:
        raise SimError(503, "the simulated engine is unhealthy (fail_health is on)")
    request.respond(200, [], b"")
    return None


async def models(ctx: SimContext, request: Request) -> Any:
    model = {
        "id": ctx.config.model,
        "object": "model",
        "created": int(ctx.started_at),
        "owned_by": "sglang",
        "root": ctx.config.model,
        "max_model_len": ctx.config.max_total_tokens,
    }
    return {"object": "list", "data": [model]}


async def server_info(ctx: SimContext, request: Request) -> Any:
    config = ctx.config
    latency = config.latency
    return {
        "served_model_name": config.model,
        "model_path": config.model,
        "tokenizer_path": config.model,
        "dp_size": config.dp_size,
        "tp_size": 1,
        "max_running_requests": config.max_running_requests,
        "max_total_num_tokens": config.max_total_tokens,
        "page_size": 16,
        "random_seed": config.seed,
        "version": VERSION,
        "is_simulated": True,
        **_disaggregation_info(ctx),
        "sim_latency": {
            "ttft_base_ms": latency.ttft_base_ms,
            "prefill_ms_per_token": latency.prefill_ms_per_token,
            "itl_base_ms": latency.itl_base_ms,
            "itl_ms_per_running": latency.itl_ms_per_running,
        },
    }


def _disaggregation_info(ctx: SimContext) -> JsonObject:
    """PD fields as the engines report them: SGLang's mode and port, vLLM's
    `kv_transfer_config`; the gateway reads the connector from here."""
    pd = ctx.pd
    if pd is None:
        return {"disaggregation_mode": "null"}
    info: JsonObject = {
        "disaggregation_mode": pd.role,
        "disaggregation_bootstrap_port": pd.bootstrap_port,
    }
    if pd.config.kv_connector:
        role = "kv_producer" if pd.role == "prefill" else "kv_consumer"
        info["kv_connector"] = pd.config.kv_connector
        info["kv_transfer_config"] = {
            "kv_connector": pd.config.kv_connector,
            "kv_role": role,
        }
    return info


async def model_info(ctx: SimContext, request: Request) -> Any:
    return {
        "model_path": ctx.config.model,
        "tokenizer_path": ctx.config.model,
        "is_generation": True,
        "model_type": "sim",
        "max_context_length": ctx.config.max_total_tokens,
    }


async def loads(ctx: SimContext, request: Request) -> Any:
    """The `/v1/loads` report: one scheduler, so one DP rank."""
    load = rank_load(ctx)
    return {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "version": VERSION,
        "dp_rank_count": 1,
        "loads": [load],
        "aggregate": {
            "total_running_reqs": load["num_running_reqs"],
            "total_waiting_reqs": load["num_waiting_reqs"],
            "total_reqs": load["num_total_reqs"],
            "avg_token_usage": load["token_usage"],
            "avg_throughput": load["gen_throughput"],
            "avg_utilization": load["utilization"],
        },
    }


def rank_load(ctx: SimContext) -> JsonObject:
    """Load of the one scheduler; requests stalled by faults count as waiting."""
    scheduler = ctx.engine.scheduler
    capacity = ctx.config.max_total_tokens
    running = scheduler.running
    waiting = scheduler.waiting + ctx.stats.stalled
    return {
        "dp_rank": 0,
        "num_running_reqs": running,
        "num_waiting_reqs": waiting,
        "num_total_reqs": running + waiting,
        "num_used_tokens": scheduler.used_tokens,
        "max_total_num_tokens": capacity,
        "token_usage": min(1.0, scheduler.used_tokens / capacity),
        "gen_throughput": ctx.throughput.read(ctx.stats.completion_tokens),
        "cache_hit_rate": ctx.stats.cache_hit_rate,
        "utilization": running / scheduler.max_running,
        "max_running_requests": scheduler.max_running,
        "num_waiting_uncached_tokens": scheduler.waiting_tokens,
    }


async def get_load(ctx: SimContext, request: Request) -> Any:
    """SGLang's older, simpler load report."""
    load = rank_load(ctx)
    return [
        {
            "dp_rank": 0,
            "num_reqs": load["num_total_reqs"],
            "num_waiting_reqs": load["num_waiting_reqs"],
            "num_tokens": load["num_used_tokens"],
        }
    ]


async def flush_cache(ctx: SimContext, request: Request) -> Any:
    ctx.engine.flush_cache()
    request.respond(200, [(b"content-type", b"text/plain")], b"Cache flushed.\n")
    return None
