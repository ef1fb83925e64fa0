"""`power_of_two`: sample two distinct workers, keep the less loaded one.

Load is the gateway's own in-flight count per worker. Two random probes avoid
the herd effect of always picking the global minimum while staying close to it.
"""

from __future__ import annotations

import random as _random
from collections.abc import Sequence

from smg.policies.base import Policy, RequestFacts
from smg.workers.worker import Worker


class PowerOfTwoPolicy(Policy):
    name = "power_of_two"

    def __init__(self, rng: _random.Random | None = None) -> None:
        self._rng = rng or _random.Random()

    def select(self, workers: Sequence[Worker], facts: RequestFacts) -> Worker | None:
        """Pick the less loaded of two sampled workers; ties go to the first draw.

        Returns None with no workers; a single worker is returned without sampling.
        """
        count = len(workers)
        if count == 0:
            return None
        if count == 1:
            return workers[0]
        first, second = self._rng.sample(range(count), 2)
        a, b = workers[first], workers[second]
        return b if b.load < a.load else a
