"""Counters and the last request seen per path, served by `GET /sim/stats`.

Recording keeps only references to the raw request (headers list, body bytes), so
the hot path pays nothing to decode them; `snapshot` decodes when asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from smg.http.server import Headers

Clock = Callable[[], float]


class SimStats:
    def __init__(self) -> None:
        # A gauge, not a counter, so `reset` leaves it: requests held by the delay
        # or hang faults right now.
        self.stalled = 0
        self.reset()

    def reset(self) -> None:
        self.requests: dict[str, int] = {}
        self.completed = 0
        # Client went away before the answer was complete.
        self.aborted = 0
        # Injected failures, refused for a full queue, and connections cut on purpose.
        self.failed = 0
        self.rejected = 0
        self.dropped = 0
        self.prompt_tokens = 0
        self.cache_hit_tokens = 0
        self.completion_tokens = 0
        self._last: dict[str, tuple[str, Headers, bytes]] = {}

    def record(self, method: str, path: str, headers: Headers, body: bytes) -> None:
        requests = self.requests
        requests[path] = requests.get(path, 0) + 1
        self._last[path] = (method, headers, body)

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def snapshot(self, running: int, waiting: int) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "completed": self.completed,
            "aborted": self.aborted,
            "failed": self.failed,
            "rejected": self.rejected,
            "dropped": self.dropped,
            "prompt_tokens": self.prompt_tokens,
            "cache_hit_tokens": self.cache_hit_tokens,
            "completion_tokens": self.completion_tokens,
            "cache_hit_rate": self.cache_hit_rate,
            "running": running,
            "waiting": waiting,
            "stalled": self.stalled,
            "last_requests": {
                path: _describe(*last) for path, last in self._last.items()
            },
        }


def _describe(method: str, headers: Headers, body: bytes) -> dict[str, Any]:
    names: dict[str, str] = {}
    for key, value in headers:
        name = key.decode("latin-1")
        text = value.decode("latin-1")
        names[name] = f"{names[name]}, {text}" if name in names else text
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    return {"method": method, "headers": names, "body": parsed, "body_size": len(body)}


class ThroughputMeter:
    """Tokens per second over windows of at least `window_s`, read lazily.

    Nothing runs per token: each read compares the running total with the mark
    left by the last read that closed a window.
    """

    def __init__(self, window_s: float = 1.0, clock: Clock = time.monotonic) -> None:
        self._window_s = window_s
        self._clock = clock
        self._mark_time = clock()
        self._mark_total = 0
        self._rate = 0.0

    def read(self, total: int) -> float:
        now = self._clock()
        elapsed = now - self._mark_time
        if total < self._mark_total:
            # Counters were reset: start a new window.
            self._mark_time, self._mark_total, self._rate = now, total, 0.0
        elif elapsed >= self._window_s:
            self._rate = (total - self._mark_total) / elapsed
            self._mark_time, self._mark_total = now, total
        return self._rate
