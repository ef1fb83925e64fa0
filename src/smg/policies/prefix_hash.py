"""`prefix_hash`: hash the head of the prompt onto a ring of workers.

A lighter cousin of cache_aware: no index, only the first `prefix_token_count`
token ids (or four times as many characters) decide the worker, so requests
sharing a long head share a worker. A routing key header takes precedence. A
ring target loaded above max(avg * factor, avg + abs) hands the request to the
least loaded worker instead, unless every worker is that loaded.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from smg.config import RoutingConfig
from smg.policies.base import Decision, Policy, RequestFacts, least_loaded
from smg.policies.consistent_hashing import key_headers
from smg.policies.hash_ring import HashRing
from smg.workers.worker import Worker

# Characters stand in for tokens at this rate when only text is known.
CHARS_PER_TOKEN = 4


class PrefixHashPolicy(Policy):
    name = "prefix_hash"

    def __init__(self, config: RoutingConfig) -> None:
        self._key_headers = key_headers(config)
        self._prefix_tokens = config.prefix_token_count
        self._load_factor = config.prefix_hash_load_factor
        self._abs = config.prefix_hash_balance_abs_threshold
        self._ring = HashRing()

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        if not workers:
            return None
        least = least_loaded(workers)
        key, source = self._key(facts)
        if key is None:
            return Decision(least, "min_load")

        by_url = {w.url: w for w in workers}
        self._ring.add(by_url)
        target = self._ring.lookup(key, by_url) or least
        details = (("key_source", source),)
        total = sum(w.load for w in workers)
        # The +1 counts this request, so an idle pool never looks overloaded.
        average = (total + 1) / len(workers)
        limit = max(average * self._load_factor, average + self._abs)
        if target.load <= limit or least.load > limit:
            return Decision(target, "hash_ring", details)
        return Decision(least, "load_spill", details)

    def _key(self, facts: RequestFacts) -> tuple[bytes | None, str]:
        key = facts.routing_key(self._key_headers)
        if key is not None:
            return key.encode("utf-8"), "routing_key"
        tokens = facts.token_ids
        if tokens is not None:
            head = tokens[: self._prefix_tokens]
            return struct.pack(f"<{len(head)}I", *head), "token_prefix"
        text = facts.routing_text[: self._prefix_tokens * CHARS_PER_TOKEN]
        if not text:
            return None, ""
        return text.encode("utf-8", "surrogatepass"), "text_prefix"

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        self._ring.set_members(w.url for w in workers)
