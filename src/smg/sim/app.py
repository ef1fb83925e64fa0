"""The simulator's request handler: route table, fault gate, answers and errors.

A handler returns a JSON-able value to be sent whole with status 200, or None
when it answered by itself (a stream, an empty health reply). Inference routes
pass through the fault gate first and are counted as completed or aborted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from smg.http.server import Request
from smg.sim import (
    control_api,
    messages_api,
    metrics_api,
    native_api,
    openai_api,
    pooling_api,
    responses_api,
)
from smg.sim.context import SimContext
from smg.sim.errors import JSON_HEADERS, SimError, error_body
from smg.sim.scheduler import QueueFullError
from smg.sim.sse import StreamDroppedError

logger = logging.getLogger(__name__)

RouteHandler = Callable[[SimContext, Request], Awaitable[Any]]
_GET = frozenset({"GET"})
_POST = frozenset({"POST"})
_ANY = _GET | _POST


@dataclass(frozen=True, slots=True)
class Route:
    methods: frozenset[str]
    handler: RouteHandler
    is_inference: bool = False


def _inference(handler: RouteHandler) -> Route:
    return Route(_POST, handler, is_inference=True)


ROUTES: dict[str, Route] = {
    "/v1/chat/completions": _inference(openai_api.chat_completions),
    "/v1/completions": _inference(openai_api.completions),
    "/generate": _inference(native_api.generate),
    "/v1/embeddings": _inference(pooling_api.embeddings),
    "/v1/rerank": _inference(pooling_api.rerank),
    "/rerank": _inference(pooling_api.rerank),
    "/v1/classify": _inference(pooling_api.classify),
    "/v1/responses": _inference(responses_api.responses),
    "/v1/messages": _inference(messages_api.messages),
    "/health": Route(_GET, native_api.health),
    "/health_generate": Route(_GET, native_api.health),
    "/v1/models": Route(_GET, native_api.models),
    "/get_server_info": Route(_GET, native_api.server_info),
    "/server_info": Route(_GET, native_api.server_info),
    "/get_model_info": Route(_GET, native_api.model_info),
    "/model_info": Route(_GET, native_api.model_info),
    "/v1/loads": Route(_GET, native_api.loads),
    "/metrics": Route(_GET, metrics_api.metrics),
    "/get_load": Route(_GET, native_api.get_load),
    "/flush_cache": Route(_ANY, native_api.flush_cache),
    "/sim/faults": Route(_ANY, control_api.faults),
    "/sim/stats": Route(_GET, control_api.stats),
    "/sim/reset": Route(_POST, control_api.reset),
}


class SimApp:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    async def handle(self, request: Request) -> None:
        """The HTTP server's handler: route, run, and render errors."""
        path = request.path
        if not path.startswith("/sim/"):
            self.ctx.stats.record(request.method, path, request.headers, request.body)
        try:
            route = _lookup(request)
            if route.is_inference:
                await self._serve_inference(route, request)
            else:
                _answer(request, await route.handler(self.ctx, request))
        except SimError as exc:
            request.respond(exc.status, JSON_HEADERS, error_body(exc))

    async def _serve_inference(self, route: Route, request: Request) -> None:
        stats = self.ctx.stats
        try:
            await self._apply_faults()
            result = await self._run_handler(route, request)
        except asyncio.CancelledError:
            stats.aborted += 1
            raise
        except QueueFullError as exc:
            stats.rejected += 1
            message = "the waiting queue is full; retry later"
            raise SimError(503, message, "queue_full") from exc
        except StreamDroppedError:
            stats.dropped += 1
            return

        if result is not None and self.ctx.faults.current.drop_after_chunks is not None:
            # A whole answer has no chunks: dropping means never answering.
            stats.dropped += 1
            request._conn.close()
            return
        _answer(request, result)
        stats.completed += 1

    async def _run_handler(self, route: Route, request: Request) -> Any:
        pd = self.ctx.pd
        if pd is None:
            return await route.handler(self.ctx, request)
        return await pd.serve(request, lambda: route.handler(self.ctx, request))

    async def _apply_faults(self) -> None:
        faults = self.ctx.faults
        current = faults.current
        if current.delay_ms or current.hang:
            await self._stall(current.delay_ms, current.hang)
        if faults.should_fail():
            self.ctx.stats.failed += 1
            status = current.fail_status
            raise SimError(status, "injected failure (fail_rate)", "injected_failure")

    async def _stall(self, delay_ms: float, hang: bool) -> None:
        # Stalled requests are reported as waiting load, so a slow or stuck
        # worker looks busy to load-aware policies, as a real one would.
        stats = self.ctx.stats
        stats.stalled += 1
        try:
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000.0)
            if hang:
                # Never answer: only the client going away ends this request.
                await asyncio.get_running_loop().create_future()
        finally:
            stats.stalled -= 1


def _lookup(request: Request) -> Route:
    route = ROUTES.get(request.path)
    if route is None:
        raise SimError(404, f"Invalid URL ({request.method} {request.path})")
    if request.method not in route.methods:
        message = f"Method {request.method} is not allowed on {request.path}"
        raise SimError(405, message)
    return route


def _answer(request: Request, result: Any) -> None:
    if result is not None:
        request.respond(200, JSON_HEADERS, orjson.dumps(result))
