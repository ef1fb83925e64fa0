"""`random`: a uniform choice among the routable workers."""

from __future__ import annotations

import random as _random
from collections.abc import Sequence

from smg.policies.base import Decision, Policy, RequestFacts
from smg.workers.worker import Worker


class RandomPolicy(Policy):
    name = "random"

    def __init__(self, rng: _random.Random | None = None) -> None:
        self._rng = rng or _random.Random()

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        if not workers:
            return None
        return Decision(workers[self._rng.randrange(len(workers))], "random")
