"""Relaying a PD pair's answer: drain the prefill leg, copy the decode leg.

The decode answer is what the client gets. When input logprobs were asked for,
the prefill answer is read first and its logprobs are merged into the decode
answer, whole or event by event; otherwise the decode bytes pass untouched.
"""

from __future__ import annotations

import logging
from time import perf_counter

from smg.http.server import Request
from smg.observability.metrics import GatewayMetrics
from smg.routers.pd_logprobs import (
    Prefix,
    merge_event,
    merge_whole,
    prefill_prefix,
    split_events,
)
from smg.server import errors
from smg.workers.http_client import UpstreamError, UpstreamResponse
from smg.workers.worker import Worker

logger = logging.getLogger(__name__)

_SEPARATOR = b"\n\n"
_CUT_EVENT = (
    b'data: {"error":{"message":"The decode worker stopped before the response '
    b'was complete","type":"stream_error","code":"decode_stream_error",'
    b'"param":null}}\n\ndata: [DONE]\n\n'
)


class LegFailedError(Exception):
    """One leg of a PD pair could not be sent or read."""

    def __init__(self, leg: str, worker: Worker, error: UpstreamError) -> None:
        super().__init__(f"{leg} leg to worker {worker.url} failed: {error}")
        self.leg = leg
        self.worker = worker
        self.error = error


async def drain_prefill(
    resp: UpstreamResponse, metrics: GatewayMetrics, started_s: float
) -> Prefix | None:
    """Read the prefill answer to its end; returns its input logprobs, if any.

    A prefill cut short is logged, not raised: the decode leg is already
    answering and the client's answer does not depend on the prefill bytes.
    """
    try:
        if resp.is_streamed:
            reply = b"".join([chunk async for chunk in resp.chunks()])
            resp.release()
        else:
            reply = await resp.read()
    except UpstreamError:
        logger.warning(
            "prefill answer cut short", extra={"worker_url": resp.worker_url}
        )
        metrics.pd_leg_failure("prefill", "drain")
        resp.close()
        return None
    metrics.pd_prefill_duration(perf_counter() - started_s)
    return prefill_prefix(reply, resp.is_streamed)


async def relay_merged(
    request: Request,
    request_id: str,
    decode: Worker,
    resp: UpstreamResponse,
    prefix: Prefix | None,
) -> None:
    """Copy the decode answer with the prefill's input logprobs prepended."""
    headers = [(k, v) for k, v in resp.headers if k != b"content-length"]
    headers.append((b"x-request-id", request_id.encode("ascii")))
    headers.append((b"x-smg-routed-worker-id", decode.url_bytes))
    if not resp.is_streamed:
        try:
            reply = await resp.read()
        except UpstreamError as exc:
            raise errors.pd_leg_unreachable("decode", exc.timed_out) from exc
        request.respond(resp.status, headers, merge_whole(reply, prefix))
        return

    request.start_stream(resp.status, headers)
    finished = False
    tail = b""
    try:
        async for chunk in resp.chunks():
            events, tail = split_events(tail + chunk)
            if events:
                merged = [merge_event(e, prefix) + _SEPARATOR for e in events]
                await request.write(b"".join(merged))
        if tail:
            await request.write(tail)
        finished = True
    except UpstreamError:
        logger.warning("stream cut by worker", extra={"worker_url": decode.url})
        await request.write(_CUT_EVENT)
        finished = True
    finally:
        if finished:
            resp.release()
            request.end_stream()
        else:
            resp.close()
