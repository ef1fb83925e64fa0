"""A bounded index of which workers were sent which prompt prefixes.

A prompt is cut into blocks (characters for text, tokens for token ids) and
each prefix is keyed by a hash chained over its blocks, so a lookup costs one
dict probe per block instead of a walk over characters: the block-granular
equivalent of an approximate radix tree, where a match is the longest run of
leading blocks some worker holds. Each entry stores its holders as a bitmask of
tenant slots, which keeps an entry to a few machine words.

Blocks are one base unit long for the first `_GROWTH` of them, then grow with
depth: each is about 1/`_GROWTH` of the position it starts at. A match is so
located to within a few percent of its depth, and a 200 KB prompt costs 199
blocks where fixed 64-character blocks cost 3,125 (the decision then took
2 ms). Boundaries depend only on position, so prompts sharing a prefix share
its blocks.

Entries live in least-recently-used order, with a prompt's deeper blocks older
than its shallower ones, so eviction trims the tails of prefixes first and
shared roots survive longest. Eviction runs on insert: the size never exceeds
its bound, even between eviction intervals.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

TEXT_BLOCK_CHARS = 64
_GROWTH = 32
# Prompts longer than this many units are indexed up to here.
_MAX_INDEXED_UNITS = 1 << 31
# A block's key carries its depth in its low bits, so that eviction can give
# back the block's size without a second table, and an entry's value stays the
# bare holders' bitmask (a shared small int for a small fleet).
_DEPTH_BITS = 12
_DEPTH_MASK = (1 << _DEPTH_BITS) - 1
# A departed worker keeps its slot (and its entries) until this many slots are
# departed at once; then one sweep clears them, so a worker that flaps between
# healthy and not keeps its history while churn cannot widen the masks forever.
_MIN_DEPARTED_BEFORE_SWEEP = 8


@functools.cache
def block_ends(base: int) -> tuple[int, ...]:
    """Where each block ends, in units: whole multiples of `base`, growing."""
    ends = []
    position = 0
    while position < _MAX_INDEXED_UNITS:
        position += max(base, position // _GROWTH // base * base)
        ends.append(position)
    assert len(ends) <= _DEPTH_MASK
    return tuple(ends)


def text_block_keys(text: str, block_chars: int = TEXT_BLOCK_CHARS) -> list[int]:
    """Keys of the text's prefixes, one per block (the last may be short).

    Each is a hash chained over the blocks so far, with the block's depth in
    its low `_DEPTH_BITS` bits.
    """
    keys: list[int] = []
    key = start = 0
    length = len(text)
    for depth, end in enumerate(block_ends(block_chars)):
        if start >= length:
            break
        key = hash((key, text[start:end]))
        keys.append(key << _DEPTH_BITS | depth)
        start = end
    return keys


def token_block_keys(ids: Sequence[int], block_tokens: int) -> list[int]:
    """Keys of whole blocks of token ids, as for text; a partial last block is
    left out.

    Engines cache only whole pages (blocks are whole pages), so a shorter tail
    could never be reused.
    """
    keys: list[int] = []
    key = start = 0
    length = len(ids)
    for depth, end in enumerate(block_ends(block_tokens)):
        if end > length:
            break
        key = hash((key, tuple(ids[start:end])))
        keys.append(key << _DEPTH_BITS | depth)
        start = end
    return keys


class PrefixIndex:
    """Prefix blocks mapped to the tenants (worker urls) that were sent them.

    `max_units` bounds the indexed size in units (characters or tokens), each
    entry counting its block's full length; `block_units` is the length of
    the first blocks.
    """

    def __init__(self, max_units: int, block_units: int) -> None:
        self.block_units = block_units
        self.max_units = max(block_units, max_units)
        ends = block_ends(block_units)
        self._ends = ends
        self._sizes = tuple(b - a for a, b in zip((0, *ends[:-1]), ends, strict=True))
        self._units = 0
        self._entries: OrderedDict[int, int] = OrderedDict()
        self._slots: dict[str, int] = {}
        self._departed: set[str] = set()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_units(self) -> int:
        return self._units

    def units_through(self, blocks: int) -> int:
        """How many units the first `blocks` blocks cover."""
        return self._ends[blocks - 1] if blocks > 0 else 0

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
            held = bits & wanted
            if held:
                depth, holders = position + 1, held
        if not holders:
            return 0, []
        slots = self._slots
        return depth, [v for url, v in alive.items() if holders & slots.get(url, 0)]

    def insert(self, keys: Sequence[int], tenant: str) -> None:
        """Record that `tenant` holds every prefix in `keys`; evicts past the bound."""
        bit = self._slot(tenant)
        entries = self._entries
        sizes = self._sizes
        get = entries.get
        move = entries.move_to_end
        units = self._units
        # Deepest first, so shallower blocks end up most recently used.
        for key in reversed(keys):
            bits = get(key)
            if bits is None:
                entries[key] = bit
                units += sizes[key & _DEPTH_MASK]
            else:
                entries[key] = bits | bit
                move(key)
        evict = entries.popitem
        while units > self.max_units and entries:
            key, _ = evict(last=False)
            units -= sizes[key & _DEPTH_MASK]
        self._units = units

    def retain_tenants(self, alive: Iterable[str]) -> None:
        """Stop matching tenants not in `alive`; a returning one gets its entries back.

        Departed tenants' bits are swept out once enough have accumulated.
        """
        keep = set(alive)
        self._departed = {url for url in self._slots if url not in keep}
        if len(self._departed) >= max(_MIN_DEPARTED_BEFORE_SWEEP, len(keep)):
            self._sweep_departed()

    def clear(self) -> None:
        self._units = 0
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
            self._units -= self._sizes[key & _DEPTH_MASK]
