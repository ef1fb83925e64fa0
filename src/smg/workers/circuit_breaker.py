"""A per-worker circuit breaker: stop sending to a worker that keeps failing.

Closed lets everything through and counts consecutive failures; past the
threshold it opens and the worker gets no traffic. After the timeout the next
check turns it half-open, letting requests through as trials: enough
consecutive successes close it, any failure opens it again. Outcomes come from
the status the gateway saw: the retryable statuses are failures, "busy" ones
(429) count as neither, and everything else, 4xx included, is a success.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from smg.config import CircuitBreakerConfig

logger = logging.getLogger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
STATE_CODES = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}

Clock = Callable[[], float]
TransitionListener = Callable[[str, str, str], None]
# Called with (worker_url, success) for every outcome the breaker counts.
OutcomeListener = Callable[[str, bool], None]


class CircuitBreaker:
    """State of one worker's circuit; `worker_url` is used for logs only."""

    __slots__ = (
        "_clock",
        "_config",
        "_failure_codes",
        "_listener",
        "_on_outcome",
        "_opened_at",
        "consecutive_failures",
        "consecutive_successes",
        "state",
        "worker_url",
    )

    def __init__(
        self,
        worker_url: str,
        config: CircuitBreakerConfig,
        failure_codes: frozenset[int],
        clock: Clock = time.monotonic,
        listener: TransitionListener | None = None,
        on_outcome: OutcomeListener | None = None,
    ) -> None:
        self.worker_url = worker_url
        self._on_outcome = on_outcome
        self._config = config
        self._failure_codes = failure_codes
        self._clock = clock
        self._listener = listener
        self.state = CLOSED
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self._opened_at = 0.0

    def allows(self) -> bool:
        """True when a request may go to this worker now."""
        if not self._config.enabled or self.state == CLOSED:
            return True
        if self.state == OPEN:
            if self._clock() - self._opened_at < self._config.timeout_secs:
                return False
            self._move(HALF_OPEN)
        return True

    def record_status(self, status: int) -> None:
        """Count an answered request by its HTTP status."""
        if status in self._config.capacity_status_codes:
            return
        if status in self._failure_codes:
            self.record_failure()
        else:
            self.record_success()

    def record_success(self) -> None:
        if self._on_outcome is not None:
            self._on_outcome(self.worker_url, True)
        self.consecutive_failures = 0
        self.consecutive_successes += 1
        if (
            self.state == HALF_OPEN
            and self.consecutive_successes >= self._config.success_threshold
        ):
            self._move(CLOSED)

    def record_failure(self) -> None:
        if self._on_outcome is not None:
            self._on_outcome(self.worker_url, False)
        self.consecutive_successes = 0
        self.consecutive_failures += 1
        if not self._config.enabled:
            return
        if self.state == HALF_OPEN or (
            self.state == CLOSED
            and self.consecutive_failures >= self._config.failure_threshold
        ):
            self._opened_at = self._clock()
            self._move(OPEN)

    def _move(self, state: str) -> None:
        previous, self.state = self.state, state
        self.consecutive_successes = 0
        if state == CLOSED:
            self.consecutive_failures = 0
        logger.info(
            "circuit breaker state changed",
            extra={"worker_url": self.worker_url, "from": previous, "to": state},
        )
        if self._listener is not None:
            self._listener(self.worker_url, previous, state)
