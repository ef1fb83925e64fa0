"""The prefill/decode (PD) router: one request served by a pair of workers.

SGLang workers get the same body, with bootstrap fields, on both legs at once;
the decode answer goes back to the client. vLLM workers (a prefill worker with
a KV connector) are served in sequence: a one-token prefill, then the decode
leg with the `kv_transfer_params` the prefill answered. Layers mirror the
regular router: `handle` → `_dispatch_with_retries` (re-selects both workers
per attempt) → `_send_parallel` / `_send_sequential` (one attempt) → relay.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import orjson

from smg.context import AppContext
from smg.http.server import Request
from smg.observability.metrics import GatewayMetrics
from smg.policies import dp_aware
from smg.policies.base import RequestFacts
from smg.routers import pd_vllm
from smg.routers.http_proxy import (
    HttpProxy,
    RouteSpec,
    _model_of,
    parse_json_object,
    relay,
)
from smg.routers.pd_injection import bootstrap_host, inject_bootstrap
from smg.routers.pd_logprobs import wants_logprobs
from smg.routers.pd_relay import LegFailedError, drain_prefill, relay_merged
from smg.routers.pd_selection import DECODE, PREFILL, Pair, PairSelector
from smg.server import errors
from smg.workers.http_client import UpstreamError, UpstreamResponse
from smg.workers.retry import RetryPolicy
from smg.workers.worker import UNKNOWN_MODEL, Worker

logger = logging.getLogger(__name__)

# Routes with a prefill and a decode phase; the others have no decode to split.
PD_PATHS = frozenset(
    {
        "/generate",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/messages",
        "/v1/responses",
    }
)


@dataclass(slots=True)
class PdExchange:
    """One client request on its way through the PD retry loop."""

    request: Request
    request_id: str
    spec: RouteSpec
    facts: RequestFacts
    body: dict[str, Any]
    lookup_model: str | None
    logprobs: bool


class PdRouter:
    """Serves the generation routes with a prefill and a decode worker per request."""

    def __init__(self, ctx: AppContext, rng: random.Random | None = None) -> None:
        self._ctx = ctx
        self._retry = RetryPolicy(ctx.config.retry)
        self._pairs = PairSelector(ctx)
        self._headers = HttpProxy(ctx).upstream_headers
        self._rng = rng or random.Random()

    async def handle(self, request: Request, request_id: str, spec: RouteSpec) -> None:
        if spec.upstream_path not in PD_PATHS:
            raise errors.pd_route_unsupported(request.path)
        body = parse_json_object(request.body)
        model = _model_of(body, spec)
        group = self._ctx.registry.group_for(model)
        if group is None:
            raise errors.model_not_found(model or UNKNOWN_MODEL)
        canonical = group[0]
        body["model"] = canonical if model is not None else UNKNOWN_MODEL
        facts = RequestFacts(canonical, spec.upstream_path, body, request.headers)
        exchange = PdExchange(
            request, request_id, spec, facts, body, model, wants_logprobs(body)
        )
        await self._dispatch_with_retries(exchange)

    async def _dispatch_with_retries(self, ex: PdExchange) -> None:
        """Try pairs until one answers well or attempts run out.

        Both workers are chosen again on each attempt, avoiding the ones that
        failed, so one dead leg does not sink the request.
        """
        tried: list[Worker] = []
        last = self._retry.max_attempts - 1
        for attempt in range(self._retry.max_attempts):
            pair = self._pairs.choose(ex.facts, ex.lookup_model, tried)
            try:
                culprits = await self._send_once(ex, pair, final=attempt == last)
            finally:
                pair.release()
            if not culprits:
                return
            tried.extend(culprits)
            logger.warning(
                "pd attempt failed; retrying",
                extra={
                    "request_id": ex.request_id,
                    "worker_url": [w.url for w in culprits],
                    "attempt": attempt + 1,
                },
            )
            await asyncio.sleep(self._retry.backoff_s(attempt))

    async def _send_once(self, ex: PdExchange, pair: Pair, final: bool) -> list[Worker]:
        """One attempt; returns the workers to avoid next time, [] when done."""
        prefill, decode = pair.prefill.worker, pair.decode.worker
        prefill.begin_request()
        decode.begin_request()
        try:
            mode = pd_vllm.kv_mode(prefill)
            if mode is None:
                return await self._send_parallel(ex, prefill, decode, final)
            return await self._send_sequential(ex, prefill, decode, mode, final)
        except LegFailedError as exc:
            return self._leg_failed(exc, final)
        finally:
            prefill.end_request()
            decode.end_request()

    async def _send_parallel(
        self, ex: PdExchange, prefill: Worker, decode: Worker, final: bool
    ) -> list[Worker]:
        """SGLang: the same bootstrap-tagged body to both workers at once."""
        body = inject_bootstrap(
            dict(ex.body),
            ex.spec.upstream_path,
            bootstrap_host(prefill.url),
            prefill.bootstrap_port,
            self._rng,
        )
        payloads = _leg_payloads(body, prefill, decode)
        started = perf_counter()
        p_resp, d_resp = await self._send_both(ex, prefill, decode, *payloads)
        self._metrics.pd_ttft(perf_counter() - started)
        _record(prefill, p_resp.status)
        _record(decode, d_resp.status)

        culprits = [
            w
            for w, r in ((prefill, p_resp), (decode, d_resp))
            if self._retry.is_retryable(r.status)
        ]
        if culprits and not final:
            p_resp.close()
            d_resp.close()
            return culprits
        # A failed prefill is reported first: the decode leg then fails only
        # because its KV never arrived, which would hide the cause.
        if p_resp.status >= 300:
            d_resp.close()
            raise await _leg_error(PREFILL, p_resp)
        if d_resp.status >= 300:
            p_resp.close()
            raise await _leg_error(DECODE, d_resp)
        await self._relay_pair(ex, decode, p_resp, d_resp, started)
        return []

    async def _send_both(
        self,
        ex: PdExchange,
        prefill: Worker,
        decode: Worker,
        p_payload: bytes,
        d_payload: bytes,
    ) -> tuple[UpstreamResponse, UpstreamResponse]:
        """Both legs' headers; a transport error on either aborts both."""
        legs = {
            PREFILL: asyncio.ensure_future(self._post(ex, prefill, p_payload)),
            DECODE: asyncio.ensure_future(self._post(ex, decode, d_payload)),
        }
        try:
            await asyncio.wait(legs.values(), return_when=asyncio.FIRST_EXCEPTION)
        except BaseException:
            _abort(legs.values())
            raise
        for leg, task in legs.items():
            if task.done() and task.exception() is not None:
                _abort(legs.values())
                exc = task.exception()
                if not isinstance(exc, UpstreamError):
                    raise exc  # type: ignore[misc]
                worker = prefill if leg == PREFILL else decode
                raise LegFailedError(leg, worker, exc)
        return legs[PREFILL].result(), legs[DECODE].result()

    async def _relay_pair(
        self,
        ex: PdExchange,
        decode: Worker,
        p_resp: UpstreamResponse,
        d_resp: UpstreamResponse,
        started: float,
    ) -> None:
        if ex.logprobs:
            prefix = await drain_prefill(p_resp, self._metrics, started)
            await relay_merged(ex.request, ex.request_id, decode, d_resp, prefix)
            return
        # The prefill body is drained alongside: the client waits only on decode.
        drain = asyncio.create_task(drain_prefill(p_resp, self._metrics, started))
        try:
            await relay(ex.request, ex.request_id, decode, d_resp)
        finally:
            if not drain.done():
                try:
                    await asyncio.wait_for(asyncio.shield(drain), 1.0)
                except TimeoutError:
                    drain.cancel()
                    p_resp.close()
            if drain.done() and not drain.cancelled():
                drain.exception()

    async def _send_sequential(
        self, ex: PdExchange, prefill: Worker, decode: Worker, mode: str, final: bool
    ) -> list[Worker]:
        """vLLM: a one-token prefill first, then decode with its KV parameters."""
        started = perf_counter()
        params = None
        if not pd_vllm.skips_prefill(ex.body):
            leg = pd_vllm.prefill_body(ex.body, ex.spec.upstream_path, mode)
            p_resp = await self._post_leg(ex, PREFILL, prefill, orjson.dumps(leg))
            _record(prefill, p_resp.status)
            if p_resp.status >= 300:
                if not final and self._retry.is_retryable(p_resp.status):
                    p_resp.close()
                    return [prefill]
                raise await _leg_error(PREFILL, p_resp)
            reply = await _read_leg(PREFILL, prefill, p_resp)
            self._metrics.pd_prefill_duration(perf_counter() - started)
            params = pd_vllm.harvest(reply)
            if params is None and mode != pd_vllm.PASSTHROUGH:
                # Decode still answers, recomputing the prompt itself.
                self._metrics.pd_leg_failure(PREFILL, "no_kv_transfer_params")

        body = pd_vllm.decode_body(ex.body, params)
        d_resp = await self._post_leg(ex, DECODE, decode, orjson.dumps(body))
        self._metrics.pd_ttft(perf_counter() - started)
        _record(decode, d_resp.status)
        if d_resp.status >= 300:
            if not final and self._retry.is_retryable(d_resp.status):
                d_resp.close()
                return [decode]
            raise await _leg_error(DECODE, d_resp)
        await relay(ex.request, ex.request_id, decode, d_resp)
        return []

    async def _post(
        self, ex: PdExchange, worker: Worker, payload: bytes
    ) -> UpstreamResponse:
        headers = self._headers(ex.request, ex.request_id, worker)
        return await self._ctx.client.send(
            "POST", dp_aware.base_url(worker), ex.spec.upstream_path, headers, payload
        )

    async def _post_leg(
        self, ex: PdExchange, leg: str, worker: Worker, payload: bytes
    ) -> UpstreamResponse:
        try:
            return await self._post(ex, worker, payload)
        except UpstreamError as exc:
            raise LegFailedError(leg, worker, exc) from exc

    def _leg_failed(self, exc: LegFailedError, final: bool) -> list[Worker]:
        if exc.worker.breaker is not None:
            exc.worker.breaker.record_failure()
        reason = "timeout" if exc.error.timed_out else "connection"
        self._metrics.pd_leg_failure(exc.leg, reason)
        if final:
            raise errors.pd_leg_unreachable(exc.leg, exc.error.timed_out) from exc
        return [exc.worker]

    @property
    def _metrics(self) -> GatewayMetrics:
        return self._ctx.observability.metrics


def _leg_payloads(
    body: dict[str, Any], prefill: Worker, decode: Worker
) -> tuple[bytes, bytes]:
    """The prefill and decode bodies: one body, unless DP ranks are routed.

    With --dp-aware each leg names its own rank (`routed_dp_rank`), and the
    decode leg also the prefill's rank, where its KV waits.
    """
    p_rank, d_rank = dp_aware.rank_of(prefill), dp_aware.rank_of(decode)
    if p_rank is None and d_rank is None:
        payload = orjson.dumps(body)
        return payload, payload
    p_body = body if p_rank is None else {**body, "routed_dp_rank": p_rank}
    d_body = dict(body)
    if d_rank is not None:
        d_body["routed_dp_rank"] = d_rank
    if p_rank is not None:
        d_body["disagg_prefill_dp_rank"] = p_rank
    return orjson.dumps(p_body), orjson.dumps(d_body)


def _record(worker: Worker, status: int) -> None:
    if worker.breaker is not None:
        worker.breaker.record_status(status)


def _abort(tasks: Any) -> None:
    """Cancel legs still sending and drop the connection of legs that answered."""
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled() and task.exception() is None:
            task.result().close()


async def _read_leg(leg: str, worker: Worker, resp: UpstreamResponse) -> bytes:
    try:
        return await resp.read()
    except UpstreamError as exc:
        raise LegFailedError(leg, worker, exc) from exc


async def _leg_error(leg: str, resp: UpstreamResponse) -> errors.GatewayError:
    """The client's error for a leg that answered non-2xx, its message kept."""
    try:
        reply = await resp.read()
    except UpstreamError:
        reply = b""
    return errors.pd_leg_error(leg, resp.status, _worker_message(reply))


def _worker_message(reply: bytes) -> str | None:
    try:
        doc = orjson.loads(reply)
    except orjson.JSONDecodeError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message[:500] if isinstance(message, str) else None
