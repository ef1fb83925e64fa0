"""The regular HTTP router: one OpenAI request from client to worker and back.

Layers, one concern each: `handle` (parse what routing needs, pick the worker
group), `_dispatch_with_retries` (choose a worker per attempt, back off, retry),
`_send_once` (one upstream call under a load guard, its outcome fed to the
worker's circuit breaker), `relay` (copy the answer back). The body is parsed
once, only to read the model and validate the shape; the original bytes are
forwarded unless the model field must be rewritten. Streams are copied as
bytes, never parsed per chunk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import orjson

from smg.context import AppContext
from smg.http.server import Headers, Request
from smg.observability.labels import OTHER
from smg.observability.scope import current_scope, current_trace
from smg.policies.base import RequestFacts
from smg.routers.selection import (
    EXPLAIN_HEADER,
    Selection,
    select_worker,
    wants_explanation,
)
from smg.server import errors
from smg.server.errors import GatewayError
from smg.workers.circuit_breaker import CircuitBreaker
from smg.workers.http_client import UpstreamError, UpstreamResponse
from smg.workers.retry import RetryPolicy
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


@dataclass(slots=True)
class Exchange:
    """One client request on its way through the retry loop."""

    request: Request
    request_id: str
    spec: RouteSpec
    facts: RequestFacts
    payload: bytes
    explain: bool
    # The model as the client named it (None for any); worker groups are looked
    # up again on each attempt, since health and membership change meanwhile.
    lookup_model: str | None
    # When routing began (perf_counter), for time-to-first-chunk.
    started_s: float


@dataclass(slots=True)
class Failure:
    """A failed attempt held back while the loop decides to retry or relay it."""

    worker: Worker
    upstream: UpstreamResponse | None
    error: UpstreamError | None


class HttpProxy:
    """Serves the proxied OpenAI and SGLang routes for HTTP workers."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._retry = RetryPolicy(ctx.config.retry)
        self._metrics = ctx.observability.metrics

    async def handle(self, request: Request, request_id: str, spec: RouteSpec) -> None:
        body = parse_json_object(request.body)
        model = _model_of(body, spec)
        metrics = self._metrics
        streaming = body.get("stream") is True
        group = self._ctx.registry.group_for(model)
        if group is None:
            metrics.router_request_started(spec.upstream_path, OTHER, streaming)
            metrics.router_error(spec.upstream_path, OTHER, "model_not_found")
            raise errors.model_not_found(model or UNKNOWN_MODEL)
        canonical, _ = group
        scope = current_scope()
        if scope is not None:
            scope.model = canonical
        started_s = metrics.router_request_started(
            spec.upstream_path, canonical, streaming
        )
        try:
            await self._route(request, request_id, spec, body, model, group, started_s)
        except GatewayError as exc:
            metrics.router_error(spec.upstream_path, canonical, exc.code)
            raise
        finally:
            metrics.router_request_finished(spec.upstream_path, canonical, started_s)

    async def _route(
        self,
        request: Request,
        request_id: str,
        spec: RouteSpec,
        body: dict[str, Any],
        model: str | None,
        group: tuple[str, tuple[Worker, ...]],
        started_s: float,
    ) -> None:
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
        explain = wants_explanation(facts)
        exchange = Exchange(
            request, request_id, spec, facts, payload, explain, model, started_s
        )
        await self._dispatch_with_retries(exchange)

    async def _dispatch_with_retries(self, ex: Exchange) -> None:
        """Try workers until one answers well or attempts run out.

        Nothing reaches the client before an attempt is accepted, so a retry is
        always invisible. A 500 goes only to workers not tried yet; the other
        retryable statuses may hit the same worker again after the backoff.
        """
        tried: list[Worker] = []
        last = self._retry.max_attempts - 1
        for attempt in range(self._retry.max_attempts):
            candidates = self._candidates(ex.lookup_model)
            selection = self._choose(ex, candidates, tried)
            failure = await self._send_once(ex, selection, final=attempt == last)
            if failure is None:
                return
            worker = selection.worker
            tried.append(worker)
            upstream = failure.upstream
            if (
                upstream is not None
                and upstream.status == 500
                and all(w in tried for w in candidates)
            ):
                self._metrics.retries_exhausted_for(ex.spec.upstream_path)
                await self._relay_held(ex, failure)
                return
            _discard(failure)
            backoff_s = self._retry.backoff_s(attempt)
            self._metrics.retry(ex.spec.upstream_path, attempt + 1, backoff_s)
            logger.warning(
                "upstream attempt failed; retrying",
                extra={
                    "request_id": ex.request_id,
                    "worker_url": worker.url,
                    "attempt": attempt + 1,
                    "status": upstream.status if upstream else None,
                },
            )
            await asyncio.sleep(backoff_s)

    def _candidates(self, model: str | None) -> list[Worker]:
        group = self._ctx.registry.group_for(model)
        workers = group[1] if group else ()
        return [w for w in workers if w.breaker is None or w.breaker.allows()]

    def _choose(
        self, ex: Exchange, candidates: list[Worker], tried: list[Worker]
    ) -> Selection:
        if not candidates:
            raise errors.no_available_workers(ex.facts.model)
        with current_trace().stage("route") as stage:
            selection = select_worker(self._ctx.policies, ex.facts, candidates, tried)
            if selection is None:
                raise errors.no_available_workers(ex.facts.model)
            stage.set_attribute("smg.worker_url", selection.worker.url)
            stage.set_attribute("smg.policy", selection.policy)
        if ex.explain:
            ex.request.extra_headers = [(EXPLAIN_HEADER, selection.explain())]
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "routed",
                extra={
                    "request_id": ex.request_id,
                    "worker_url": selection.worker.url,
                    "model": ex.facts.model,
                    "policy": selection.policy,
                    "reason": selection.reason,
                },
            )
        return selection

    async def _send_once(
        self, ex: Exchange, selection: Selection, final: bool
    ) -> Failure | None:
        """One attempt under a load guard: relay the answer, or hand back a failure.

        Returns None once the answer was relayed; a Failure when the attempt
        failed in a retryable way and this is not the final attempt.
        """
        worker = selection.worker
        breaker = worker.breaker
        metrics = self._metrics
        trace = current_trace()
        worker.begin_request()
        try:
            headers = self.upstream_headers(ex.request, ex.request_id, worker)
            payload = selection.payload(ex.facts.body, ex.payload)
            sent_s = perf_counter()
            with trace.stage("upstream", client=True) as stage:
                trace.inject(headers, stage)
                try:
                    upstream = await self._ctx.client.send(
                        "POST",
                        selection.upstream_url,
                        ex.spec.upstream_path,
                        headers,
                        payload,
                    )
                except UpstreamError as exc:
                    self._count_send_error(exc, breaker)
                    if final:
                        self._count_exhausted(ex)
                        raise upstream_failure(exc) from exc
                    return Failure(worker, None, exc)
            metrics.stage("upstream", perf_counter() - sent_s)
            metrics.upstream_response(upstream.status)
            if breaker is not None:
                breaker.record_status(upstream.status)
            retryable = self._retry.is_retryable(upstream.status)
            if retryable and not final:
                return Failure(worker, upstream, None)
            if retryable:
                self._count_exhausted(ex)
            await self._relay(ex, worker, upstream)
            return None
        finally:
            worker.end_request()
            selection.release()

    def _count_send_error(
        self, exc: UpstreamError, breaker: CircuitBreaker | None
    ) -> None:
        if breaker is not None:
            breaker.record_failure()
        failure = upstream_failure(exc)
        self._metrics.worker_error("timeout" if exc.timed_out else "connection_error")
        self._metrics.upstream_response(failure.status, failure.code)

    def _count_exhausted(self, ex: Exchange) -> None:
        if self._retry.max_attempts > 1:
            self._metrics.retries_exhausted_for(ex.spec.upstream_path)

    async def _relay(
        self, ex: Exchange, worker: Worker, upstream: UpstreamResponse
    ) -> None:
        scope = current_scope()
        if scope is not None:
            scope.worker_url = worker.url
        with current_trace().stage("relay"):
            first_chunk_s, chunks = await relay(
                ex.request, ex.request_id, worker, upstream, self._rewrite(ex)
            )
        if upstream.is_streamed:
            self._metrics.stream_finished(
                ex.spec.upstream_path,
                ex.facts.model,
                ex.started_s,
                first_chunk_s,
                chunks,
            )

    async def _relay_held(self, ex: Exchange, failure: Failure) -> None:
        assert failure.upstream is not None
        await self._relay(ex, failure.worker, failure.upstream)

    def _rewrite(self, ex: Exchange) -> Callable[[bytes], bytes] | None:
        if ex.spec.rewrite_reply is None:
            return None
        return _bind(ex.spec.rewrite_reply, ex.facts.body or {})

    def upstream_headers(
        self, request: Request, request_id: str, worker: Worker
    ) -> dict[str, str]:
        """Headers sent to the worker: the allow-list, the request id, the key."""
        headers = {"content-type": "application/json", "x-request-id": request_id}
        for key, value in request.headers:
            if key in FORWARDED_HEADERS or key.startswith(b"x-request-id-"):
                headers[key.decode("latin-1")] = value.decode("latin-1")
        if worker.api_key and "authorization" not in headers:
            headers["authorization"] = f"Bearer {worker.api_key}"
        return headers


def _discard(failure: Failure) -> None:
    if failure.upstream is not None:
        failure.upstream.close()


async def relay(
    request: Request,
    request_id: str,
    worker: Worker,
    upstream: UpstreamResponse,
    rewrite: Callable[[bytes], bytes] | None = None,
) -> tuple[float | None, int]:
    """Copy the worker's answer to the client, whole or streamed as it comes.

    Returns, for a stream, when its first chunk went out (perf_counter, None
    when none did) and how many chunks were relayed; (None, 0) otherwise.
    """
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
        return None, 0
    return await _relay_stream(request, request_id, upstream, headers)


async def _relay_stream(
    request: Request, request_id: str, upstream: UpstreamResponse, headers: Headers
) -> tuple[float | None, int]:
    request.start_stream(upstream.status, headers)
    finished = False
    first_chunk_s: float | None = None
    chunks = 0
    try:
        # Bytes go from the worker's socket to the client's as they arrive.
        first_chunk_s, chunks = await upstream.pipe(request.write_nowait, request.drain)
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
    return first_chunk_s, chunks


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
