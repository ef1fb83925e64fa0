"""A worker as the gateway sees it: address, model, status and live load."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from smg.workers.circuit_breaker import CircuitBreaker

# Worker statuses, as the original names them in /workers.
PENDING = "pending"
READY = "ready"
NOT_READY = "not_ready"
FAILED = "failed"
DRAINING = "draining"

UNKNOWN_MODEL = "unknown"


@dataclass(eq=False, slots=True)
class Worker:
    """One routable worker. `load` counts requests in flight through the gateway."""

    url: str
    model_id: str = UNKNOWN_MODEL
    worker_type: str = "regular"
    connection_mode: str = "http"
    runtime_type: str = "sglang"
    api_key: str | None = None
    status: str = PENDING
    labels: dict[str, str] = field(default_factory=dict)
    worker_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    load: int = 0
    processed: int = 0
    breaker: CircuitBreaker | None = None
    priority: int = 50
    cost: float = 1.0
    # PD prefill workers: the SGLang bootstrap port decode workers claim KV from.
    bootstrap_port: int | None = None
    # The request path's host:port, precomputed for the routed-worker header.
    url_bytes: bytes = b""

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.url_bytes = self.url.encode("latin-1")

    @property
    def is_available(self) -> bool:
        return self.status == READY

    def begin_request(self) -> None:
        self.load += 1

    def end_request(self) -> None:
        self.load -= 1
        self.processed += 1

    def info(self) -> dict[str, Any]:
        """The `WorkerInfo` shape of GET /workers."""
        return {
            "id": self.worker_id,
            "url": self.url,
            "model_id": self.model_id,
            "models": [{"id": self.model_id, "model_type": ["chat", "completions"]}],
            "worker_type": self.worker_type,
            "bootstrap_port": self.bootstrap_port,
            "connection_mode": self.connection_mode,
            "runtime_type": self.runtime_type,
            "labels": self.labels,
            "priority": self.priority,
            "cost": self.cost,
            "is_healthy": self.status == READY,
            "status": self.status,
            "load": self.load,
            "http2": False,
            "circuit_breaker": self.breaker.state if self.breaker else "disabled",
        }
