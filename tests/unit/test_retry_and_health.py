from __future__ import annotations

import random

import pytest

from smg.config import HealthConfig, RetryConfig
from smg.workers.health import HealthTracker
from smg.workers.retry import RetryPolicy
from smg.workers.worker import FAILED, NOT_READY, PENDING, READY


def test_backoff_grows_and_is_capped_without_jitter() -> None:
    policy = RetryPolicy(
        RetryConfig(
            initial_backoff_ms=50,
            backoff_multiplier=2,
            max_backoff_ms=300,
            jitter_factor=0,
        )
    )
    assert [policy.backoff_s(i) for i in range(4)] == [0.05, 0.1, 0.2, 0.3]


def test_jitter_stays_within_its_band() -> None:
    policy = RetryPolicy(RetryConfig(jitter_factor=0.2), random.Random(3))
    assert all(0.04 <= policy.backoff_s(0) <= 0.06 for _ in range(200))


@pytest.mark.parametrize(
    ("status", "retryable"), [(503, True), (500, True), (429, True), (400, False)]
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert RetryPolicy(RetryConfig()).is_retryable(status) is retryable


def run(tracker: HealthTracker, status: str, results: list[bool]) -> list[str]:
    seen = []
    for healthy in results:
        status = tracker.next_status(status, healthy)
        seen.append(status)
    return seen


def test_health_state_machine() -> None:
    config = HealthConfig(failure_threshold=2, success_threshold=2)
    assert run(HealthTracker(config), PENDING, [True, True]) == [PENDING, READY]
    assert run(HealthTracker(config), READY, [False, False]) == [READY, NOT_READY]
    assert run(HealthTracker(config), NOT_READY, [True, True])[-1] == READY
    assert run(HealthTracker(config), NOT_READY, [False] * 6)[-1] == FAILED


def test_one_success_resets_the_failure_count() -> None:
    config = HealthConfig(failure_threshold=2)
    assert run(HealthTracker(config), READY, [False, True, False]) == [READY] * 3
