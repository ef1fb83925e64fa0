"""SimContext: everything a simulator handler needs, built once at start-up."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field

from smg.sim.config import SimConfig
from smg.sim.engine import Engine
from smg.sim.faults import Faults
from smg.sim.latency import LatencyModel
from smg.sim.pd import PdRole
from smg.sim.stats import SimStats, ThroughputMeter


class IdMaker:
    """Unique response ids: a random per-process prefix plus a counter.

    Cheaper than a UUID per request, and unique across restarts all the same.
    """

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        """An id such as `chatcmpl-...`; `prefix` includes its separator."""
        return f"{prefix}{self._prefix}{next(self._counter):010x}"


@dataclass(slots=True)
class SimContext:
    config: SimConfig
    stats: SimStats
    engine: Engine
    faults: Faults
    ids: IdMaker = field(default_factory=IdMaker)
    throughput: ThroughputMeter = field(default_factory=ThroughputMeter)
    started_at: float = field(default_factory=time.time)
    # The prefill or decode half of disaggregated serving; None serves whole.
    pd: PdRole | None = None


def build_context(config: SimConfig, latency: LatencyModel | None = None) -> SimContext:
    stats = SimStats()
    engine = Engine(config, stats, latency)
    ctx = SimContext(config, stats, engine, Faults(config.faults, config.seed))
    if config.pd.role is not None:
        ctx.pd = PdRole(config.pd, config.host, ctx.ids.new("engine-"))
    return ctx
