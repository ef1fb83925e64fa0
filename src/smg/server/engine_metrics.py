"""GET /engine_metrics: the engines' own Prometheus metrics, in one exposition.

Each engine (a data-parallel engine once, however many ranks it exposes) is
asked for its `/metrics`; every sample gets a `worker` label naming the engine
it came from, and each family's HELP and TYPE lines are kept once, so the
result parses as one exposition. Engines that fail are left out; when all of
them fail the answer is a 500, as the original's.
"""

from __future__ import annotations

import asyncio
import logging

from smg.context import AppContext
from smg.http.server import Request
from smg.policies.dp_aware import base_url
from smg.server.errors import GatewayError
from smg.workers.http_client import UpstreamError

logger = logging.getLogger(__name__)

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


async def engine_metrics(ctx: AppContext, request: Request, request_id: str) -> None:
    engines = sorted({base_url(w) for w in ctx.registry.ready_workers()})
    if not engines:
        message = "No ready workers to collect engine metrics from"
        raise GatewayError(503, "no_available_workers", message)
    timeout_s = ctx.config.workers.health_check_timeout_secs
    texts = await asyncio.gather(*(_fetch(ctx, url, timeout_s) for url in engines))
    fetched = [(url, text) for url, text in zip(engines, texts, strict=True) if text]
    if not fetched:
        raise GatewayError(500, "engine_metrics_failed", "All backend requests failed")
    headers = [(b"content-type", CONTENT_TYPE), (b"x-request-id", request_id.encode())]
    request.respond(200, headers, merge(fetched).encode())


async def _fetch(ctx: AppContext, url: str, timeout_s: float) -> str | None:
    try:
        body = await ctx.client.get_bytes(url, "/metrics", timeout_s)
    except UpstreamError as exc:
        logger.warning(
            "engine metrics unavailable", extra={"worker_url": url, "reason": str(exc)}
        )
        return None
    return body.decode("utf-8", "replace")


def merge(expositions: list[tuple[str, str]]) -> str:
    """One exposition from (engine url, text) pairs, samples labelled by engine."""
    described: set[str] = set()
    lines: list[str] = []
    for url, text in expositions:
        label = f'worker="{_escape(url)}"'
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                if line not in described:
                    described.add(line)
                    lines.append(line)
                continue
            lines.append(with_label(line, label))
    return "\n".join(lines) + "\n"


def with_label(sample: str, label: str) -> str:
    """Add `label` to one sample line (`name{a="b"} 1` or `name 1`)."""
    brace = sample.find("{")
    space = sample.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        closing = sample.rfind("}")
        inner = sample[brace + 1 : closing].strip().rstrip(",")
        joined = f"{inner},{label}" if inner else label
        return f"{sample[:brace]}{{{joined}}}{sample[closing + 1 :]}"
    if space == -1:
        return sample
    return f"{sample[:space]}{{{label}}}{sample[space:]}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
