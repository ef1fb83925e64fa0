"""Sticky sessions on any policy (`--routing-key-override`).

Every request of a conversation goes to the worker its first request went to.
The conversation is named by the body's `rid` with its retry (`_r<n>`) and turn
(`_t<n>`) suffixes removed, else by the first valid routing key header. A new
key is routed by the wrapped policy (or `--assignment-mode`) and pinned.

Stickiness yields to load in one case: when a key already has its own cap of
requests running on its worker, the next one may go elsewhere, and the key moves
there only if that worker is strictly less loaded.
"""

from __future__ import annotations

import random as _random
import re
import time
from collections.abc import Mapping, Sequence

from smg.config import RoutingConfig
from smg.policies.base import Decision, Policy, RequestFacts
from smg.policies.consistent_hashing import key_headers
from smg.policies.load_report import WorkerLoad
from smg.policies.sticky_keys import Clock, StickyTable, assign_worker
from smg.workers.worker import Worker

# A key's own requests in flight on its worker before others are considered.
MAX_IN_FLIGHT_PER_KEY = 2
_RETRY_SUFFIX = re.compile(r"_r\d+$")
_TURN_SUFFIX = re.compile(r"_t\d+$")


def conversation_key(raw: str) -> str:
    """Strip a trailing retry suffix, then a trailing turn suffix."""
    return _TURN_SUFFIX.sub("", _RETRY_SUFFIX.sub("", raw))


class StickySessions(Policy):
    """Wraps a policy: pinned keys first, the wrapped policy for the rest."""

    def __init__(
        self,
        inner: Policy,
        config: RoutingConfig,
        rng: _random.Random | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.uses_loads = inner.uses_loads
        self._key_headers = key_headers(config)
        self._mode = config.assignment_mode or "delegate"
        self._rng = rng or _random.Random()
        self.table = StickyTable(config.max_idle_secs, clock)
        self._in_flight: dict[tuple[str, str], int] = {}

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        key = self.key_of(facts)
        if key is None or not workers:
            return self.inner.decide(workers, facts)

        pinned = self._pinned_worker(key, workers)
        if pinned is None:
            return self._assign(key, workers, facts)
        if self._in_flight.get((key, pinned.url), 0) < MAX_IN_FLIGHT_PER_KEY:
            return Decision(pinned, "sticky_key")

        others = [w for w in workers if w is not pinned]
        alternative = self.inner.decide(others, facts) if others else None
        if alternative is None or alternative.worker.load >= pinned.load:
            return Decision(pinned, "sticky_key", (("over_cap", 1),))
        self.table.pin(key, alternative.worker.url, first=True)
        return Decision(alternative.worker, "sticky_respill")

    def key_of(self, facts: RequestFacts) -> str | None:
        body = facts.body
        rid = body.get("rid") if body else None
        if isinstance(rid, str) and rid:
            return conversation_key(rid)
        key = facts.routing_key(self._key_headers)
        return None if key is None else conversation_key(key)

    def _pinned_worker(self, key: str, workers: Sequence[Worker]) -> Worker | None:
        urls = self.table.workers_of(key)
        if not urls:
            return None
        by_url = {w.url: w for w in workers}
        return next((by_url[url] for url in urls if url in by_url), None)

    def _assign(
        self, key: str, workers: Sequence[Worker], facts: RequestFacts
    ) -> Decision | None:
        if self._mode == "delegate":
            decision = self.inner.decide(workers, facts)
            if decision is None:
                return None
            worker = decision.worker
            details = (("assignment", f"{self.inner.name}:{decision.reason}"),)
        else:
            worker = assign_worker(self._mode, workers, self.table, self._rng)
            details = (("assignment", self._mode),)
        self.table.pin(key, worker.url)
        return Decision(worker, "sticky_new", details)

    def on_routed(self, worker: Worker, facts: RequestFacts) -> None:
        key = self.key_of(facts)
        if key is not None:
            slot = (key, worker.url)
            self._in_flight[slot] = self._in_flight.get(slot, 0) + 1
        self.inner.on_routed(worker, facts)

    def on_finished(self, worker: Worker, facts: RequestFacts) -> None:
        key = self.key_of(facts)
        if key is not None:
            slot = (key, worker.url)
            count = self._in_flight.get(slot, 0) - 1
            if count > 0:
                self._in_flight[slot] = count
            else:
                self._in_flight.pop(slot, None)
        self.inner.on_finished(worker, facts)

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        self.inner.on_workers_changed(model, workers)

    def on_loads(self, loads: Mapping[str, WorkerLoad]) -> None:
        self.inner.on_loads(loads)

    def close(self) -> None:
        self.inner.close()
