"""Public routes: liveness, readiness, the model list and worker info passthrough."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from smg.context import AppContext
from smg.http.server import Request
from smg.policies.dp_aware import base_url
from smg.routers.http_proxy import relay, upstream_failure
from smg.routers.pd_selection import has_pd_pair
from smg.server import errors
from smg.server.engine_metrics import engine_metrics
from smg.server.replies import send_json, send_text
from smg.workers.http_client import UpstreamError

Handler = Callable[[Request, str], Awaitable[None]]


def routes(ctx: AppContext) -> list[tuple[str, str, Handler]]:
    async def liveness(request: Request, request_id: str) -> None:
        send_text(request, request_id, 200, "OK")

    async def readiness(request: Request, request_id: str) -> None:
        healthy = len(ctx.registry.ready_workers())
        total = len(ctx.registry.all())
        body: dict[str, object]
        if ctx.draining:
            body = {"status": "not ready", "reason": "draining"}
            send_json(request, request_id, 503, body)
        elif healthy and (not ctx.config.pd.enabled or has_pd_pair(ctx.registry)):
            body = {
                "status": "ready",
                "healthy_workers": healthy,
                "total_workers": total,
            }
            send_json(request, request_id, 200, body)
        else:
            body = {"status": "not ready", "reason": "insufficient healthy workers"}
            send_json(request, request_id, 503, body)

    async def models(request: Request, request_id: str) -> None:
        names = ctx.registry.models()
        if not names:
            send_text(request, request_id, 503, "No models available")
            return
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "self_hosted"}
            for name in names
        ]
        send_json(request, request_id, 200, {"object": "list", "data": data})

    return [
        ("GET", "/liveness", liveness),
        ("GET", "/health", liveness),
        ("GET", "/readiness", readiness),
        ("GET", "/v1/models", models),
        ("GET", "/get_model_info", _first_worker_get(ctx, "/get_model_info")),
        ("GET", "/get_server_info", _first_worker_get(ctx, "/get_server_info")),
        ("GET", "/health_generate", _first_worker_get(ctx, "/health_generate")),
        ("GET", "/engine_metrics", partial(engine_metrics, ctx)),
    ]


def _first_worker_get(ctx: AppContext, path: str) -> Handler:
    """Relay GET `path` from the first ready worker, verbatim."""

    async def handle(request: Request, request_id: str) -> None:
        workers = ctx.registry.ready_workers()
        if not workers:
            raise errors.no_available_workers("any")
        worker = workers[0]
        headers = {"x-request-id": request_id}
        try:
            upstream = await ctx.client.send("GET", base_url(worker), path, headers)
        except UpstreamError as exc:
            raise upstream_failure(exc) from exc
        await relay(request, request_id, worker, upstream)

    return handle
