"""`power_of_two`: sample two distinct workers, keep the less loaded one.

Two random probes avoid the herd effect of always picking the global minimum
while staying close to it. What "loaded" means is `--power-of-two-load-metric`:
`expected_wait` (polled load reports, see expected_wait.py), `requests` (the
gateway's own in-flight count) or `least_requests` (requests the worker
reported running or waiting, plus those sent since). The report-based metrics
fall back to in-flight counts until both sampled workers have reported.
"""

from __future__ import annotations

import random as _random
from collections.abc import Mapping, Sequence

from smg.config import RoutingConfig
from smg.policies.base import Decision, Policy, RequestFacts
from smg.policies.expected_wait import ExpectedWait
from smg.policies.load_report import WorkerLoad
from smg.workers.worker import Worker


class PowerOfTwoPolicy(Policy):
    name = "power_of_two"
    uses_loads = True

    def __init__(
        self, rng: _random.Random | None = None, config: RoutingConfig | None = None
    ) -> None:
        config = config or RoutingConfig()
        self._rng = rng or _random.Random()
        self._metric = config.power_of_two_load_metric
        self._wait = ExpectedWait(config)

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        """Pick the less loaded of two sampled workers; ties go to the first draw.

        Returns None with no workers; a single worker is returned without sampling.
        """
        count = len(workers)
        if count == 0:
            return None
        if count == 1:
            return Decision(workers[0], "only_worker")
        first, second = self._rng.sample(range(count), 2)
        pair = (workers[first], workers[second])
        metric, costs = self._costs(pair)
        chosen = pair[1] if costs[1] < costs[0] else pair[0]
        return Decision(chosen, "min_load", (("metric", metric),))

    def _costs(self, pair: tuple[Worker, Worker]) -> tuple[str, tuple[float, float]]:
        wait = self._wait
        if self._metric == "requests" or not all(wait.report(w) for w in pair):
            return "requests", (float(pair[0].load), float(pair[1].load))
        if self._metric == "least_requests":
            return "least_requests", (self._requests(pair[0]), self._requests(pair[1]))
        scores = wait.scores(pair)
        return "expected_wait", (scores[0], scores[1])

    def _requests(self, worker: Worker) -> float:
        report = self._wait.report(worker)
        reported = report.running_reqs + report.waiting_reqs if report else 0
        return float(reported + self._wait.sent_since_report(worker))

    def on_loads(self, loads: Mapping[str, WorkerLoad]) -> None:
        self._wait.update(loads)
