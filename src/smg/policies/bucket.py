"""`bucket`: prefill workers by request length, each owning a range of sizes.

Similar lengths batch well and keep a long prompt from stalling short ones, so
the size axis is cut into one contiguous range per worker (at first 4096 / n
wide, the last open-ended). Every adjustment interval the cuts move so that
each range carries about the same share of the recent load (sum of sizes).
When the recent load is uneven by both the absolute and relative margins, the
least loaded worker takes the request whatever its size.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Sequence

from smg.config import RoutingConfig
from smg.policies.base import Decision, Policy, RequestFacts
from smg.policies.sticky_keys import Clock
from smg.workers.worker import Worker

INITIAL_SPAN = 4096
# Boundaries move only when the busiest range carries this many times the load
# of the idlest one; smaller swings are noise and moving would churn batches.
REBALANCE_RATIO = 2.0


class BucketPolicy(Policy):
    name = "bucket"

    def __init__(self, config: RoutingConfig, clock: Clock = time.monotonic) -> None:
        self._abs = config.balance_abs_threshold
        self._rel = config.balance_rel_threshold
        self._window_s = float(config.bucket_adjust_interval_secs)
        self._clock = clock
        self._urls: list[str] = []
        # Upper bounds of every range but the last, ascending.
        self.bounds: list[float] = []
        self._recent: deque[tuple[float, int, str]] = deque()
        self._load: dict[str, int] = {}
        self._next_adjust_s = clock() + self._window_s

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        if not workers:
            return None
        now = self._clock()
        self._track(workers)
        # Adjust before forgetting, so the cuts follow the window just ended.
        if now >= self._next_adjust_s:
            self._adjust()
            self._next_adjust_s = now + self._window_s
        self._forget_before(now - self._window_s)

        by_url = {w.url: w for w in workers}
        least = min(workers, key=lambda w: (self._load.get(w.url, 0), w.load))
        if self._is_imbalanced(workers):
            return Decision(least, "load_balance")
        size = facts.request_size
        owner = by_url.get(self._urls[bisect.bisect_left(self.bounds, size)])
        if owner is None:
            return Decision(least, "load_balance")
        return Decision(owner, "bucket", (("size", size),))

    def on_routed(self, worker: Worker, facts: RequestFacts) -> None:
        size = facts.request_size
        self._recent.append((self._clock(), size, worker.url))
        self._load[worker.url] = self._load.get(worker.url, 0) + size

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        self._track(workers)

    def _track(self, workers: Sequence[Worker]) -> None:
        """Keep one range per known worker; a new member resets the ranges."""
        urls = sorted(w.url for w in workers)
        if set(urls) <= set(self._urls):
            return
        self._urls = sorted(set(urls) | set(self._urls))
        span = INITIAL_SPAN / len(self._urls)
        self.bounds = [span * (i + 1) for i in range(len(self._urls) - 1)]

    def _is_imbalanced(self, workers: Sequence[Worker]) -> bool:
        loads = [self._load.get(w.url, 0) for w in workers]
        high, low = max(loads), min(loads)
        return high - low > self._abs and high > self._rel * low

    def _forget_before(self, cutoff: float) -> None:
        recent = self._recent
        while recent and recent[0][0] < cutoff:
            _, size, url = recent.popleft()
            left = self._load.get(url, 0) - size
            if left > 0:
                self._load[url] = left
            else:
                self._load.pop(url, None)

    def _adjust(self) -> None:
        """Move the cuts so each range carries about total / n of recent sizes."""
        count = len(self._urls)
        sizes = sorted(size for _, size, _ in self._recent)
        if count < 2 or not sizes:
            return
        per_range = [0] * count
        for size in sizes:
            per_range[bisect.bisect_left(self.bounds, size)] += size
        if max(per_range) < REBALANCE_RATIO * max(1, min(per_range)):
            return
        share = sum(sizes) / count
        bounds: list[float] = []
        running = 0
        for size in sizes:
            running += size
            if running >= share * (len(bounds) + 1) and len(bounds) < count - 1:
                bounds.append(_above(bounds, size))
        while len(bounds) < count - 1:
            bounds.append(_above(bounds, sizes[-1]))
        self.bounds = bounds


def _above(bounds: list[float], size: int) -> float:
    """`size`, or just past the last bound, so the bounds stay strictly ascending."""
    return float(size) if not bounds or size > bounds[-1] else bounds[-1] + 1.0
