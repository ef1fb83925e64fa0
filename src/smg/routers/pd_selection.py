"""Choosing a prefill and a decode worker for one PD attempt.

Each leg has its own policy registry (`--prefill-policy`, `--decode-policy`,
both defaulting to `--policy`), fed only the workers of its role, so stateful
policies (rings, prefix trees, counters) never mix prefill and decode workers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from smg.context import AppContext
from smg.policies.base import RequestFacts
from smg.policies.registry import PolicyRegistry
from smg.routers.selection import Selection, select_worker
from smg.server import errors
from smg.workers.registry import ChangeListener, WorkerRegistry
from smg.workers.worker import Worker

PREFILL = "prefill"
DECODE = "decode"
LEGS = (PREFILL, DECODE)


@dataclass(slots=True)
class Pair:
    """The two workers of one attempt and the policies that chose them."""

    prefill: Selection
    decode: Selection

    def release(self) -> None:
        self.prefill.release()
        self.decode.release()


class PairSelector:
    """Per-leg policies over the registry's routable workers."""

    def __init__(self, ctx: AppContext) -> None:
        routing = ctx.config.routing
        names = {
            PREFILL: routing.prefill_policy or routing.policy,
            DECODE: routing.decode_policy or routing.policy,
        }
        self._registry = ctx.registry
        self._legs: dict[str, PolicyRegistry] = {}
        for leg, name in names.items():
            policies = PolicyRegistry(dataclasses.replace(routing, policy=name))
            policies.count_decision = ctx.policies.count_decision
            ctx.registry.on_change(_role_listener(policies, leg))
            self._legs[leg] = policies

    def choose(
        self, facts: RequestFacts, model: str | None, tried: Collection[Worker]
    ) -> Pair:
        """Select both workers; raises 503 when either role has none available."""
        group = self._registry.group_for(model)
        workers = group[1] if group else ()
        return Pair(
            self._select(PREFILL, facts, workers, tried),
            self._select(DECODE, facts, workers, tried),
        )

    def _select(
        self,
        leg: str,
        facts: RequestFacts,
        workers: Sequence[Worker],
        tried: Collection[Worker],
    ) -> Selection:
        candidates = [
            w
            for w in workers
            if w.worker_type == leg and (w.breaker is None or w.breaker.allows())
        ]
        if not candidates:
            raise errors.pd_no_workers(leg, facts.model)
        selection = select_worker(self._legs[leg], facts, candidates, tried)
        if selection is None:
            raise errors.pd_no_workers(leg, facts.model)
        return selection


def _role_listener(policies: PolicyRegistry, leg: str) -> ChangeListener:
    def changed(model: str, workers: tuple[Worker, ...]) -> None:
        policies.on_workers_changed(
            model, tuple(w for w in workers if w.worker_type == leg)
        )

    return changed


def has_pd_pair(registry: WorkerRegistry) -> bool:
    """True when at least one prefill and one decode worker are ready."""
    roles = {w.worker_type for w in registry.ready_workers()}
    return PREFILL in roles and DECODE in roles
