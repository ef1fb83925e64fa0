"""`least_load`: the worker where a new request would wait the least.

Expected wait comes from the workers' polled load reports (see
expected_wait.py). Until any worker has reported, it is join-the-shortest-queue
on the gateway's own in-flight counts. Exact ties are broken at random, so
equally idle workers share the traffic instead of the first taking it all.
"""

from __future__ import annotations

import random as _random
from collections.abc import Mapping, Sequence

from smg.config import RoutingConfig
from smg.policies.base import Decision, Policy, RequestFacts
from smg.policies.expected_wait import ExpectedWait
from smg.policies.load_report import WorkerLoad
from smg.workers.worker import Worker


class LeastLoadPolicy(Policy):
    name = "least_load"
    uses_loads = True

    def __init__(
        self, config: RoutingConfig, rng: _random.Random | None = None
    ) -> None:
        self._wait = ExpectedWait(config)
        self._rng = rng or _random.Random()

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        """Pick the lowest expected wait; None when every worker is at its cap."""
        if not workers:
            return None
        wait = self._wait
        if not wait.has_reports(workers):
            loads = [float(w.load) for w in workers]
            index = _argmin(loads, self._rng)
            return Decision(workers[index], "min_load", (("in_flight", loads[index]),))

        open_workers = [w for w in workers if not wait.is_capped(w)]
        if not open_workers:
            return None
        scores = wait.scores(open_workers)
        index = _argmin(scores, self._rng)
        wait_ms = round(scores[index] * 1000.0, 1)
        return Decision(
            open_workers[index], "min_load", (("expected_wait_ms", wait_ms),)
        )

    def on_loads(self, loads: Mapping[str, WorkerLoad]) -> None:
        self._wait.update(loads)


def _argmin(values: list[float], rng: _random.Random) -> int:
    """Index of the smallest value, uniform among exact ties (reservoir sampling)."""
    best, chosen, ties = values[0], 0, 1
    for index in range(1, len(values)):
        value = values[index]
        if value < best:
            best, chosen, ties = value, index, 1
        elif value == best:
            ties += 1
            if rng.randrange(ties) == 0:
                chosen = index
    return chosen
