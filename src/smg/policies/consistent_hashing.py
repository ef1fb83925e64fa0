"""`consistent_hashing`: the same key always reaches the same worker.

The key is, in order: an explicit worker index (`x-smg-target-worker`), the
routing key header, then the caller's identity (authorization, forwarded-for,
cookie). It is placed on a hash ring of the model's workers, so a key moves only
when its worker leaves. Requests without any key go to a random worker.
"""

from __future__ import annotations

import random as _random
from collections.abc import Sequence

from smg.config import RoutingConfig
from smg.policies.base import Decision, Policy, RequestFacts
from smg.policies.hash_ring import HashRing
from smg.workers.worker import Worker

TARGET_WORKER_HEADER = b"x-smg-target-worker"
# Caller identities hashed when no routing key is given, in this order.
IDENTITY_HEADERS = (b"authorization", b"x-forwarded-for", b"cookie")


def key_headers(config: RoutingConfig) -> tuple[bytes, ...]:
    return tuple(name.lower().encode("latin-1") for name in config.routing_key_headers)


class ConsistentHashingPolicy(Policy):
    name = "consistent_hashing"

    def __init__(
        self, config: RoutingConfig, rng: _random.Random | None = None
    ) -> None:
        self._key_headers = key_headers(config)
        self._rng = rng or _random.Random()
        self._ring = HashRing()

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        """Route by explicit index, then by key on the ring, else at random.

        Returns None when an explicit index is out of range: the caller asked
        for a worker that cannot serve, and another would be a silent surprise.
        """
        if not workers:
            return None
        target = target_index(facts)
        if target is not None:
            if target >= len(workers):
                return None
            return Decision(workers[target], "target_worker", (("index", target),))

        key, source = self._key(facts)
        if key is None:
            return Decision(self._rng.choice(workers), "random")
        by_url = {w.url: w for w in workers}
        self._ring.add(by_url)
        worker = self._ring.lookup(key, by_url)
        if worker is None:
            return None
        return Decision(worker, "hash_ring", (("key_source", source),))

    def _key(self, facts: RequestFacts) -> tuple[bytes | None, str]:
        key = facts.routing_key(self._key_headers)
        if key is not None:
            return key.encode("utf-8"), "routing_key"
        for name in IDENTITY_HEADERS:
            value = facts.header(name)
            if value:
                return value, name.decode("latin-1")
        return None, ""

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        self._ring.set_members(w.url for w in workers)


def target_index(facts: RequestFacts) -> int | None:
    """The `x-smg-target-worker` index, or None when absent or not a number."""
    raw = facts.header(TARGET_WORKER_HEADER)
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)
