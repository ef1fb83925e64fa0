"""Periodic health checks and the worker status machine they drive.

    pending   --success_threshold successes-->   ready
    ready     --failure_threshold failures-->    not_ready
    not_ready --success_threshold successes-->   ready
    not_ready --3 x failure_threshold failures--> failed (removed if configured)

A status change is logged once, when it happens, never per probe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from smg.config import HealthConfig, WorkerConfig
from smg.policies import dp_aware
from smg.workers.http_client import HttpWorkerClient
from smg.workers.registry import WorkerRegistry
from smg.workers.worker import DRAINING, FAILED, NOT_READY, PENDING, READY, Worker

logger = logging.getLogger(__name__)


class HealthTracker:
    """Consecutive probe results of one worker and the transitions they cause."""

    __slots__ = ("_config", "failures", "successes")

    def __init__(self, config: HealthConfig) -> None:
        self._config = config
        self.failures = 0
        self.successes = 0

    def next_status(self, status: str, healthy: bool) -> str:
        """The worker's status after one probe result."""
        if healthy:
            self.failures, self.successes = 0, self.successes + 1
            if status in (PENDING, NOT_READY) and (
                self.successes >= self._config.success_threshold
            ):
                return READY
            return status
        self.successes, self.failures = 0, self.failures + 1
        threshold = self._config.failure_threshold
        if status == READY and self.failures >= threshold:
            return NOT_READY
        if status == NOT_READY and self.failures >= 3 * threshold:
            return FAILED
        return status


class HealthChecker:
    """Probes every worker on an interval and applies the status machine."""

    def __init__(
        self,
        registry: WorkerRegistry,
        client: HttpWorkerClient,
        health: HealthConfig,
        workers: WorkerConfig,
        on_probe: Callable[[bool], None] | None = None,
    ) -> None:
        self._registry = registry
        self._on_probe = on_probe
        self._client = client
        self._health = health
        self._workers = workers
        self._trackers: dict[str, HealthTracker] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._health.enabled:
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._health.interval_secs)
            await self.check_all()

    async def check_all(self) -> None:
        workers = [w for w in self._registry.all() if w.status in (READY, NOT_READY)]
        results = await asyncio.gather(*(self._probe(w) for w in workers))
        changed = False
        for worker, healthy in zip(workers, results, strict=True):
            changed |= self._apply(worker, healthy)
        if changed:
            self._registry.refresh()

    async def _probe(self, worker: Worker) -> bool:
        healthy = await self._client.probe(
            dp_aware.base_url(worker),
            self._workers.health_check_endpoint,
            self._workers.health_check_timeout_secs,
            worker.api_key,
        )
        if self._on_probe is not None:
            self._on_probe(healthy)
        return healthy

    def _apply(self, worker: Worker, healthy: bool) -> bool:
        tracker = self._trackers.setdefault(
            worker.worker_id, HealthTracker(self._health)
        )
        if worker.status == DRAINING:
            return False
        status = tracker.next_status(worker.status, healthy)
        if status == worker.status:
            if not healthy and status == READY:
                # Degraded but still routable: worth a warning until it flips.
                logger.warning("health probe failed", extra={"worker_url": worker.url})
            return False
        logger.info(
            "worker health changed",
            extra={"worker_url": worker.url, "from": worker.status, "to": status},
        )
        worker.status = status
        if status == FAILED and self._health.remove_unhealthy:
            self._registry.remove(worker)
            self._trackers.pop(worker.worker_id, None)
        return True
