"""One policy instance per model, all of the configured kind.

Per-model instances keep stateful policies (counters, trees) from mixing models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from smg.config import RoutingConfig
from smg.policies.base import Policy
from smg.policies.passthrough import PassthroughPolicy
from smg.policies.power_of_two import PowerOfTwoPolicy
from smg.policies.random import RandomPolicy
from smg.policies.round_robin import RoundRobinPolicy
from smg.workers.worker import Worker


def _factories(config: RoutingConfig) -> dict[str, Callable[[], Policy]]:
    from smg.policies.cache_aware import CacheAwarePolicy

    return {
        "random": RandomPolicy,
        "round_robin": RoundRobinPolicy,
        "power_of_two": PowerOfTwoPolicy,
        "passthrough": PassthroughPolicy,
        "cache_aware": lambda: CacheAwarePolicy(config),
    }


class PolicyRegistry:
    def __init__(self, config: RoutingConfig) -> None:
        self._factory = _factories(config)[config.policy]
        self._by_model: dict[str, Policy] = {}

    def for_model(self, model: str) -> Policy:
        policy = self._by_model.get(model)
        if policy is None:
            policy = self._by_model[model] = self._factory()
        return policy

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        self.for_model(model).on_workers_changed(model, workers)

    def all(self) -> list[Policy]:
        return list(self._by_model.values())
