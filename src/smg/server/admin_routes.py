"""Admin routes: the worker list, engine loads and cache flush fan-outs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from smg import __version__
from smg.context import AppContext
from smg.http.server import Request
from smg.policies.dp_aware import base_url
from smg.server.replies import send_json
from smg.workers.http_client import UpstreamError
from smg.workers.worker import Worker

Handler = Callable[[Request, str], Awaitable[None]]

LOAD_FIELDS = (
    "num_running_reqs",
    "num_waiting_reqs",
    "num_waiting_uncached_tokens",
    "num_total_reqs",
    "num_used_tokens",
    "max_total_num_tokens",
    "token_usage",
    "gen_throughput",
    "cache_hit_rate",
    "utilization",
    "max_running_requests",
)


def routes(ctx: AppContext) -> list[tuple[str, str, Handler]]:
    async def get_loads(request: Request, request_id: str) -> None:
        send_json(request, request_id, 200, await collect_loads(ctx))

    async def flush_cache(request: Request, request_id: str) -> None:
        status, body = await flush_all(ctx)
        send_json(request, request_id, status, body)

    return [
        ("GET", "/get_loads", get_loads),
        ("GET", "/loads", get_loads),
        ("POST", "/flush_cache", flush_cache),
    ]


async def collect_loads(ctx: AppContext) -> dict[str, Any]:
    """Ask every worker for its load report and merge them in the original's shape."""
    workers = _engines(ctx)
    reports = await asyncio.gather(*(_worker_loads(ctx, w) for w in workers))
    loads = [entry for report in reports for entry in report]
    count = len(loads) or 1
    aggregate = {
        "total_running_reqs": sum(e["num_running_reqs"] for e in loads),
        "total_waiting_reqs": sum(e["num_waiting_reqs"] for e in loads),
        "total_reqs": sum(e["num_total_reqs"] for e in loads),
        "avg_token_usage": sum(e["token_usage"] for e in loads) / count,
        "avg_throughput": sum(e["gen_throughput"] for e in loads) / count,
        "avg_utilization": sum(e["utilization"] for e in loads) / count,
    }
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "version": f"smg-py-{__version__}",
        "dp_rank_count": len(loads),
        "loads": loads,
        "aggregate": aggregate,
    }


async def _worker_loads(ctx: AppContext, worker: Worker) -> list[dict[str, Any]]:
    timeout = ctx.config.workers.health_check_timeout_secs
    try:
        report = await ctx.client.get_json(base_url(worker), "/v1/loads", timeout)
    except UpstreamError:
        return []
    entries = report.get("loads") if isinstance(report, dict) else None
    if not isinstance(entries, list):
        return []
    return [_load_entry(worker, e) for e in entries if isinstance(e, dict)]


def _load_entry(worker: Worker, entry: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "worker": base_url(worker),
        "worker_type": worker.worker_type,
        "dp_rank": entry.get("dp_rank", 0),
    }
    for field in LOAD_FIELDS:
        value = entry.get(field, 0)
        merged[field] = value if isinstance(value, (int, float)) else 0
    return merged


async def flush_all(ctx: AppContext) -> tuple[int, dict[str, Any]]:
    """POST /flush_cache to every worker; 200 when all succeed, else 206."""
    workers = _engines(ctx)
    results = await asyncio.gather(*(_flush_one(ctx, w) for w in workers))
    failed = [
        {"worker": base_url(w), "error": err}
        for w, err in zip(workers, results, strict=True)
        if err
    ]
    succeeded = [
        base_url(w) for w, err in zip(workers, results, strict=True) if not err
    ]
    counts = {
        "workers_flushed": len(succeeded),
        "total_http_workers": len(workers),
        "total_grpc_workers": 0,
        "total_zmq_workers_skipped": 0,
        "total_workers": len(workers),
    }
    if not failed:
        message = f"Successfully flushed cache on all {len(succeeded)} workers"
        return 200, {"status": "success", "message": message, **counts}
    body = {
        "status": "partial_success",
        "message": f"Cache flushed on {len(succeeded)} of {len(workers)} workers",
        "successful": succeeded,
        "failed": failed,
        **counts,
    }
    return 206, body


async def _flush_one(ctx: AppContext, worker: Worker) -> str | None:
    """Flush one worker; the error text, or None on success."""
    try:
        upstream = await ctx.client.send(
            "POST",
            base_url(worker),
            "/flush_cache",
            {"content-type": "application/json"},
            b"{}",
        )
        await upstream.read()
    except UpstreamError as exc:
        return str(exc)
    if upstream.status >= 400:
        return f"worker answered {upstream.status}"
    return None


def _engines(ctx: AppContext) -> list[Worker]:
    """One worker per engine: the data-parallel ranks of one engine count once."""
    by_engine: dict[str, Worker] = {}
    for worker in ctx.registry.all():
        by_engine.setdefault(base_url(worker), worker)
    return list(by_engine.values())
