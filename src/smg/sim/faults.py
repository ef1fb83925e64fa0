"""Fault switches that can change while the simulator runs.

`POST /sim/faults` merges the fields it names into the live switches and leaves the
others alone, so `{}` changes nothing; `{"reset": true}` first restores the
start-up values (the CLI flags), then applies any other fields in the same body.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from smg.sim.config import FaultConfig


class FaultError(ValueError):
    """A `POST /sim/faults` body that names an unknown field or a bad value."""


_FIELDS = tuple(f.name for f in dataclasses.fields(FaultConfig))


class Faults:
    """The live fault switches and the seeded draw that decides failures."""

    def __init__(self, initial: FaultConfig, seed: int = 0) -> None:
        self._initial = initial
        self.current = initial
        self._rng = random.Random(seed)

    def should_fail(self) -> bool:
        rate = self.current.fail_rate
        return rate > 0 and (rate >= 1 or self._rng.random() < rate)

    def update(self, body: Any) -> FaultConfig:
        """Apply a `/sim/faults` body; raises FaultError, changing nothing."""
        if not isinstance(body, dict):
            raise FaultError("the body must be a JSON object")
        unknown = sorted(set(body) - {*_FIELDS, "reset"})
        if unknown:
            raise FaultError(f"unknown fault fields {unknown}; known: {list(_FIELDS)}")

        base = self._initial if body.get("reset") else self.current
        changes = {name: _check(name, body[name]) for name in _FIELDS if name in body}
        self.current = dataclasses.replace(base, **changes)
        return self.current

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.current)


def _check(name: str, value: Any) -> Any:
    if name in ("hang", "fail_health"):
        if not isinstance(value, bool):
            raise FaultError(f"{name} must be true or false, got {value!r}")
        return value
    if name == "drop_after_chunks":
        if value is not None and not _is_int(value, minimum=0):
            raise FaultError(f"{name} must be null or an integer >= 0, got {value!r}")
        return value
    if name == "fail_status":
        if not _is_int(value, minimum=100) or value > 599:
            raise FaultError(f"{name} must be an HTTP status 100-599, got {value!r}")
        return value
    if name == "fail_rate" and not (_is_number(value) and 0 <= value <= 1):
        raise FaultError(f"{name} must be a number from 0 to 1, got {value!r}")
    if name == "delay_ms" and not (_is_number(value) and value >= 0):
        raise FaultError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
