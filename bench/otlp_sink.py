"""An OTLP/gRPC trace collector that counts spans and keeps none.

The tracing benchmark exports to it so the gateway pays for real exports
(serialisation, gRPC calls) without a collector's own work landing on the
gateway's core. Run as `python -m bench.otlp_sink PORT`; it prints
`ready` once listening and the span count when stopped.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)


class _CountingService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans = 0
        self._lock = threading.Lock()

    def Export(
        self, request: Any, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        count = sum(
            len(scope.spans)
            for resource in request.resource_spans
            for scope in resource.scope_spans
        )
        with self._lock:
            self.spans += count
        return trace_service_pb2.ExportTraceServiceResponse()


def main() -> None:
    port = int(sys.argv[1])
    service = _CountingService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print("ready", flush=True)
    stopped.wait()
    server.stop(grace=None)
    print(f"spans {service.spans}", flush=True)


if __name__ == "__main__":
    main()
