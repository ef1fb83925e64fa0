"""Routing keys pinned to workers, forgotten once idle.

Each key holds up to two worker urls: its first worker and a backup used while
the first is not routable, so a key returns to its first worker when it can. The
table is kept in order of last use, so forgetting idle keys only ever looks at
the oldest ones and costs nothing per request when none have expired.
"""

from __future__ import annotations

import random as _random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smg.policies.base import least_loaded
from smg.workers.worker import Worker

Clock = Callable[[], float]

MAX_WORKERS_PER_KEY = 2


@dataclass(slots=True)
class _Pin:
    worker_urls: list[str]
    last_used_s: float


class StickyTable:
    """Keys to worker urls, with a count of keys per worker for `min_group`."""

    def __init__(self, max_idle_s: float, clock: Clock = time.monotonic) -> None:
        self._max_idle_s = max_idle_s
        self._clock = clock
        self._pins: OrderedDict[str, _Pin] = OrderedDict()
        self._keys_per_worker: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._pins)

    def workers_of(self, key: str) -> list[str]:
        """The key's worker urls, first choice first; empty for an unknown key."""
        now = self._clock()
        self._forget_idle(now)
        pin = self._pins.get(key)
        if pin is None:
            return []
        pin.last_used_s = now
        self._pins.move_to_end(key)
        return pin.worker_urls

    def pin(self, key: str, worker_url: str, *, first: bool = False) -> None:
        """Add `worker_url` to the key's workers, after those it already has.

        A key keeps its first worker as long as it lives, so it goes back there
        when that worker is routable again; past the limit the newest backup is
        replaced. With `first`, the url becomes the key's first worker instead.
        """
        now = self._clock()
        pin = self._pins.get(key)
        if pin is None:
            self._pins[key] = _Pin([worker_url], now)
            self._count(worker_url, 1)
            return
        urls = pin.worker_urls
        if worker_url in urls:
            urls.remove(worker_url)
        else:
            self._count(worker_url, 1)
        if first:
            urls.insert(0, worker_url)
        while len(urls) > MAX_WORKERS_PER_KEY - (0 if first else 1):
            self._count(urls.pop(), -1)
        if not first:
            urls.append(worker_url)
        pin.last_used_s = now
        self._pins.move_to_end(key)

    def keys_on(self, worker_url: str) -> int:
        return self._keys_per_worker.get(worker_url, 0)

    def _forget_idle(self, now: float) -> None:
        cutoff = now - self._max_idle_s
        pins = self._pins
        while pins:
            key, pin = next(iter(pins.items()))
            if pin.last_used_s > cutoff:
                return
            del pins[key]
            for url in pin.worker_urls:
                self._count(url, -1)

    def _count(self, worker_url: str, delta: int) -> None:
        count = self._keys_per_worker.get(worker_url, 0) + delta
        if count > 0:
            self._keys_per_worker[worker_url] = count
        else:
            self._keys_per_worker.pop(worker_url, None)


def assign_worker(
    mode: str, workers: Sequence[Worker], table: StickyTable, rng: _random.Random
) -> Worker:
    """Choose a worker for a new key by `--assignment-mode`.

    `delegate` is handled by callers that have a policy to delegate to; here it
    falls back to a random choice.
    """
    if mode == "min_load":
        return least_loaded(workers)
    if mode == "min_group":
        return min(workers, key=lambda w: (table.keys_on(w.url), w.load))
    return workers[rng.randrange(len(workers))]
