"""The regular HTTP router: one OpenAI request from client to worker and back.

Layers, one concern each: `handle` (parse what routing needs, pick the worker
group), `_dispatch` (choose a worker and attempt), `_send_once` (one upstream
call under a load guard), `_relay` (copy the answer back). The body is parsed
once, only to read the model and validate the shape; the original bytes are
forwarded unless the model field must be rewritten. Streams are copied as
bytes, never parsed per chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from smg.context import AppContext
from smg.http.server import Headers, Request
from smg.policies.base import RequestFacts
from smg.server import errors
from smg.server.errors import GatewayError
from smg.workers.http_client import UpstreamError, UpstreamResponse
from smg.workers.worker import UNKNOWN_MODEL, Worker

logger = logging.getLogger(__name__)

# Client headers a worker may see; everything else stays at the gateway.
FORWARDED_HEADERS = frozenset(
    {
        b"authorization",
        b"x-correlation-id",
        b"traceparent",
        b"tracestate",
        b"x-smg-routing-key",
    }
)
_EVENT_STREAM = b"text/event-stream"
_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """How one serving route is validated and where it goes upstream."""

    upstream_path: str
    required: tuple[str, ...] = ()
    # Without a model the request may go to any worker, and the forwarded body
    # names the model "unknown", as the original does for /generate.
    model_optional: bool = False
    # Rebuilds a successful whole answer from (request body, worker body); for
    # routes whose worker reply is not the client's shape (rerank).
    rewrite_reply: Callable[[dict[str, Any], bytes], bytes] | None = None


class HttpProxy:
    """Serves the proxied OpenAI and SGLang routes for HTTP workers."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._api_key = ctx.config.workers.api_key

    async def handle(self, request: Request, request_id: str, spec: RouteSpec) -> None:
        body = parse_json_object(request.body)
        model = _model_of(body, spec)
        group = self._ctx.registry.group_for(model)
        if group is None:
            raise errors.model_not_found(model or UNKNOWN_MODEL)
        canonical, workers = group
        if not workers:
            raise errors.no_available_workers(model or canonical)

        payload = request.body
        if model is None:
            body["model"] = UNKNOWN_MODEL
            payload = orjson.dumps(body)
        elif canonical not in (model, UNKNOWN_MODEL):
            # An alias: workers know only the canonical name.
            body["model"] = canonical
            payload = orjson.dumps(body)
        facts = RequestFacts(canonical, spec.upstream_path, body, request.headers)
        await self._dispatch(request, request_id, spec, facts, workers, payload)

    async def _dispatch(
        self,
        request: Request,
        request_id: str,
        spec: RouteSpec,
        facts: RequestFacts,
        workers: tuple[Worker, ...],
        payload: bytes,
    ) -> None:
        policy = self._ctx.policies.for_model(facts.model)
        worker = policy.select(workers, facts)
        if worker is None:
            raise errors.no_available_workers(facts.model)
        policy.on_routed(worker, facts)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "routed",
                extra={
                    "request_id": request_id,
                    "worker_url": worker.url,
                    "model": facts.model,
                    "policy": policy.name,
                },
            )
        headers = self.upstream_headers(request, request_id)
        rewrite = None
        if spec.rewrite_reply is not None:
            rewrite = _bind(spec.rewrite_reply, facts.body or {})
        await self._send_once(
            request, request_id, worker, spec.upstream_path, headers, payload, rewrite
        )

    async def _send_once(
        self,
        request: Request,
        request_id: str,
        worker: Worker,
        path: str,
        headers: dict[str, str],
        payload: bytes,
        rewrite: Callable[[bytes], bytes] | None = None,
    ) -> None:
        worker.begin_request()
        try:
            try:
                upstream = await self._ctx.client.send(
                    "POST", worker.url, path, headers, payload
                )
            except UpstreamError as exc:
                logger.warning(
                    "worker request failed",
                    extra={
                        "request_id": request_id,
                        "worker_url": worker.url,
                        "reason": str(exc),
                    },
                )
                raise upstream_failure(exc) from exc
            await relay(request, request_id, worker, upstream, rewrite)
        finally:
            worker.end_request()

    def upstream_headers(self, request: Request, request_id: str) -> dict[str, str]:
        """Headers sent to the worker: the allow-list, the request id, the key."""
        headers = {"content-type": "application/json", "x-request-id": request_id}
        for key, value in request.headers:
            if key in FORWARDED_HEADERS or key.startswith(b"x-request-id-"):
                headers[key.decode("latin-1")] = value.decode("latin-1")
        if self._api_key and "authorization" not in headers:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers


async def relay(
    request: Request,
    request_id: str,
    worker: Worker,
    upstream: UpstreamResponse,
    rewrite: Callable[[bytes], bytes] | None = None,
) -> None:
    """Copy the worker's answer to the client, whole or streamed as it comes."""
    headers = upstream.headers
    headers.append((b"x-request-id", request_id.encode("ascii")))
    headers.append((b"x-smg-routed-worker-id", worker.url_bytes))
    if not upstream.is_streamed:
        try:
            body = await upstream.read()
        except UpstreamError as exc:
            raise upstream_failure(exc) from exc
        if rewrite is not None and upstream.status < 300:
            body = rewrite(body)
            headers = [(k, v) for k, v in headers if k != b"content-encoding"]
        request.respond(upstream.status, headers, body)
        return
    await _relay_stream(request, request_id, upstream, headers)


async def _relay_stream(
    request: Request, request_id: str, upstream: UpstreamResponse, headers: Headers
) -> None:
    request.start_stream(upstream.status, headers)
    finished = False
    try:
        async for chunk in upstream.chunks():
            await request.write(chunk)
        finished = True
    except UpstreamError as exc:
        # Headers are gone already: the client learns of the cut in-band.
        logger.warning(
            "stream cut by worker",
            extra={"request_id": request_id, "worker_url": upstream.worker_url},
        )
        if _is_event_stream(headers):
            await request.write(_stream_error_event(exc))
        finished = True
    finally:
        if finished:
            upstream.release()
            request.end_stream()
        else:
            # Client gone or task cancelled: drop the worker connection so the
            # engine stops generating for nobody.
            upstream.close()


def _bind(
    rewrite: Callable[[dict[str, Any], bytes], bytes], body: dict[str, Any]
) -> Callable[[bytes], bytes]:
    return lambda reply: rewrite(body, reply)


def upstream_failure(exc: UpstreamError) -> GatewayError:
    return errors.upstream_timeout() if exc.timed_out else errors.upstream_unreachable()


def _is_event_stream(headers: Headers) -> bool:
    return any(k == b"content-type" and v.startswith(_EVENT_STREAM) for k, v in headers)


def _stream_error_event(exc: UpstreamError) -> bytes:
    error = {
        "error": {
            "message": "The worker stopped before the response was complete",
            "type": "stream_error",
            "code": "upstream_stream_error",
            "param": None,
        }
    }
    return b"data: " + orjson.dumps(error) + b"\n\n" + _DONE


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object; 400 otherwise."""
    if not raw:
        raise errors.invalid_json("the request body is empty")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.invalid_json(str(exc)) from exc
    if not isinstance(body, dict):
        raise errors.invalid_json("the request body must be a JSON object")
    return body


def _model_of(body: dict[str, Any], spec: RouteSpec) -> str | None:
    for field in spec.required:
        if field not in body:
            raise errors.missing_field(field)
    model = body.get("model")
    if model is None and not spec.model_optional:
        raise errors.missing_field("model")
    if model is not None and not (isinstance(model, str) and model):
        raise errors.invalid_field("model", "a non-empty string")
    if "messages" in spec.required:
        messages = body["messages"]
        if not isinstance(messages, list):
            raise errors.invalid_field("messages", "an array of messages")
        if not messages:
            raise errors.empty_array("messages")
    return model
