"""The cache-aware prefix index: matching, tenants and its memory bound."""

from __future__ import annotations

from smg.policies.prefix_index import PrefixIndex, text_block_keys, token_block_keys


def keys(text: str) -> list[int]:
    return text_block_keys(text, 4)


def test_longest_prefix_match_and_holders() -> None:
    index = PrefixIndex(max_units=10_000, block_units=4)
    index.insert(keys("abcdefgh"), "w1")
    blocks, holders = index.match(keys("abcdefXY"), {"w1": "W1"})
    assert blocks == 1 and holders == ["W1"]


def test_deepest_holders_win_over_shallow_ones() -> None:
    index = PrefixIndex(max_units=10_000, block_units=4)
    index.insert(keys("abcdefgh"), "w1")
    index.insert(keys("abcdXXXX"), "w2")
    blocks, holders = index.match(keys("abcdefgh"), {"w1": 1, "w2": 2})
    assert blocks == 2 and holders == [1]


def test_tenants_not_offered_are_not_returned() -> None:
    index = PrefixIndex(max_units=10_000, block_units=4)
    index.insert(keys("abcdefgh"), "gone")
    assert index.match(keys("abcdefgh"), {"alive": 1}) == (0, [])


def test_size_stays_bounded_under_unique_prompts() -> None:
    index = PrefixIndex(max_units=64 * 100, block_units=64)
    for i in range(5000):
        index.insert(text_block_keys(f"unique prompt number {i} " * 10), "w")
    assert index.size_units <= 64 * 100


def test_shared_roots_survive_eviction_longest() -> None:
    index = PrefixIndex(max_units=4 * 3, block_units=4)
    index.insert(keys("rootAAAA"), "w")
    index.insert(keys("rootBBBB"), "w")
    blocks, _ = index.match(keys("rootCCCC"), {"w": 1})
    assert blocks == 1


def test_departed_tenant_stops_matching_and_keeps_history_on_return() -> None:
    index = PrefixIndex(max_units=10_000, block_units=4)
    index.insert(keys("abcd"), "w1")
    index.retain_tenants(["w2"])
    assert index.match(keys("abcd"), {"w1": 1}) == (0, [])
    index.retain_tenants(["w1", "w2"])
    assert index.match(keys("abcd"), {"w1": 1}) == (1, [1])


def test_many_departures_sweep_entries_and_free_slots() -> None:
    index = PrefixIndex(max_units=10_000, block_units=4)
    for n in range(9):
        index.insert(keys(f"p{n:03d}"), f"w{n}")
    index.insert(keys("keep"), "survivor")
    index.retain_tenants(["survivor"])
    assert len(index) == 1
    index.insert(keys("next"), "newcomer")
    assert index.match(keys("next"), {"newcomer": 1}) == (1, [1])


def test_token_keys_cover_whole_pages_only() -> None:
    assert token_block_keys(list(range(15)), 16) == []
    assert len(token_block_keys(list(range(40)), 16)) == 2
    assert token_block_keys(list(range(32)), 16) == token_block_keys(
        list(range(40)), 16
    )
