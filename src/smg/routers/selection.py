"""Choosing the worker for one attempt: the seam between the request path and
the policies.

The request path hands over the model's routable workers (health and circuit
breakers already applied) and the workers this request already tried; this
module asks the model's policy and says why it chose what it chose.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from smg.policies.base import RequestFacts
from smg.policies.registry import PolicyRegistry
from smg.workers.worker import Worker


@dataclass(slots=True)
class Selection:
    worker: Worker
    policy: str
    reason: str = "policy"

    def explain(self) -> bytes:
        """The `x-smg-explain` response header value."""
        return f"policy={self.policy}; worker={self.worker.url}; reason={self.reason}".encode()


def select_worker(
    policies: PolicyRegistry,
    facts: RequestFacts,
    workers: Sequence[Worker],
    tried: Collection[Worker] = (),
) -> Selection | None:
    """Pick a worker for `facts`, preferring ones this request has not tried.

    Returns None when the policy finds no worker.
    """
    candidates = [w for w in workers if w not in tried] if tried else workers
    if not candidates:
        candidates = workers
    policy = policies.for_model(facts.model)
    worker = policy.select(candidates, facts)
    if worker is None:
        return None
    policy.on_routed(worker, facts)
    return Selection(worker, policy.name)
