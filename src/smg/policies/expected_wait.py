"""Expected wait: how long a new request would queue on a worker, in seconds.

The score is (queued prompt tokens + tokens sent since the report) / throughput,
plus a KV-pressure term k / (1 - k) that grows steeply as the worker's cache
fills. Queued tokens come from the last polled report; what the gateway sent
afterwards is estimated from how far its own in-flight count grew since then,
or exceeds what the worker reported running and waiting. Using in-flight counts
rather than a count of dispatches means requests that already finished stop
counting, so a fast worker is not charged for work it has done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smg.config import RoutingConfig
from smg.policies.load_report import WorkerLoad
from smg.workers.worker import Worker

# Token usage is clamped below 1 so the pressure term stays finite.
_MAX_TOKEN_USAGE = 0.999


class ExpectedWait:
    """Scores workers by expected wait from their latest load reports."""

    def __init__(self, config: RoutingConfig) -> None:
        self._kv_weight = config.least_load_kv_pressure_weight
        self._default_tps = config.least_load_default_throughput
        self._mean_prefill = config.least_load_mean_prefill_tokens
        self._max_waiting = config.least_load_max_waiting_requests
        self._loads: dict[str, WorkerLoad] = {}

    def update(self, loads: Mapping[str, WorkerLoad]) -> None:
        """Replace the reports; a worker missing from `loads` has none now."""
        self._loads = dict(loads)

    def has_reports(self, workers: Sequence[Worker]) -> bool:
        loads = self._loads
        return any(w.url in loads for w in workers)

    def report(self, worker: Worker) -> WorkerLoad | None:
        return self._loads.get(worker.url)

    def sent_since_report(self, worker: Worker) -> int:
        """Requests in flight from here that the worker's report cannot show.

        Those sent after the report, or more than the worker counted as running
        or waiting (requests still on the wire, or held before admission).
        """
        load = self._loads.get(worker.url)
        if load is None:
            return worker.load
        reported = load.running_reqs + load.waiting_reqs
        return max(0, worker.load - load.in_flight_at_poll, worker.load - reported)

    def is_capped(self, worker: Worker) -> bool:
        """True when the worker's queue is at `--least-load-max-waiting-requests`."""
        load = self._loads.get(worker.url)
        if self._max_waiting <= 0 or load is None:
            return False
        return load.waiting_reqs + self.sent_since_report(worker) >= self._max_waiting

    def scores(self, workers: Sequence[Worker]) -> list[float]:
        """Expected wait per worker, in order.

        A worker without a report while peers have one is charged its in-flight
        requests at the peers' mean throughput, so it is neither shunned nor
        flooded until its first report arrives.
        """
        nominal = self._nominal_tps(workers)
        return [self.score(w, nominal) for w in workers]

    def score(self, worker: Worker, nominal_tps: float) -> float:
        load = self._loads.get(worker.url)
        if load is None:
            return worker.load * self._mean_prefill / nominal_tps

        queued = load.waiting_uncached_tokens
        if queued <= 0:
            queued = load.waiting_reqs * self._mean_prefill
        pending = self.sent_since_report(worker) * self._mean_prefill
        tps = load.gen_throughput_tps
        if tps <= 0:
            tps = self._default_tps
        usage = min(max(load.token_usage, 0.0), _MAX_TOKEN_USAGE)
        return (queued + pending) / tps + self._kv_weight * usage / (1.0 - usage)

    def _nominal_tps(self, workers: Sequence[Worker]) -> float:
        rates = []
        for worker in workers:
            load = self._loads.get(worker.url)
            if load is not None:
                tps = load.gen_throughput_tps
                rates.append(tps if tps > 0 else self._default_tps)
        return sum(rates) / len(rates) if rates else self._default_tps
