"""The gateway's route table and the one handler every request enters through.

The top handler resolves the request id, finds the route, and turns any
GatewayError into its OpenAI-shaped answer; route handlers only do their job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from smg.context import AppContext
from smg.http.server import Request
from smg.routers.http_proxy import HttpProxy, RouteSpec
from smg.routers.rerank import rewrite_rerank_reply
from smg.server import admin_routes, errors, info_routes
from smg.server.errors import GatewayError

logger = logging.getLogger(__name__)

RouteHandler = Callable[[Request, str], Awaitable[None]]

# Serving routes proxied to workers: client path -> how to handle it.
SERVING_ROUTES: dict[str, RouteSpec] = {
    "/v1/chat/completions": RouteSpec("/v1/chat/completions", ("messages",)),
    "/v1/completions": RouteSpec("/v1/completions", ("prompt",)),
    "/generate": RouteSpec("/generate", model_optional=True),
    "/v1/embeddings": RouteSpec("/v1/embeddings", ("input",)),
    "/v1/rerank": RouteSpec(
        "/v1/rerank",
        ("query", "documents"),
        model_optional=True,
        rewrite_reply=rewrite_rerank_reply,
    ),
    "/rerank": RouteSpec(
        "/v1/rerank",
        ("model", "query", "documents"),
        rewrite_reply=rewrite_rerank_reply,
    ),
    "/v1/classify": RouteSpec("/v1/classify", ("input",)),
    "/v1/responses": RouteSpec("/v1/responses", ("input",)),
    "/v1/messages": RouteSpec("/v1/messages", ("messages",)),
}


class GatewayApp:
    """Maps (path, method) to handlers and answers errors in one place."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._routes: dict[str, dict[str, RouteHandler]] = {}
        proxy = HttpProxy(ctx)
        for path, spec in SERVING_ROUTES.items():
            self._add("POST", path, _serving(proxy, spec))
        for method, path, handler in info_routes.routes(ctx):
            self._add(method, path, handler)
        for method, path, handler in admin_routes.routes(ctx):
            self._add(method, path, handler)

    def _add(self, method: str, path: str, handler: RouteHandler) -> None:
        self._routes.setdefault(path, {})[method] = handler

    async def __call__(self, request: Request) -> None:
        request_id = self._ctx.request_ids.resolve(request.headers, request.path)
        try:
            methods = self._routes.get(request.path)
            if methods is None:
                raise errors.unknown_url(request.method, request.path)
            handler = methods.get(request.method)
            if handler is None:
                raise errors.method_not_allowed(request.method, request.path)
            await handler(request, request_id)
        except GatewayError as exc:
            self._answer_error(request, request_id, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id})
            self._answer_error(
                request,
                request_id,
                GatewayError(500, "internal_error", "Internal error"),
            )

    def _answer_error(
        self, request: Request, request_id: str, exc: GatewayError
    ) -> None:
        if request.response_started:
            # Too late for a status: the stream relay already told the client.
            return
        headers, body = errors.render(exc)
        headers.append((b"x-request-id", request_id.encode("ascii")))
        request.respond(exc.status, headers, body)


def _serving(proxy: HttpProxy, spec: RouteSpec) -> RouteHandler:
    async def handle(request: Request, request_id: str) -> None:
        await proxy.handle(request, request_id, spec)

    return handle
