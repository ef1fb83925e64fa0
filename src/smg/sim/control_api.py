"""The simulator's own control surface under `/sim/`: faults, stats, reset.

- `GET /sim/faults` returns the live switches: `fail_rate`, `fail_status`,
  `delay_ms`, `hang`, `drop_after_chunks`, `fail_health`.
- `POST /sim/faults` merges the fields it names and answers the result; `{}`
  changes nothing, `{"reset": true}` first restores the start-up flags.
- `GET /sim/stats` returns counters and the last request seen on each path.
- `POST /sim/reset` clears the stats (not the faults, not the prefix cache).

Requests to these paths are not counted or recorded, so tests can read the stats
without disturbing them.
"""

from __future__ import annotations

import logging
from typing import Any

from smg.http.server import Request
from smg.sim.context import SimContext
from smg.sim.errors import SimError
from smg.sim.faults import FaultError
from smg.sim.params import parse_object

logger = logging.getLogger(__name__)


async def faults(ctx: SimContext, request: Request) -> Any:
    """GET reads the live switches; POST merges the named ones (`smg.sim.faults`)."""
    if request.method != "POST":
        return ctx.faults.as_dict()
    body = parse_object(request.body) if request.body else {}
    try:
        ctx.faults.update(body)
    except FaultError as exc:
        raise SimError(400, str(exc), "invalid_fault") from exc
    current = ctx.faults.as_dict()
    logger.info("faults changed", extra={"faults": current})
    return current


async def stats(ctx: SimContext, request: Request) -> Any:
    scheduler = ctx.engine.scheduler
    snapshot = ctx.stats.snapshot(scheduler.running, scheduler.waiting)
    if ctx.pd is not None:
        snapshot["pd"] = ctx.pd.snapshot()
    return snapshot


async def reset(ctx: SimContext, request: Request) -> Any:
    """Clear counters and recorded requests; faults and the cache stay."""
    ctx.stats.reset()
    return {"reset": True}
