from __future__ import annotations

import pytest

from smg.sim.tokenizer import BLOCK_TOKENS, CHARS_PER_TOKEN, Prompt

BLOCK_CHARS = BLOCK_TOKENS * CHARS_PER_TOKEN


@pytest.mark.parametrize(
    ("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2)]
)
def test_text_counts_one_token_per_four_characters(text: str, tokens: int) -> None:
    assert Prompt(text=text).num_tokens == tokens


def test_token_ids_count_one_token_each() -> None:
    assert Prompt(ids=[5, 6, 7]).num_tokens == 3


def test_only_full_blocks_get_keys() -> None:
    assert Prompt(text="x" * (BLOCK_CHARS - 1)).block_keys() == []
    assert len(Prompt(text="x" * (2 * BLOCK_CHARS + 3)).block_keys()) == 2
    assert len(Prompt(ids=list(range(BLOCK_TOKENS * 3))).block_keys()) == 3


def test_block_keys_cover_the_whole_prefix() -> None:
    """Equal first blocks share a key; a change in block one changes every later key."""
    base = "a" * BLOCK_CHARS + "b" * BLOCK_CHARS
    same_start = "a" * BLOCK_CHARS + "c" * BLOCK_CHARS
    other_start = "z" + "a" * (BLOCK_CHARS - 1) + "b" * BLOCK_CHARS
    keys = Prompt(text=base).block_keys()
    assert Prompt(text=same_start).block_keys()[0] == keys[0]
    assert Prompt(text=same_start).block_keys()[1] != keys[1]
    assert not set(Prompt(text=other_start).block_keys()) & set(keys)


def test_fingerprint_depends_on_content_only() -> None:
    assert Prompt(text="hello").fingerprint() == Prompt(text="hello").fingerprint()
    assert Prompt(text="hello").fingerprint() != Prompt(text="hellp").fingerprint()
    assert Prompt(ids=[1, 2]).fingerprint() != Prompt(ids=[2, 1]).fingerprint()
