"""The gateway's route table and the one handler every request enters through.

The top handler resolves the request id, finds the route, applies the route
kind's gates (auth, admission, CORS), and turns any GatewayError into its
OpenAI-shaped answer; route handlers only do their job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from smg.context import AppContext
from smg.http.server import Request
from smg.routers.http_proxy import HttpProxy, RouteSpec
from smg.routers.pd_router import PdRouter
from smg.routers.rerank import rewrite_rerank_reply
from smg.server import admin_routes, errors, info_routes
from smg.server.auth import Authenticator
from smg.server.cors import Cors
from smg.server.errors import GatewayError
from smg.server.workers_api import WorkersApi

logger = logging.getLogger(__name__)

RouteHandler = Callable[[Request, str], Awaitable[None]]

SERVING = "serving"  # needs the data-plane key, goes through admission
PUBLIC = "public"  # open: health, readiness, models, info
CONTROL = "control"  # needs a control-plane key

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
WORKER_ITEM_PREFIX = "/workers/"
WORKER_ITEM_ROUTE = "/workers/{worker_id}"
# The status recorded for a request whose client went away unanswered.
CLIENT_GONE = 499


@dataclass(frozen=True, slots=True)
class Route:
    handler: RouteHandler
    kind: str


class GatewayApp:
    """Maps (path, method) to handlers and answers errors in one place."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._observability = ctx.observability
        self._auth = Authenticator(ctx.config.security)
        self._cors = Cors(ctx.config.security.cors_allowed_origins)
        self._routes: dict[str, dict[str, Route]] = {}
        proxy: HttpProxy | PdRouter = HttpProxy(ctx)
        if ctx.config.pd.enabled:
            proxy = PdRouter(ctx)
        for path, spec in SERVING_ROUTES.items():
            self._add("POST", path, _serving(proxy, spec), SERVING)
        for method, path, handler in info_routes.routes(ctx):
            self._add(method, path, handler, PUBLIC)
        for method, path, handler in admin_routes.routes(ctx):
            self._add(method, path, handler, CONTROL)
        workers_api = WorkersApi(ctx).handle
        for method in ("GET", "POST"):
            self._add(method, "/workers", workers_api, CONTROL)
        self._worker_item = {
            m: Route(workers_api, CONTROL) for m in ("GET", "PUT", "PATCH", "DELETE")
        }

    @property
    def auth(self) -> Authenticator:
        return self._auth

    def _add(self, method: str, path: str, handler: RouteHandler, kind: str) -> None:
        self._routes.setdefault(path, {})[method] = Route(handler, kind)

    async def __call__(self, request: Request) -> None:
        ctx = self._ctx
        request_id = ctx.request_ids.resolve(request.headers, request.path)
        scope = self._observability.begin_request(
            request.method,
            request.path,
            self._route_label(request.path),
            request.headers,
            request_id,
        )
        ctx.in_flight += 1
        try:
            if self._cors.enabled and self._cors.handle(request, request_id):
                return
            route = self._route(request)
            await self._run(route, request, request_id)
        except GatewayError as exc:
            scope.error_code = exc.code
            self._answer_error(request, request_id, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id})
            error = GatewayError(500, "internal_error", "Internal error")
            scope.error_code = error.code
            self._answer_error(request, request_id, error)
        finally:
            ctx.in_flight -= 1
            # A client that left before any answer is logged as nginx does.
            self._observability.end_request(scope, request.status or CLIENT_GONE)

    def _route_label(self, path: str) -> str | None:
        """The matched route path, bounded for metric labels; None if unknown."""
        if path in self._routes:
            return path
        if path.startswith(WORKER_ITEM_PREFIX):
            return WORKER_ITEM_ROUTE
        return None

    def _route(self, request: Request) -> Route:
        methods = self._routes.get(request.path)
        if methods is None and request.path.startswith(WORKER_ITEM_PREFIX):
            methods = self._worker_item
        if methods is None:
            raise errors.unknown_url(request.method, request.path)
        route = methods.get(request.method)
        if route is None:
            raise errors.method_not_allowed(request.method, request.path)
        return route

    async def _run(self, route: Route, request: Request, request_id: str) -> None:
        if route.kind == PUBLIC:
            await route.handler(request, request_id)
        elif route.kind == CONTROL:
            self._auth.check_control(request)
            await route.handler(request, request_id)
        else:
            self._auth.check_serving(request)
            await self._admitted(route, request, request_id)

    async def _admitted(self, route: Route, request: Request, request_id: str) -> None:
        admission = self._ctx.admission
        if not admission.enabled:
            await route.handler(request, request_id)
            return
        try:
            await admission.acquire()
        except GatewayError as exc:
            self._observability.metrics.admission_rejected(exc.code)
            raise
        try:
            # The permit covers the whole response, streamed bodies included.
            await route.handler(request, request_id)
        finally:
            admission.release()

    def _answer_error(
        self, request: Request, request_id: str, exc: GatewayError
    ) -> None:
        if request.response_started:
            # Too late for a status: the stream relay already told the client.
            return
        headers, body = errors.render(exc)
        headers.append((b"x-request-id", request_id.encode("ascii")))
        request.respond(exc.status, headers, body)


def _serving(proxy: HttpProxy | PdRouter, spec: RouteSpec) -> RouteHandler:
    async def handle(request: Request, request_id: str) -> None:
        await proxy.handle(request, request_id, spec)

    return handle
