"""Finished spans, batched and sent to an OTLP/gRPC collector from a thread.

The request path only appends a finished span to a deque; a daemon thread
wakes every `schedule_delay_s` (or as soon as a batch is full), encodes what
queued and calls the collector's `TraceService/Export`. A collector that is
down costs failed calls in that thread, logged once per outage, and spans
beyond `max_queue` are dropped and counted: the request path never waits.
The tuning knobs are read from the standard `OTEL_BSP_*` variables.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import grpc

from smg.observability.otlp_wire import ExportHeader, SpanRecord, export_request

logger = logging.getLogger(__name__)

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# What a shutdown waits for the last export, at most.
SHUTDOWN_WAIT_S = 5.0

Send = Callable[[bytes], None]


class SpanSink(Protocol):
    """Where finished spans go: the batch exporter, or a stand-in in benches."""

    def submit(self, span: SpanRecord) -> None: ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchSettings:
    schedule_delay_s: float = 5.0
    max_queue: int = 2048
    max_batch: int = 512
    export_timeout_s: float = 30.0

    @classmethod
    def from_env(cls) -> BatchSettings:
        """The OpenTelemetry batch processor's variables, in milliseconds."""
        d = cls()
        return cls(
            schedule_delay_s=_env_ms("OTEL_BSP_SCHEDULE_DELAY", d.schedule_delay_s),
            max_queue=_env_int("OTEL_BSP_MAX_QUEUE_SIZE", d.max_queue),
            max_batch=_env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", d.max_batch),
            export_timeout_s=_env_ms("OTEL_BSP_EXPORT_TIMEOUT", d.export_timeout_s),
        )


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def _env_ms(name: str, default_s: float) -> float:
    value = _env_int(name, 0)
    return value / 1000 if value else default_s


def grpc_sender(endpoint: str, timeout_s: float) -> tuple[Send, Callable[[], None]]:
    """A send function for `host:port` (or an http/https URL) and its closer."""
    target, secure = endpoint, False
    for scheme in ("http://", "https://"):
        if endpoint.startswith(scheme):
            target, secure = endpoint[len(scheme) :], scheme == "https://"
    target = target.rstrip("/")
    if secure:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials())
    else:
        channel = grpc.insecure_channel(target)
    # Raw bytes both ways: the request is encoded already, the answer unused.
    call = channel.unary_unary(EXPORT_METHOD)

    def send(request: bytes) -> None:
        call(request, timeout=timeout_s)

    return send, channel.close


class BatchExporter:
    """Queues finished spans and exports them in batches from its own thread."""

    def __init__(
        self,
        header: ExportHeader,
        send: Send,
        settings: BatchSettings,
        close: Callable[[], None] | None = None,
    ) -> None:
        self._header = header
        self._send = send
        self._close = close
        self._settings = settings
        self._queue: deque[SpanRecord] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._failing = False
        self.dropped = 0
        self.exported = 0
        self._thread = threading.Thread(target=self._run, name="smg-otlp", daemon=True)
        self._thread.start()

    def submit(self, span: SpanRecord) -> None:
        """Queue a finished span; called on the event loop, never blocks."""
        queue = self._queue
        if len(queue) >= self._settings.max_queue:
            self.dropped += 1
            return
        queue.append(span)
        if len(queue) == self._settings.max_batch:
            self._wake.set()

    def shutdown(self) -> None:
        """Export what is queued, then stop the thread; waits a few seconds."""
        self._stopping = True
        self._wake.set()
        self._thread.join(SHUTDOWN_WAIT_S)
        if self._close is not None:
            self._close()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._settings.schedule_delay_s)
            self._wake.clear()
            self._export_queued()
        self._export_queued()

    def _export_queued(self) -> None:
        queue, size = self._queue, self._settings.max_batch
        while queue:
            batch = [queue.popleft() for _ in range(min(size, len(queue)))]
            self._export(batch)

    def _export(self, batch: list[SpanRecord]) -> None:
        try:
            self._send(export_request(self._header, batch))
        except grpc.RpcError as exc:
            if not self._failing:
                self._failing = True
                logger.warning(
                    "trace export failing; spans are dropped until it recovers",
                    extra={"reason": _rpc_reason(exc), "spans": len(batch)},
                )
            return
        self.exported += len(batch)
        if self._failing:
            self._failing = False
            logger.info("trace export recovered")


def _rpc_reason(exc: grpc.RpcError) -> str:
    code = getattr(exc, "code", None)
    return str(code()) if callable(code) else type(exc).__name__
