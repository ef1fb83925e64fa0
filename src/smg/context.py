"""AppContext: the state every handler shares, built once at startup."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from smg.config import GatewayConfig
from smg.observability.metrics import GatewayMetrics
from smg.observability.observer import Observability
from smg.policies import dp_aware
from smg.policies.registry import DecisionCounter, PolicyRegistry
from smg.routers.selection import NO_WORKER
from smg.server.admission import Admission
from smg.server.request_id import RequestIdSource
from smg.workers.circuit_breaker import CircuitBreaker
from smg.workers.http_client import HttpWorkerClient
from smg.workers.registry import WorkerRegistry
from smg.workers.startup import bring_up
from smg.workers.worker import READY, Worker

logger = logging.getLogger(__name__)


@dataclass
class AppContext:
    config: GatewayConfig
    registry: WorkerRegistry
    policies: PolicyRegistry
    client: HttpWorkerClient
    request_ids: RequestIdSource
    admission: Admission
    # Metrics, traces and the access log; every layer reports here.
    observability: Observability
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
        observability = Observability.build(config)
        policies.count_decision = _selection_counter(observability.metrics)
        return cls(
            config=config,
            registry=registry,
            policies=policies,
            client=HttpWorkerClient(config.workers, config.security),
            request_ids=RequestIdSource(config.server.request_id_headers),
            admission=Admission(config.admission),
            observability=observability,
        )

    async def bring_up(self, worker: Worker) -> None:
        """Probe a registered worker until ready; with --dp-aware, list its ranks.

        The ranks replace the engine's entry in the same step that follows its
        readiness, so no request is routed to the engine as a whole.
        """
        await bring_up(worker, self.registry, self.client, self.config.workers)
        if not self.config.routing.dp_aware or worker.status != READY:
            return
        ranks = dp_aware.split_into_ranks(worker, self.new_worker)
        if ranks:
            self.registry.replace(worker, ranks)
            logger.info(
                "worker split into data-parallel ranks",
                extra={"worker_url": worker.url, "ranks": len(ranks)},
            )

    def new_worker(self, url: str, api_key: str | None = None, **fields: Any) -> Worker:
        """A pending worker with its circuit breaker, not yet registered."""
        worker = Worker(url, api_key=api_key, **fields)
        metrics = self.observability.metrics
        worker.breaker = CircuitBreaker(
            worker.url,
            self.config.circuit_breaker,
            frozenset(self.config.retry.retryable_status_codes),
            listener=metrics.breaker_transition,
            on_outcome=metrics.breaker_outcome,
        )
        return worker


def _selection_counter(metrics: GatewayMetrics) -> DecisionCounter:
    """Counts every decision by reason, and each one that picked a worker."""

    def count(model: str, policy: str, reason: str) -> None:
        metrics.routing_decision(model, policy, reason)
        if reason != NO_WORKER:
            metrics.worker_selected(model, policy)

    return count
