"""The cache-aware prefix index: matching, tenants and its memory bound."""

from __future__ import annotations

from smg.policies.prefix_index import (
    PrefixIndex,
    block_ends,
    text_block_keys,
    token_block_keys,
)


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


def test_blocks_grow_with_depth_but_start_at_the_base() -> None:
    ends = block_ends(64)

    assert ends[:3] == (64, 128, 192) and ends[31] == 2048
    sizes = [b - a for a, b in zip((0, *ends), ends, strict=False)]
    assert all(size % 64 == 0 for size in sizes)
    assert sizes == sorted(sizes)
    # Each block is at most ~1/32 of where it starts, past the first 32.
    assert all(
        size <= max(64, start / 32)
        for start, size in zip(ends[:-1], sizes[1:], strict=True)
    )
    assert len(text_block_keys("x" * 200_000)) < 250


def test_a_long_shared_prefix_is_matched_to_within_a_few_percent() -> None:
    shared = "".join(f"{i:08d}" for i in range(12_500))  # 100,000 characters
    index = PrefixIndex(max_units=1 << 26, block_units=64)
    index.insert(text_block_keys(shared + "first ending " * 1000), "w1")

    probe = text_block_keys(shared + "other ending " * 1000)
    blocks, holders = index.match(probe, {"w1": "W1"})

    assert holders == ["W1"]
    assert 0.96 * len(shared) <= index.units_through(blocks) <= len(shared)


def test_size_counts_each_blocks_length_and_eviction_gives_it_back() -> None:
    index = PrefixIndex(max_units=1 << 26, block_units=64)
    long_prompt = text_block_keys("y" * 10_000)
    index.insert(long_prompt, "w1")
    assert index.size_units == index.units_through(len(long_prompt))

    small = PrefixIndex(max_units=5_000, block_units=64)
    small.insert(long_prompt, "w1")
    # The deepest (largest) blocks went first; what is left fits the bound.
    assert 0 < small.size_units <= 5_000
    assert small.match(long_prompt, {"w1": 1})[0] == len(small)


def test_sweeping_departed_tenants_gives_back_their_size() -> None:
    index = PrefixIndex(max_units=1 << 20, block_units=4)
    index.insert(keys("kept"), "stay")
    for i in range(8):
        index.insert(keys(f"gone{i:04d}"), f"w{i}")

    index.retain_tenants(["stay"])

    assert len(index) == 1 and index.size_units == 4
    assert index.match(keys("kept"), {"stay": 1}) == (1, [1])
