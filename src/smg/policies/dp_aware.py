"""DP-aware routing: each data-parallel rank of a worker is a routable entry.

An engine running N data-parallel ranks behind one address schedules across
them itself, blind to which rank holds which prefix. With `--dp-aware` the
gateway lists one worker per rank, `<url>@<rank>`, so policies (cache_aware
above all) choose the rank, and the request names it in `data_parallel_rank`.
Every rank is still reached at the engine's one base url.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from smg.workers.worker import Worker

DP_RANK_LABEL = "dp_rank"
DP_BASE_URL_LABEL = "dp_base_url"
# Labels copied from the engine's server info; `dp_size` is the rank count.
DP_SIZE_LABEL = "dp_size"


def rank_of(worker: Worker) -> int | None:
    """The worker's data-parallel rank, or None for a whole engine."""
    rank = worker.labels.get(DP_RANK_LABEL)
    return None if rank is None else int(rank)


def base_url(worker: Worker) -> str:
    """Where requests for the worker go: the engine's url, without the rank."""
    return worker.labels.get(DP_BASE_URL_LABEL, worker.url)


def dp_size(worker: Worker) -> int:
    """The rank count the engine reported; 1 when unknown or malformed."""
    raw = worker.labels.get(DP_SIZE_LABEL, "1")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def split_into_ranks(worker: Worker, new_worker: Callable[..., Worker]) -> list[Worker]:
    """One worker per rank of an engine reporting `dp_size` > 1; [] otherwise.

    `new_worker(url, api_key=...)` builds each entry (the caller's worker
    factory, so each rank gets its own circuit breaker); model, runtime, status
    and labels are copied from `worker`.
    """
    size = dp_size(worker)
    if size <= 1 or rank_of(worker) is not None:
        return []
    ranks = []
    for rank in range(size):
        entry = new_worker(f"{worker.url}@{rank}", api_key=worker.api_key)
        entry.model_id = worker.model_id
        entry.runtime_type = worker.runtime_type
        entry.worker_type = worker.worker_type
        entry.bootstrap_port = worker.bootstrap_port
        entry.status = worker.status
        entry.labels = {
            **worker.labels,
            DP_RANK_LABEL: str(rank),
            DP_BASE_URL_LABEL: worker.url,
        }
        ranks.append(entry)
    return ranks


def with_rank(body: dict[str, Any], rank: int) -> bytes:
    """The request body to send to one rank: the client's fields plus the rank."""
    return orjson.dumps({**body, "data_parallel_rank": rank})
