"""AppContext: the state every handler shares, built once at startup."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smg.config import GatewayConfig
from smg.policies.registry import PolicyRegistry
from smg.server.admission import Admission
from smg.server.request_id import RequestIdSource
from smg.workers.circuit_breaker import CircuitBreaker
from smg.workers.http_client import HttpWorkerClient
from smg.workers.registry import WorkerRegistry
from smg.workers.worker import Worker


@dataclass
class AppContext:
    config: GatewayConfig
    registry: WorkerRegistry
    policies: PolicyRegistry
    client: HttpWorkerClient
    request_ids: RequestIdSource
    admission: Admission
    started_at: float = 0.0
    # Set on SIGTERM: readiness answers 503 while in-flight requests finish.
    draining: bool = False
    # Requests inside the gateway right now, on every route.
    in_flight: int = 0
    background: set[Any] = field(default_factory=set)

    @classmethod
    def build(cls, config: GatewayConfig) -> AppContext:
        registry = WorkerRegistry(config.routing.model_aliases)
        policies = PolicyRegistry(config.routing)
        registry.on_change(policies.on_workers_changed)
        return cls(
            config=config,
            registry=registry,
            policies=policies,
            client=HttpWorkerClient(config.workers, config.security),
            request_ids=RequestIdSource(config.server.request_id_headers),
            admission=Admission(config.admission),
        )

    def new_worker(self, url: str, api_key: str | None = None, **fields: Any) -> Worker:
        """A pending worker with its circuit breaker, not yet registered."""
        worker = Worker(url, api_key=api_key, **fields)
        worker.breaker = CircuitBreaker(
            worker.url,
            self.config.circuit_breaker,
            frozenset(self.config.retry.retryable_status_codes),
        )
        return worker
