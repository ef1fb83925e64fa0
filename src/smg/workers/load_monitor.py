"""Polls every ready worker's load report and hands the snapshots to the policies.

A background task asks each engine for `/v1/loads` (SGLang's shape: one entry per
data-parallel rank) every `--load-monitor-interval` seconds, turns the answers
into `WorkerLoad` snapshots per routable worker, and gives each model's policy
its workers' snapshots through `on_loads`. A worker whose report fails or is
malformed simply has no snapshot until the next good poll; load-aware policies
then fall back to the gateway's own in-flight counts for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from smg.policies import dp_aware
from smg.policies.load_report import WorkerLoad
from smg.workers.http_client import UpstreamError
from smg.workers.worker import Worker

if TYPE_CHECKING:
    from smg.context import AppContext

logger = logging.getLogger(__name__)

LOADS_PATH = "/v1/loads?include=core,queues,memory"
# A poll never waits longer than this for one worker, however long the interval.
MAX_POLL_TIMEOUT_S = 5.0
MIN_POLL_TIMEOUT_S = 1.0

LoadsCallback = Callable[[str, Mapping[str, WorkerLoad]], None]
Sleep = Callable[[float], Awaitable[None]]


class LoadSource(Protocol):
    """What the monitor needs of the HTTP client."""

    async def get_json(self, worker_url: str, path: str, timeout_s: float) -> Any: ...


@dataclass(frozen=True, slots=True)
class RankLoad:
    """One data-parallel rank's entry of a load report."""

    dp_rank: int
    running_reqs: int
    waiting_reqs: int
    waiting_uncached_tokens: int
    token_usage: float
    gen_throughput_tps: float


class MalformedLoadReportError(ValueError):
    """A load report that is not in the expected shape."""


def parse_loads(doc: Any) -> list[RankLoad]:
    """Read the ranks of a `/v1/loads` answer; raises MalformedLoadReportError."""
    if not isinstance(doc, dict) or not isinstance(doc.get("loads"), list):
        raise MalformedLoadReportError("expected an object with a `loads` array")
    ranks = []
    for index, entry in enumerate(doc["loads"]):
        if not isinstance(entry, dict):
            raise MalformedLoadReportError("every `loads` entry must be an object")
        ranks.append(
            RankLoad(
                dp_rank=int(_number(entry, "dp_rank", index)),
                running_reqs=int(_number(entry, "num_running_reqs")),
                waiting_reqs=int(_number(entry, "num_waiting_reqs")),
                waiting_uncached_tokens=int(
                    _number(entry, "num_waiting_uncached_tokens")
                ),
                token_usage=_number(entry, "token_usage"),
                gen_throughput_tps=_number(entry, "gen_throughput"),
            )
        )
    return ranks


def _number(entry: dict[str, Any], name: str, default: float = 0.0) -> float:
    value = entry.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedLoadReportError(f"`{name}` must be a number")
    return float(value)


def worker_load(
    worker: Worker, ranks: Sequence[RankLoad], now_s: float
) -> WorkerLoad | None:
    """The snapshot for one routable worker: its own rank, or all ranks summed.

    None when the worker is a DP rank the report does not list.
    """
    rank = dp_aware.rank_of(worker)
    if rank is not None:
        ranks = [r for r in ranks if r.dp_rank == rank]
    if not ranks:
        return None
    return WorkerLoad(
        worker_url=worker.url,
        running_reqs=sum(r.running_reqs for r in ranks),
        waiting_reqs=sum(r.waiting_reqs for r in ranks),
        waiting_uncached_tokens=sum(r.waiting_uncached_tokens for r in ranks),
        token_usage=sum(r.token_usage for r in ranks) / len(ranks),
        gen_throughput_tps=sum(r.gen_throughput_tps for r in ranks),
        in_flight_at_poll=worker.load,
        polled_at_s=now_s,
    )


class LoadMonitor:
    """The polling task; `latest` holds the last snapshot of each worker."""

    def __init__(
        self,
        workers: Callable[[], Sequence[Worker]],
        source: LoadSource,
        on_loads: LoadsCallback,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._workers = workers
        self._source = source
        self._on_loads = on_loads
        self._interval_s = interval_s
        self._timeout_s = min(MAX_POLL_TIMEOUT_S, max(MIN_POLL_TIMEOUT_S, interval_s))
        self._clock = clock
        self._sleep = sleep
        self._failing: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.latest: dict[str, WorkerLoad] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="load-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Poll forever; an unexpected error is logged and the next poll goes on."""
        while True:
            try:
                await self.poll_once()
            except Exception:
                logger.error("load poll failed", exc_info=True)
            await self._sleep(self._interval_s)

    async def poll_once(self) -> None:
        """Ask every engine once, then hand each model its workers' snapshots."""
        workers = self._workers()
        by_engine: dict[str, list[Worker]] = {}
        for worker in workers:
            by_engine.setdefault(dp_aware.base_url(worker), []).append(worker)
        engines = list(by_engine)
        reports = await asyncio.gather(*(self._fetch(url) for url in engines))

        now = self._clock()
        by_model: dict[str, dict[str, WorkerLoad]] = {w.model_id: {} for w in workers}
        for engine_url, ranks in zip(engines, reports, strict=True):
            for worker in by_engine[engine_url]:
                load = None if ranks is None else worker_load(worker, ranks, now)
                if load is not None:
                    by_model[worker.model_id][worker.url] = load
        self.latest = {
            url: s for loads in by_model.values() for url, s in loads.items()
        }
        for model, loads in by_model.items():
            self._on_loads(model, loads)

    async def _fetch(self, engine_url: str) -> list[RankLoad] | None:
        try:
            doc = await self._source.get_json(engine_url, LOADS_PATH, self._timeout_s)
            ranks = parse_loads(doc)
        except (UpstreamError, MalformedLoadReportError) as exc:
            if engine_url not in self._failing:
                self._failing.add(engine_url)
                logger.warning(
                    "worker load report unavailable",
                    extra={"worker_url": engine_url, "reason": str(exc)},
                )
            return None
        if engine_url in self._failing:
            self._failing.discard(engine_url)
            logger.info("worker load reports resumed", extra={"worker_url": engine_url})
        return ranks


def start_load_monitor(ctx: AppContext) -> LoadMonitor | None:
    """Start polling for the gateway in `ctx`; None when monitoring is off.

    With `--disable-load-monitoring` loads are polled only for policies that
    use them.
    """
    config = ctx.config.load_monitor
    if config.only_for_load_policies and not ctx.policies.uses_loads:
        return None
    monitor = LoadMonitor(
        ctx.registry.ready_workers,
        ctx.client,
        ctx.policies.on_loads,
        config.interval_secs,
    )
    monitor.start()
    return monitor
