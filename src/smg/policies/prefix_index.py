"""A bounded index of which workers have seen which text prefixes.

Text is cut into fixed blocks and each prefix is keyed by a rolling hash of its
blocks, so a lookup costs one dict probe per block instead of a walk over
characters. It is the block-granular equivalent of an approximate radix tree:
a match is the longest run of leading blocks some worker holds. Entries are kept
in least-recently-used order with deeper blocks older than shallower ones, so
eviction trims the tails of prefixes first and shared roots survive longest.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")

BLOCK_CHARS = 64


def block_keys(text: str, block_chars: int = BLOCK_CHARS) -> list[int]:
    """Rolling hashes of the text's prefixes, one per block (the last may be short)."""
    keys = []
    key = 0
    for start in range(0, len(text), block_chars):
        key = hash((key, text[start : start + block_chars]))
        keys.append(key)
    return keys


class PrefixIndex:
    """Prefix blocks mapped to the workers (tenants) that were sent them."""

    def __init__(self, max_chars: int, block_chars: int = BLOCK_CHARS) -> None:
        self._block = block_chars
        self._max_entries = max(1, max_chars // block_chars)
        self._entries: OrderedDict[int, dict[str, None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_chars(self) -> int:
        return len(self._entries) * self._block

    def match(self, keys: list[int], alive: Mapping[str, T]) -> tuple[int, list[T]]:
        """Return (characters matched, alive holders of the deepest match)."""
        matched, holders = 0, []
        for depth, key in enumerate(keys):
            tenants = self._entries.get(key)
            if tenants is None:
                break
            live = [alive[url] for url in tenants if url in alive]
            if live:
                matched, holders = depth + 1, live
        return matched * self._block, holders

    def insert(self, keys: list[int], tenant: str) -> None:
        """Record that `tenant` holds every prefix in `keys`; evicts past the bound."""
        entries = self._entries
        # Deepest first, so shallower blocks end up most recently used.
        for key in reversed(keys):
            tenants = entries.get(key)
            if tenants is None:
                entries[key] = {tenant: None}
            else:
                tenants[tenant] = None
                entries.move_to_end(key)
        while len(entries) > self._max_entries:
            entries.popitem(last=False)

    def retain_tenants(self, alive: Iterable[str]) -> None:
        """Forget every tenant not in `alive`, dropping entries left empty."""
        keep = set(alive)
        for key in list(self._entries):
            tenants = self._entries[key]
            for url in [u for u in tenants if u not in keep]:
                del tenants[url]
            if not tenants:
                del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
