"""The worker REST API: add, list, inspect, update and remove workers at runtime.

Registration runs in the background (202 at once); removal drains: the worker
stops taking requests, stays listed while its in-flight requests finish, then
leaves. Errors here use the original's worker-API shape `{"error", "code"}`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from smg.context import AppContext
from smg.http.server import Request
from smg.server.replies import send_json
from smg.workers.worker import DRAINING, Worker

logger = logging.getLogger(__name__)

Handler = Callable[[Request, str], Awaitable[None]]
DRAIN_POLL_S = 0.1


class WorkerApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class WorkersApi:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def handle(self, request: Request, request_id: str) -> None:
        try:
            status, body, extra = await self._route(request)
        except WorkerApiError as exc:
            status, body, extra = (
                exc.status,
                {"error": exc.message, "code": exc.code},
                [],
            )
        send_json(request, request_id, status, body, extra)

    async def _route(
        self, request: Request
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if request.path == "/workers":
            if request.method == "POST":
                return self._add(_spec(request))
            return 200, self.listing(request.query), []
        worker = self._find(request.path[len("/workers/") :])
        if request.method == "GET":
            return 200, worker.info(), []
        if request.method == "DELETE":
            self._remove(worker)
            return (
                202,
                {
                    "status": "accepted",
                    "worker_id": worker.worker_id,
                    "message": "Worker removal queued; it drains first",
                },
                [],
            )
        if request.method in ("PUT", "PATCH"):
            self._update(worker, _spec(request), replace=request.method == "PUT")
            return (
                202,
                {
                    "status": "accepted",
                    "worker_id": worker.worker_id,
                    "message": "Worker update queued",
                },
                [],
            )
        raise WorkerApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} not allowed")

    def listing(self, query: str = "") -> dict[str, Any]:
        model = _query_value(query, "model")
        workers = [w for w in self._ctx.registry.all() if model in (None, w.model_id)]
        counts = {"prefill_count": 0, "decode_count": 0, "regular_count": 0}
        for w in workers:
            counts[f"{w.worker_type}_count"] = (
                counts.get(f"{w.worker_type}_count", 0) + 1
            )
        return {
            "workers": [w.info() for w in workers],
            "total": len(workers),
            "stats": counts,
        }

    def _add(self, spec: dict[str, Any]) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        url = _valid_url(spec.get("url"))
        if self._ctx.registry.find_url(url) is not None:
            raise WorkerApiError(
                409,
                "WORKER_ALREADY_EXISTS",
                f"Worker already exists at URL {url}. Use PUT /workers/{{id}} to "
                "replace it or PATCH /workers/{id} to update it",
            )
        worker = self._ctx.new_worker(
            url, api_key=spec.get("api_key") or self._ctx.config.security.api_key
        )
        _apply_fields(worker, spec)
        self._ctx.registry.add(worker)
        self._spawn(self._ctx.bring_up(worker))
        location = f"/workers/{worker.worker_id}"
        body = {
            "status": "accepted",
            "worker_id": worker.worker_id,
            "url": url,
            "location": location,
            "message": "Worker addition queued for background processing",
        }
        return 202, body, [(b"location", location.encode())]

    def _update(self, worker: Worker, spec: dict[str, Any], replace: bool) -> None:
        if replace and _valid_url(spec.get("url")) != worker.url:
            raise WorkerApiError(400, "BAD_REQUEST", "PUT must keep the worker's URL")
        if "api_key" in spec:
            worker.api_key = spec["api_key"]
        _apply_fields(worker, spec)
        self._ctx.registry.refresh()

    def _remove(self, worker: Worker) -> None:
        worker.status = DRAINING
        self._ctx.registry.refresh()
        self._spawn(self._drain(worker))

    async def _drain(self, worker: Worker) -> None:
        while worker.load > 0:
            await asyncio.sleep(DRAIN_POLL_S)
        self._ctx.registry.remove(worker)
        logger.info("worker removed", extra={"worker_url": worker.url})

    def _find(self, worker_id: str) -> Worker:
        try:
            uuid.UUID(worker_id)
        except ValueError:
            raise WorkerApiError(
                400, "BAD_REQUEST", f"Invalid worker_id '{worker_id}' (expected UUID)"
            ) from None
        worker = self._ctx.registry.get(worker_id)
        if worker is None:
            raise WorkerApiError(
                404, "WORKER_NOT_FOUND", f"No worker with id {worker_id}"
            )
        return worker

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._ctx.background.add(task)
        task.add_done_callback(self._ctx.background.discard)


def _spec(request: Request) -> dict[str, Any]:
    try:
        spec = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise WorkerApiError(
            400, "BAD_REQUEST", "The body must be a JSON object"
        ) from None
    if not isinstance(spec, dict):
        raise WorkerApiError(400, "BAD_REQUEST", "The body must be a JSON object")
    return spec


def _valid_url(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WorkerApiError(
            400, "BAD_REQUEST", f"Invalid worker URL {url!r}: expected http://host:port"
        )
    return url.rstrip("/")


def _apply_fields(worker: Worker, spec: dict[str, Any]) -> None:
    if isinstance(spec.get("labels"), dict):
        worker.labels.update({str(k): str(v) for k, v in spec["labels"].items()})
    if isinstance(spec.get("priority"), int):
        worker.priority = spec["priority"]
    if isinstance(spec.get("cost"), int | float):
        worker.cost = float(spec["cost"])


def _query_value(query: str, name: str) -> str | None:
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name and value:
            return value
    return None
