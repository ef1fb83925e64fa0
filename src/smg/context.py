"""AppContext: the state every handler shares, built once at startup."""

from __future__ import annotations

from dataclasses import dataclass, field

from smg.config import GatewayConfig
from smg.policies.registry import PolicyRegistry
from smg.server.request_id import RequestIdSource
from smg.workers.http_client import HttpWorkerClient
from smg.workers.registry import WorkerRegistry


@dataclass
class AppContext:
    config: GatewayConfig
    registry: WorkerRegistry
    policies: PolicyRegistry
    client: HttpWorkerClient
    request_ids: RequestIdSource
    started_at: float = 0.0
    background: set[object] = field(default_factory=set)

    @classmethod
    def build(cls, config: GatewayConfig) -> AppContext:
        registry = WorkerRegistry(config.routing.model_aliases)
        policies = PolicyRegistry(config.routing)
        registry.on_change(policies.on_workers_changed)
        return cls(
            config=config,
            registry=registry,
            policies=policies,
            client=HttpWorkerClient(config.workers),
            request_ids=RequestIdSource(config.server.request_id_headers),
        )
