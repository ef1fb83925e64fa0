"""The simulated KV prefix cache: fixed-size token blocks in one bounded LRU.

A block is keyed by a hash of the whole prefix up to its end (see
`Prompt.block_keys`), so a lookup walks a prompt's keys until the first miss. The
trade-off against a radix tree: matches are block-granular, a partial last block
is never cached, and there is no sharing bookkeeping to maintain.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from smg.sim.tokenizer import BLOCK_TOKENS


class PrefixCache:
    """Block keys in least-recently-used order, bounded by a token capacity."""

    def __init__(self, capacity_tokens: int) -> None:
        self._capacity_blocks = max(0, capacity_tokens) // BLOCK_TOKENS
        self._blocks: OrderedDict[int, None] = OrderedDict()

    @property
    def cached_tokens(self) -> int:
        return len(self._blocks) * BLOCK_TOKENS

    @property
    def capacity_tokens(self) -> int:
        return self._capacity_blocks * BLOCK_TOKENS

    def match(self, keys: Sequence[int]) -> int:
        """Return how many tokens of the prompt's prefix are cached."""
        blocks = self._blocks
        matched = 0
        for key in keys:
            if key not in blocks:
                break
            matched += 1
        return matched * BLOCK_TOKENS

    def insert(self, keys: Sequence[int]) -> None:
        """Add (or refresh) a prompt's blocks, evicting the least recent ones."""
        if not self._capacity_blocks:
            return
        blocks = self._blocks
        # Refresh deepest first so a prefix is always more recent than what extends
        # it: eviction then drops leaves before their parents, never orphaning a
        # block that no lookup could reach.
        for key in reversed(keys):
            blocks[key] = None
            blocks.move_to_end(key)
        while len(blocks) > self._capacity_blocks:
            blocks.popitem(last=False)

    def clear(self) -> None:
        self._blocks.clear()
