"""An OTLP/gRPC trace collector that counts exports and keeps nothing.

The tracing benchmark exports to it so the gateway pays for real exports
(encoding, gRPC calls) without a collector's own work landing on the
gateway's core. It answers `TraceService/Export` on raw bytes, so it needs
no generated protobuf classes. Run as `python -m bench.otlp_sink PORT`; it
prints `ready` once listening and what it received when stopped.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class _Counter:
    def __init__(self) -> None:
        self.exports = 0
        self.bytes = 0
        self._lock = threading.Lock()

    def export(self, request: bytes, context: Any) -> bytes:
        with self._lock:
            self.exports += 1
            self.bytes += len(request)
        # An empty ExportTraceServiceResponse encodes to no bytes at all.
        return b""


def main() -> None:
    port = int(sys.argv[1])
    counter = _Counter()
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(counter.export)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print("ready", flush=True)
    stopped.wait()
    server.stop(grace=None)
    print(f"received {counter.exports} exports, {counter.bytes} bytes", flush=True)


if __name__ == "__main__":
    main()
