"""Worker series read from the registry when scraped: pool size, load, health.

These mirror state the workers already keep, so reading it at scrape time costs
the request path nothing and can never drift from what routing sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from smg.observability.instruments import SampledFamily
from smg.workers.worker import READY, Worker

WorkerSource = Callable[[], Iterable[Worker]]
BREAKER_STATE_CODES = {"closed": 0, "open": 1, "half_open": 2}


def worker_families(workers: WorkerSource) -> Iterator[SampledFamily]:
    """The per-worker and per-pool families over the workers `workers()` lists."""

    def pool() -> Iterator[tuple[Sequence[str], float]]:
        sizes: dict[tuple[str, str, str], int] = {}
        for w in workers():
            key = (w.worker_type, w.connection_mode, w.model_id)
            sizes[key] = sizes.get(key, 0) + 1
        return iter(sizes.items())

    def per_worker(read: Callable[[Worker], float | None]) -> Callable[[], list[Any]]:
        def sample() -> list[Any]:
            values = ((w.url, read(w)) for w in workers())
            return [((url,), v) for url, v in values if v is not None]

        return sample

    yield SampledFamily(
        "gauge",
        "smg_worker_pool_size",
        "Workers registered, by type, connection mode and model",
        ("worker_type", "connection_mode", "model"),
        pool,
    )
    yield SampledFamily(
        "counter",
        "smg_worker_requests_total",
        "Requests completed by each worker through this gateway",
        ("worker", "model"),
        lambda: [((w.url, w.model_id), w.processed) for w in workers()],
    )
    for kind, name, doc, read in _PER_WORKER:
        yield SampledFamily(kind, name, doc, ("worker",), per_worker(read))


def _breaker_state(w: Worker) -> float | None:
    return None if w.breaker is None else BREAKER_STATE_CODES[w.breaker.state]


_PER_WORKER: tuple[tuple[str, str, str, Callable[[Worker], float | None]], ...] = (
    ("gauge", "smg_worker_requests_active", "Requests in flight per worker",
     lambda w: w.load),
    ("gauge", "smg_worker_health", "1 when the worker is routable, else 0",
     lambda w: 1.0 if w.status == READY else 0.0),
    ("gauge", "smg_worker_cb_state",
     "Circuit breaker state (0 closed, 1 open, 2 half open)", _breaker_state),
    ("gauge", "smg_worker_cb_consecutive_failures",
     "Failures in a row seen by the circuit breaker",
     lambda w: None if w.breaker is None else w.breaker.consecutive_failures),
    ("gauge", "smg_worker_cb_consecutive_successes",
     "Successes in a row seen by the circuit breaker",
     lambda w: None if w.breaker is None else w.breaker.consecutive_successes),
)  # fmt: skip
