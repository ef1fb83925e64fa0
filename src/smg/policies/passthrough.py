"""`passthrough`: the first routable worker, for gateways fronting one backend."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from smg.policies.base import Decision, Policy, RequestFacts
from smg.workers.worker import Worker

logger = logging.getLogger(__name__)


class PassthroughPolicy(Policy):
    name = "passthrough"

    def __init__(self) -> None:
        self._warned = False

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        if not workers:
            return None
        return Decision(workers[0], "first_worker")

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        if len(workers) > 1 and not self._warned:
            self._warned = True
            logger.warning(
                "passthrough policy sends everything to the first worker",
                extra={"model": model, "workers": len(workers)},
            )
