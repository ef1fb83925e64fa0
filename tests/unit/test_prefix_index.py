"""The cache-aware prefix index: matching, tenants and its memory bound."""

from __future__ import annotations

from smg.policies.prefix_index import PrefixIndex, block_keys


def test_longest_prefix_match_and_holders() -> None:
    index = PrefixIndex(max_chars=10_000, block_chars=4)
    index.insert(block_keys("abcdefgh", 4), "w1")
    matched, holders = index.match(block_keys("abcdefXY", 4), {"w1": "W1"})
    assert matched == 4 and holders == ["W1"]


def test_dead_tenants_are_not_returned() -> None:
    index = PrefixIndex(max_chars=10_000, block_chars=4)
    index.insert(block_keys("abcdefgh", 4), "gone")
    assert index.match(block_keys("abcdefgh", 4), {"alive": 1}) == (0, [])


def test_size_stays_bounded_under_unique_prompts() -> None:
    index = PrefixIndex(max_chars=64 * 100)
    for i in range(5000):
        index.insert(block_keys(f"unique prompt number {i} " * 10), "w")
    assert index.size_chars <= 64 * 100


def test_shared_roots_survive_eviction_longest() -> None:
    index = PrefixIndex(max_chars=4 * 3, block_chars=4)
    index.insert(block_keys("rootAAAA", 4), "w")
    index.insert(block_keys("rootBBBB", 4), "w")
    matched, _ = index.match(block_keys("rootCCCC", 4), {"w": 1})
    assert matched == 4


def test_retain_tenants_forgets_removed_workers() -> None:
    index = PrefixIndex(max_chars=10_000, block_chars=4)
    index.insert(block_keys("abcd", 4), "w1")
    index.retain_tenants(["w2"])
    assert len(index) == 0
