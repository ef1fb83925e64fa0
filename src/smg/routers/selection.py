"""Choosing the worker for one attempt: the seam between the request path and
the policies.

The request path hands over the model's routable workers (health and circuit
breakers already applied) and the workers this request already tried; this
module asks the model's policy, records why it chose what it chose (log, metrics,
the `x-smg-explain` header) and says where the attempt must be sent.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from smg.policies import dp_aware
from smg.policies.base import Decision, Policy, RequestFacts
from smg.policies.consistent_hashing import TARGET_WORKER_HEADER
from smg.policies.registry import PolicyRegistry
from smg.workers.worker import Worker

logger = logging.getLogger(__name__)

EXPLAIN_HEADER = b"x-smg-explain"
# The decision reason counted when the policy found no worker.
NO_WORKER = "no_worker"


@dataclass(slots=True)
class Selection:
    """The worker chosen for one attempt, why, and how to reach it."""

    worker: Worker
    policy: str
    reason: str
    details: tuple[tuple[str, Any], ...] = ()
    _owner: Policy | None = None
    _facts: RequestFacts | None = None

    @property
    def upstream_url(self) -> str:
        """The url to send to: a DP rank's engine url, else the worker's own."""
        return dp_aware.base_url(self.worker)

    def payload(self, body: dict[str, Any] | None, payload: bytes) -> bytes:
        """The body to forward: `payload`, or for a DP rank `body` plus its rank."""
        rank = dp_aware.rank_of(self.worker)
        if rank is None or body is None:
            return payload
        return dp_aware.with_rank(body, rank)

    def explain(self) -> bytes:
        """The `x-smg-explain` response header value.

        Names only the policy, the worker, the reason label and its figures,
        never request content or keys.
        """
        parts = [
            f"policy={self.policy}",
            f"worker={self.worker.url}",
            f"reason={self.reason}",
        ]
        parts.extend(f"{name}={value}" for name, value in self.details)
        return "; ".join(parts).encode("latin-1", "replace")

    def release(self) -> None:
        """Tell the policy the attempt ended; call exactly once per selection."""
        if self._owner is not None and self._facts is not None:
            self._owner.on_finished(self.worker, self._facts)
            self._owner = None


def wants_explanation(facts: RequestFacts) -> bool:
    """True when the client asked for the `x-smg-explain` header."""
    return facts.header(EXPLAIN_HEADER) in (b"1", b"true")


def select_worker(
    policies: PolicyRegistry,
    facts: RequestFacts,
    workers: Sequence[Worker],
    tried: Collection[Worker] = (),
) -> Selection | None:
    """Pick a worker for `facts`, preferring ones this request has not tried.

    An explicit `x-smg-target-worker` index always refers to the full list, so
    retries keep to the worker the client named. Returns None when the policy
    finds no worker.
    """
    candidates = workers
    if tried and facts.header(TARGET_WORKER_HEADER) is None:
        untried = [w for w in workers if w not in tried]
        candidates = untried or workers
    policy = policies.for_model(facts.model)
    decision = policy.decide(candidates, facts)
    if decision is None:
        _record_none(policies, policy, facts)
        return None

    policy.on_routed(decision.worker, facts)
    _record(policies, policy, facts, decision)
    return Selection(
        decision.worker,
        policy.name,
        decision.reason,
        decision.details,
        policy,
        facts,
    )


def _record(
    policies: PolicyRegistry, policy: Policy, facts: RequestFacts, decision: Decision
) -> None:
    policies.count_decision(facts.model, policy.name, decision.reason)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "worker selected",
            extra={
                "model": facts.model,
                "policy": policy.name,
                "worker_url": decision.worker.url,
                "reason": decision.reason,
                **dict(decision.details),
            },
        )


def _record_none(policies: PolicyRegistry, policy: Policy, facts: RequestFacts) -> None:
    policies.count_decision(facts.model, policy.name, NO_WORKER)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "no worker selected",
            extra={"model": facts.model, "policy": policy.name},
        )
