"""`round_robin`: the next worker in turn among those routable now.

The counter is taken modulo the routable set, so the order shifts when a worker
joins, leaves or changes health, as in the original.
"""

from __future__ import annotations

from collections.abc import Sequence

from smg.policies.base import Decision, Policy, RequestFacts
from smg.workers.worker import Worker


class RoundRobinPolicy(Policy):
    name = "round_robin"

    def __init__(self) -> None:
        self._counter = 0

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        if not workers:
            return None
        index = self._counter % len(workers)
        self._counter += 1
        return Decision(workers[index], "round_robin")
