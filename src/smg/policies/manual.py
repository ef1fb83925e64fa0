"""`manual`: sticky routing keys, pinned on first use, forgotten when idle.

A request's routing key (`x-smg-routing-key` or the configured headers) goes to
the first routable worker pinned for it. A new key is assigned by
`--assignment-mode` and pinned; a key whose workers are all unroutable gets one
more, kept as a backup. Requests without a key are assigned but not pinned.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Sequence

from smg.config import RoutingConfig
from smg.policies.base import Decision, Policy, RequestFacts
from smg.policies.consistent_hashing import key_headers
from smg.policies.sticky_keys import Clock, StickyTable, assign_worker
from smg.workers.worker import Worker


class ManualPolicy(Policy):
    name = "manual"

    def __init__(
        self,
        config: RoutingConfig,
        rng: _random.Random | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._key_headers = key_headers(config)
        self._mode = config.assignment_mode or "random"
        self._rng = rng or _random.Random()
        self.table = StickyTable(config.max_idle_secs, clock)

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        if not workers:
            return None
        key = facts.routing_key(self._key_headers)
        if key is None:
            worker = self._assign(workers)
            return Decision(worker, "no_key", (("assignment", self._mode),))

        pinned = self.table.workers_of(key)
        if pinned:
            by_url = {w.url: w for w in workers}
            for url in pinned:
                if url in by_url:
                    return Decision(by_url[url], "sticky_key")
        worker = self._assign(workers)
        self.table.pin(key, worker.url)
        reason = "sticky_moved" if pinned else "sticky_new"
        return Decision(worker, reason, (("assignment", self._mode),))

    def _assign(self, workers: Sequence[Worker]) -> Worker:
        return assign_worker(self._mode, workers, self.table, self._rng)
