from __future__ import annotations

from typing import Any

import pytest

from smg.sim.config import FaultConfig
from smg.sim.faults import FaultError, Faults

STARTUP = FaultConfig(fail_status=502, delay_ms=5.0)


def test_update_merges_named_fields_and_keeps_the_rest() -> None:
    faults = Faults(STARTUP)
    faults.update({"fail_rate": 1, "hang": True})
    assert faults.current == FaultConfig(1.0, 502, 5.0, True)
    faults.update({})
    assert faults.current.hang


def test_reset_restores_startup_values_before_applying_fields() -> None:
    faults = Faults(STARTUP)
    faults.update({"hang": True, "drop_after_chunks": 3})
    faults.update({"reset": True, "fail_health": True})
    assert faults.current == FaultConfig(
        fail_status=502, delay_ms=5.0, fail_health=True
    )


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"nope": 1},
        {"fail_rate": 2},
        {"fail_rate": "half"},
        {"fail_status": 99},
        {"hang": 1},
        {"drop_after_chunks": -1},
        {"delay_ms": -5},
    ],
)
def test_invalid_bodies_are_refused_without_change(body: Any) -> None:
    faults = Faults(STARTUP)
    with pytest.raises(FaultError):
        faults.update(body)
    assert faults.current == STARTUP


def test_drop_after_chunks_accepts_null_to_disable() -> None:
    faults = Faults(FaultConfig(drop_after_chunks=2))
    faults.update({"drop_after_chunks": None})
    assert faults.current.drop_after_chunks is None


@pytest.mark.parametrize(
    ("rate", "low", "high"), [(0.0, 0, 0), (1.0, 200, 200), (0.5, 70, 130)]
)
def test_fail_rate_sets_the_share_of_failures(rate: float, low: int, high: int) -> None:
    faults = Faults(FaultConfig(fail_rate=rate), seed=1)
    failures = sum(faults.should_fail() for _ in range(200))
    assert low <= failures <= high
