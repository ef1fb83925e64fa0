from __future__ import annotations

from smg.config import CircuitBreakerConfig
from smg.workers.circuit_breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker

FAILURES = frozenset({408, 429, 500, 502, 503, 504})


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: FakeClock, **kw: object) -> CircuitBreaker:
    config = CircuitBreakerConfig(
        failure_threshold=3, success_threshold=2, timeout_secs=10, **kw
    )  # type: ignore[arg-type]
    return CircuitBreaker("http://w:1", config, FAILURES, clock)


def test_breaker_opens_after_consecutive_failures() -> None:
    cb = breaker(FakeClock())
    for _ in range(2):
        cb.record_status(503)
    cb.record_status(200)
    for _ in range(3):
        cb.record_status(500)
    assert cb.state == OPEN and not cb.allows()


def test_open_breaker_half_opens_after_timeout_and_closes_on_successes() -> None:
    clock = FakeClock()
    cb = breaker(clock)
    for _ in range(3):
        cb.record_failure()
    clock.now = 10.5
    assert cb.allows() and cb.state == HALF_OPEN
    cb.record_success()
    cb.record_success()
    assert cb.state == CLOSED


def test_failure_in_half_open_reopens() -> None:
    clock = FakeClock()
    cb = breaker(clock)
    for _ in range(3):
        cb.record_failure()
    clock.now = 11
    assert cb.allows()
    cb.record_failure()
    assert cb.state == OPEN and not cb.allows()


def test_capacity_status_counts_as_neither() -> None:
    cb = breaker(FakeClock())
    for _ in range(10):
        cb.record_status(429)
    assert cb.state == CLOSED and cb.consecutive_failures == 0


def test_client_errors_count_as_success() -> None:
    cb = breaker(FakeClock())
    cb.record_status(500)
    cb.record_status(404)
    assert cb.consecutive_failures == 0


def test_disabled_breaker_never_opens() -> None:
    cb = breaker(FakeClock(), enabled=False)
    for _ in range(50):
        cb.record_failure()
    assert cb.allows()
