"""The set of known workers, indexed by model for the request path.

Lookups on the hot path read a per-model tuple rebuilt only when membership or a
status changes, so routing never filters the whole fleet per request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from smg.workers.worker import READY, UNKNOWN_MODEL, Worker

logger = logging.getLogger(__name__)

ChangeListener = Callable[[str, tuple[Worker, ...]], None]


class WorkerRegistry:
    """Workers by id and by model, plus the model alias table."""

    def __init__(self, aliases: Iterable[tuple[str, str]] = ()) -> None:
        self._workers: dict[str, Worker] = {}
        self._aliases = dict(aliases)
        self._routable: dict[str, tuple[Worker, ...]] = {}
        self._all_routable: tuple[Worker, ...] = ()
        self._listeners: list[ChangeListener] = []

    def on_change(self, listener: ChangeListener) -> None:
        """Call `listener(model, routable_workers)` whenever a model's set changes."""
        self._listeners.append(listener)

    def add(self, worker: Worker) -> None:
        self._workers[worker.worker_id] = worker
        self.refresh()

    def remove(self, worker: Worker) -> None:
        self._workers.pop(worker.worker_id, None)
        self.refresh()

    def replace(self, worker: Worker, replacements: Iterable[Worker]) -> None:
        """Swap `worker` for `replacements` in one change (a DP engine's ranks)."""
        self._workers.pop(worker.worker_id, None)
        for entry in replacements:
            self._workers[entry.worker_id] = entry
        self.refresh()

    def all(self) -> list[Worker]:
        return list(self._workers.values())

    def get(self, worker_id: str) -> Worker | None:
        return self._workers.get(worker_id)

    def find_url(self, url: str) -> Worker | None:
        url = url.rstrip("/")
        return next((w for w in self._workers.values() if w.url == url), None)

    def refresh(self) -> None:
        """Rebuild the routable index; call after any status or model change."""
        by_model: dict[str, list[Worker]] = {}
        for worker in self._workers.values():
            by_model.setdefault(worker.model_id, [])
            if worker.status == READY:
                by_model[worker.model_id].append(worker)
        previous = self._routable
        self._routable = {model: tuple(ws) for model, ws in by_model.items()}
        self._all_routable = tuple(w for ws in self._routable.values() for w in ws)
        for model in set(previous) | set(self._routable):
            workers = self._routable.get(model, ())
            if previous.get(model) != workers:
                for listener in self._listeners:
                    listener(model, workers)

    def canonical(self, model: str) -> str:
        return self._aliases.get(model, model)

    def group_for(self, model: str | None) -> tuple[str, tuple[Worker, ...]] | None:
        """Return (canonical model, routable workers) for a request's model.

        No model means any worker. A model nobody serves falls back to workers
        whose model could not be discovered; None when neither exists, which the
        caller answers with 404.
        """
        if model is None:
            return UNKNOWN_MODEL, self._all_routable
        canonical = self._aliases.get(model, model)
        workers = self._routable.get(canonical)
        if workers is not None:
            return canonical, workers
        fallback = self._routable.get(UNKNOWN_MODEL)
        if fallback is not None:
            return UNKNOWN_MODEL, fallback
        return None

    def models(self) -> list[str]:
        """Served model ids, in registration order, aliases included."""
        seen: dict[str, None] = {}
        for worker in self._workers.values():
            seen[worker.model_id] = None
        for alias, canonical in self._aliases.items():
            if canonical in seen:
                seen[alias] = None
        return list(seen)

    def ready_workers(self) -> tuple[Worker, ...]:
        return self._all_routable
