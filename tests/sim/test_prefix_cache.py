from __future__ import annotations

from smg.sim.prefix_cache import PrefixCache
from smg.sim.tokenizer import BLOCK_TOKENS


def test_match_counts_cached_prefix_blocks_until_first_miss() -> None:
    cache = PrefixCache(capacity_tokens=100 * BLOCK_TOKENS)
    cache.insert([1, 2, 3])
    assert cache.match([1, 2, 3, 4]) == 3 * BLOCK_TOKENS
    assert cache.match([1, 9, 3]) == BLOCK_TOKENS
    assert cache.match([9]) == 0


def test_capacity_bounds_cached_tokens() -> None:
    cache = PrefixCache(capacity_tokens=4 * BLOCK_TOKENS)
    for prompt in range(10):
        cache.insert([prompt * 100 + block for block in range(3)])
    assert cache.cached_tokens == 4 * BLOCK_TOKENS


def test_least_recently_used_prompt_is_evicted_first() -> None:
    cache = PrefixCache(capacity_tokens=4 * BLOCK_TOKENS)
    cache.insert([1, 2])
    cache.insert([3, 4])
    cache.match([1, 2])  # a lookup alone does not refresh
    cache.insert([1, 2])
    cache.insert([5, 6])
    assert cache.match([1, 2]) == 2 * BLOCK_TOKENS
    assert cache.match([3, 4]) == 0


def test_eviction_keeps_the_prefix_of_a_too_long_prompt() -> None:
    """Leaves go before their parents, so what stays is still reachable."""
    cache = PrefixCache(capacity_tokens=2 * BLOCK_TOKENS)
    cache.insert([1, 2, 3, 4])
    assert cache.match([1, 2, 3, 4]) == 2 * BLOCK_TOKENS


def test_zero_capacity_disables_caching() -> None:
    cache = PrefixCache(capacity_tokens=0)
    cache.insert([1])
    assert cache.match([1]) == 0


def test_clear_empties_the_cache() -> None:
    cache = PrefixCache(capacity_tokens=10 * BLOCK_TOKENS)
    cache.insert([1, 2])
    cache.clear()
    assert cache.match([1, 2]) == 0 and cache.cached_tokens == 0
