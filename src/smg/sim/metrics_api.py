"""`GET /metrics`: the engine's own Prometheus metrics, named as SGLang names them.

Gauges of the scheduler's present state and counters of what it has done, so
the gateway's `/engine_metrics` has a real exposition to collect from.
"""

from __future__ import annotations

from smg.http.server import Request
from smg.sim.context import SimContext
from smg.sim.native_api import rank_load

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


async def metrics(ctx: SimContext, request: Request) -> None:
    load = rank_load(ctx)
    stats = ctx.stats
    labels = f'{{model_name="{ctx.config.model}"}}'
    families = (
        ("num_running_reqs", "gauge", load["num_running_reqs"]),
        ("num_queue_reqs", "gauge", load["num_waiting_reqs"]),
        ("token_usage", "gauge", load["token_usage"]),
        ("cache_hit_rate", "gauge", load["cache_hit_rate"]),
        ("gen_throughput", "gauge", load["gen_throughput"]),
        ("prompt_tokens_total", "counter", stats.prompt_tokens),
        ("generation_tokens_total", "counter", stats.completion_tokens),
        ("cached_tokens_total", "counter", stats.cache_hit_tokens),
    )
    lines = []
    for name, kind, value in families:
        lines.append(f"# TYPE sglang:{name} {kind}")
        lines.append(f"sglang:{name}{labels} {value}")
    body = ("\n".join(lines) + "\n").encode()
    request.respond(200, [(b"content-type", CONTENT_TYPE)], body)
