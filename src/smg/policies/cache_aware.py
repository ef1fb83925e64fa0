"""`cache_aware`: send a request where its prompt prefix was sent before.

A prefix index per model (block-granular, see prefix_index.py) records, for
each prefix of the routing text, which workers saw it last. A request whose
text matches more than `cache_threshold` of an earlier one goes to the
least-loaded holder of that prefix, so the worker's prefix cache skips most
of the prefill; otherwise it goes to the least-loaded worker, which then
becomes the holder. When the chosen
holder is overloaded (load above both mean * rel and mean + abs) the request
spills to the least-loaded worker. The index is bounded: past `max_tree_size`
characters the least recently used prefix tails are evicted on insert.
"""

from __future__ import annotations

from collections.abc import Sequence

from smg.config import RoutingConfig
from smg.policies.base import Policy, RequestFacts
from smg.policies.prefix_index import PrefixIndex, block_keys
from smg.workers.worker import Worker


class CacheAwarePolicy(Policy):
    name = "cache_aware"

    def __init__(self, config: RoutingConfig) -> None:
        self._threshold = config.cache_threshold
        self._abs = config.balance_abs_threshold
        self._rel = config.balance_rel_threshold
        self._tree = PrefixIndex(max_chars=config.max_tree_size)

    def select(self, workers: Sequence[Worker], facts: RequestFacts) -> Worker | None:
        if not workers:
            return None
        least = min(workers, key=_load_key)
        text = facts.routing_text
        if not text:
            return least

        keys = block_keys(text)
        by_url = {w.url: w for w in workers}
        matched, holders = self._tree.match(keys, by_url)
        chosen = least
        if holders and min(matched, len(text)) / len(text) > self._threshold:
            chosen = min(holders, key=_load_key)
        chosen = self._spill(chosen, least, workers)
        self._tree.insert(keys, chosen.url)
        return chosen

    def _spill(
        self, chosen: Worker, least: Worker, workers: Sequence[Worker]
    ) -> Worker:
        mean = sum(w.load for w in workers) / len(workers)
        if chosen.load > mean * self._rel and chosen.load > mean + self._abs:
            return least
        return chosen

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        alive = {w.url for w in workers}
        self._tree.retain_tenants(alive)

    def close(self) -> None:
        self._tree.clear()


def _load_key(worker: Worker) -> tuple[int, int]:
    return worker.load, worker.processed
