"""When and how long to wait before sending a request again.

Backoff before attempt n+1 is `initial * multiplier**n`, capped at the maximum,
then scaled by a random factor in [1 - jitter, 1 + jitter] so retries from many
clients do not fall into lockstep.
"""

from __future__ import annotations

import random

from smg.config import RetryConfig


class RetryPolicy:
    def __init__(self, config: RetryConfig, rng: random.Random | None = None) -> None:
        self._config = config
        self._retryable = frozenset(config.retryable_status_codes)
        self._rng = rng or random.Random()
        self.max_attempts = max(1, config.max_attempts)

    def is_retryable(self, status: int) -> bool:
        return status in self._retryable

    def backoff_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (0-based)."""
        c = self._config
        base_ms = min(
            c.initial_backoff_ms * c.backoff_multiplier**attempt, c.max_backoff_ms
        )
        jitter = self._rng.uniform(-c.jitter_factor, c.jitter_factor)
        return max(0.0, base_ms * (1.0 + jitter)) / 1000.0
