"""One policy instance per model, all of the configured kind.

Per-model instances keep stateful policies (counters, indexes, rings, sticky
tables) from mixing models. With `--routing-key-override` each policy but
`manual` and `consistent_hashing` (which are keyed already) is wrapped in
sticky sessions.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping, Sequence

from smg.config import RoutingConfig
from smg.policies.base import Policy
from smg.policies.bucket import BucketPolicy
from smg.policies.cache_aware import CacheAwarePolicy
from smg.policies.consistent_hashing import ConsistentHashingPolicy
from smg.policies.least_load import LeastLoadPolicy
from smg.policies.load_report import WorkerLoad
from smg.policies.manual import ManualPolicy
from smg.policies.passthrough import PassthroughPolicy
from smg.policies.power_of_two import PowerOfTwoPolicy
from smg.policies.prefix_hash import PrefixHashPolicy
from smg.policies.random import RandomPolicy
from smg.policies.round_robin import RoundRobinPolicy
from smg.policies.sticky_keys import Clock
from smg.policies.sticky_sessions import StickySessions
from smg.workers.worker import Worker

# Called with (model, policy, reason) once per decision; metrics plug in here.
DecisionCounter = Callable[[str, str, str], None]
# Policies that route by key themselves; sticky sessions would only shadow them.
KEYED_POLICIES = frozenset({"manual", "consistent_hashing"})


def build_policy(
    name: str,
    config: RoutingConfig,
    rng: _random.Random | None = None,
    clock: Clock = time.monotonic,
) -> Policy:
    """A fresh policy of kind `name`; raises ValueError for an unknown name."""
    factories: dict[str, Callable[[], Policy]] = {
        "random": lambda: RandomPolicy(rng),
        "round_robin": RoundRobinPolicy,
        "passthrough": PassthroughPolicy,
        "power_of_two": lambda: PowerOfTwoPolicy(rng, config),
        "least_load": lambda: LeastLoadPolicy(config, rng),
        "cache_aware": lambda: CacheAwarePolicy(config, rng),
        "consistent_hashing": lambda: ConsistentHashingPolicy(config, rng),
        "prefix_hash": lambda: PrefixHashPolicy(config),
        "manual": lambda: ManualPolicy(config, rng, clock),
        "bucket": lambda: BucketPolicy(config, clock),
    }
    factory = factories.get(name)
    if factory is None:
        raise ValueError(f"unknown policy {name!r}; known: {sorted(factories)}")
    policy = factory()
    if config.routing_key_override and name not in KEYED_POLICIES:
        policy = StickySessions(policy, config, rng, clock)
    return policy


def _count_nothing(model: str, policy: str, reason: str) -> None:
    """The decision counter until metrics replace it."""


class PolicyRegistry:
    """The model's policy for each model, created on first use."""

    def __init__(
        self,
        config: RoutingConfig,
        rng: _random.Random | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._config = config
        self._rng = rng
        self._clock = clock
        self._by_model: dict[str, Policy] = {}
        # Fails at startup, not on the first request, for an unknown policy.
        self.uses_loads = build_policy(config.policy, config).uses_loads
        self.count_decision: DecisionCounter = _count_nothing

    def for_model(self, model: str) -> Policy:
        policy = self._by_model.get(model)
        if policy is None:
            policy = build_policy(
                self._config.policy, self._config, self._rng, self._clock
            )
            self._by_model[model] = policy
        return policy

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        self.for_model(model).on_workers_changed(model, workers)

    def on_loads(self, model: str, loads: Mapping[str, WorkerLoad]) -> None:
        """Hand a model's fresh load reports to its policy."""
        self.for_model(model).on_loads(loads)

    def tree_sizes(self) -> list[tuple[str, int]]:
        """Characters each model's cache-aware index holds (for metrics)."""
        return [
            (model, policy.text_index.size_units)
            for model, policy in self._by_model.items()
            if isinstance(policy, CacheAwarePolicy)
        ]

    def all(self) -> list[Policy]:
        return list(self._by_model.values())
