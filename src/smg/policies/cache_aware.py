"""`cache_aware`: send a request where its prompt prefix was sent before.

A prefix index per model (see prefix_index.py) records which workers were sent
which prefixes: of the routing text in characters, or of the token ids in
pages when the request carries them (`input_ids`, `x-smg-routing-tokens`). A
request matching more than `cache_threshold` of its length goes to the least
loaded worker holding that prefix, so the worker's prefix cache skips most of
the prefill; otherwise to the least loaded worker, which then becomes a holder.

Affinity must not pile a hot prefix onto one worker: when the chosen holder's
load exceeds both mean * rel and mean + abs, the request spills to the least
loaded worker, which becomes a second holder. The absolute margin is capped at
the natural swing of in-flight counts around the mean (two standard deviations
of a Poisson count, at least four), so a small pool can spill at all.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Sequence

from smg.config import RoutingConfig
from smg.policies.base import Decision, Policy, RequestFacts, least_loaded
from smg.policies.prefix_index import (
    TEXT_BLOCK_CHARS,
    PrefixIndex,
    text_block_keys,
    token_block_keys,
)
from smg.workers.worker import Worker

# The spill margin is never capped below this many requests.
_MIN_SPILL_MARGIN = 4.0


class CacheAwarePolicy(Policy):
    name = "cache_aware"

    def __init__(
        self, config: RoutingConfig, rng: _random.Random | None = None
    ) -> None:
        self._threshold = config.cache_threshold
        self._abs = config.balance_abs_threshold
        self._rel = config.balance_rel_threshold
        self._block_tokens = config.block_size_tokens
        self._rng = rng or _random.Random()
        self.text_index = PrefixIndex(config.max_tree_size, TEXT_BLOCK_CHARS)
        self.token_index = PrefixIndex(config.max_tree_size, config.block_size_tokens)

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        if not workers:
            return None
        least = least_loaded(workers)
        index, keys, size = self._keys(facts)
        if not keys:
            return Decision(least, "min_load", (("match_ratio", 0.0),))

        by_url = {w.url: w for w in workers}
        blocks, holders = index.match(keys, by_url)
        ratio = min(index.units_through(blocks), size) / size
        details: tuple[tuple[str, float], ...] = (("match_ratio", round(ratio, 3)),)
        if holders and ratio > self._threshold:
            chosen, reason = self._least_loaded_holder(holders), "prefix_match"
        else:
            chosen, reason = least, "min_load"
        if chosen is not least and self._is_overloaded(chosen, workers):
            chosen, reason = least, "load_spill"
        index.insert(keys, chosen.url)
        return Decision(chosen, reason, details)

    def _keys(self, facts: RequestFacts) -> tuple[PrefixIndex, list[int], int]:
        tokens = facts.token_ids
        if tokens is not None:
            keys = token_block_keys(tokens, self._block_tokens)
            return self.token_index, keys, len(tokens)
        text = facts.routing_text
        return self.text_index, text_block_keys(text), len(text)

    def _least_loaded_holder(self, holders: list[Worker]) -> Worker:
        lowest = min(w.load for w in holders)
        tied = [w for w in holders if w.load == lowest]
        # Ties are broken at random so replicas of a hot prefix share its load.
        return tied[0] if len(tied) == 1 else self._rng.choice(tied)

    def _is_overloaded(self, worker: Worker, workers: Sequence[Worker]) -> bool:
        mean = sum(w.load for w in workers) / len(workers)
        margin = min(self._abs, max(_MIN_SPILL_MARGIN, 2.0 * math.sqrt(mean)))
        return worker.load > mean * self._rel and worker.load > mean + margin

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        alive = [w.url for w in workers]
        self.text_index.retain_tenants(alive)
        self.token_index.retain_tenants(alive)

    def close(self) -> None:
        self.text_index.clear()
        self.token_index.clear()
