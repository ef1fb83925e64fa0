"""A bounded index of which workers were sent which prompt prefixes.

A prompt is cut into fixed blocks (characters for text, tokens for token ids)
and each prefix is keyed by a hash chained over its blocks, so a lookup costs
one dict probe per block instead of a walk over characters: the block-granular
equivalent of an approximate radix tree, where a match is the longest run of
leading blocks some worker holds. Each entry stores its holders as a bitmask of
tenant slots, which keeps an entry to a few machine words.

Entries live in least-recently-used order, with a prompt's deeper blocks older
than its shallower ones, so eviction trims the tails of prefixes first and
shared roots survive longest. Eviction runs on insert: the size never exceeds
its bound, even between eviction intervals.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

TEXT_BLOCK_CHARS = 64
# A departed worker keeps its slot (and its entries) until this many slots are
# departed at once; then one sweep clears them, so a worker that flaps between
# healthy and not keeps its history while churn cannot widen the masks forever.
_MIN_DEPARTED_BEFORE_SWEEP = 8


def text_block_keys(text: str, block_chars: int = TEXT_BLOCK_CHARS) -> list[int]:
    """Chained hashes of the text's prefixes, one per block (the last may be short)."""
    keys = []
    key = 0
    for start in range(0, len(text), block_chars):
        key = hash((key, text[start : start + block_chars]))
        keys.append(key)
    return keys


def token_block_keys(ids: Sequence[int], block_tokens: int) -> list[int]:
    """Chained hashes of whole pages of token ids; a partial last page is left out.

    Engines cache only whole pages, so a shorter tail could never be reused.
    """
    keys = []
    key = 0
    for end in range(block_tokens, len(ids) + 1, block_tokens):
        key = hash((key, tuple(ids[end - block_tokens : end])))
        keys.append(key)
    return keys


class PrefixIndex:
    """Prefix blocks mapped to the tenants (worker urls) that were sent them.

    `max_units` bounds the indexed size in block units (characters or tokens):
    at most `max_units // block_units` entries are kept.
    """

    def __init__(self, max_units: int, block_units: int) -> None:
        self.block_units = block_units
        self.max_entries = max(1, max_units // block_units)
        self._entries: OrderedDict[int, int] = OrderedDict()
        self._slots: dict[str, int] = {}
        self._departed: set[str] = set()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_units(self) -> int:
        return len(self._entries) * self.block_units

    def match(self, keys: Sequence[int], alive: Mapping[str, T]) -> tuple[int, list[T]]:
        """Return (blocks matched, alive holders of the deepest matched block).

        Only tenants in `alive` count: a block held by others alone does not
        extend the match, but does not end the walk either.
        """
        wanted = self._mask_of(alive)
        if not wanted:
            return 0, []
        entries = self._entries
        depth, holders = 0, 0
        for position, key in enumerate(keys):
            bits = entries.get(key)
            if bits is None:
                break
            if bits & wanted:
                depth, holders = position + 1, bits & wanted
        if not holders:
            return 0, []
        slots = self._slots
        return depth, [v for url, v in alive.items() if holders & slots.get(url, 0)]

    def insert(self, keys: Sequence[int], tenant: str) -> None:
        """Record that `tenant` holds every prefix in `keys`; evicts past the bound."""
        bit = self._slot(tenant)
        entries = self._entries
        get = entries.get
        move = entries.move_to_end
        # Deepest first, so shallower blocks end up most recently used.
        for key in reversed(keys):
            bits = get(key)
            if bits is None:
                entries[key] = bit
            else:
                entries[key] = bits | bit
                move(key)
        overflow = len(entries) - self.max_entries
        for _ in range(overflow):
            entries.popitem(last=False)

    def retain_tenants(self, alive: Iterable[str]) -> None:
        """Stop matching tenants not in `alive`; a returning one gets its entries back.

        Departed tenants' bits are swept out once enough have accumulated.
        """
        keep = set(alive)
        self._departed = {url for url in self._slots if url not in keep}
        if len(self._departed) >= max(_MIN_DEPARTED_BEFORE_SWEEP, len(keep)):
            self._sweep_departed()

    def clear(self) -> None:
        self._entries.clear()
        self._slots.clear()
        self._departed.clear()

    def _mask_of(self, alive: Mapping[str, object]) -> int:
        slots = self._slots
        departed = self._departed
        mask = 0
        for url in alive:
            bit = slots.get(url)
            if bit is not None and url not in departed:
                mask |= bit
        return mask

    def _slot(self, tenant: str) -> int:
        self._departed.discard(tenant)
        bit = self._slots.get(tenant)
        if bit is None:
            used = 0
            for taken in self._slots.values():
                used |= taken
            # The lowest free bit: slots freed by a sweep are reused first.
            bit = ~used & (used + 1)
            self._slots[tenant] = bit
        return bit

    def _sweep_departed(self) -> None:
        dead = 0
        for url in self._departed:
            dead |= self._slots.pop(url)
        self._departed.clear()
        entries = self._entries
        emptied = []
        for key, bits in entries.items():
            if bits & dead:
                remaining = bits & ~dead
                if remaining:
                    entries[key] = remaining
                else:
                    emptied.append(key)
        for key in emptied:
            del entries[key]
