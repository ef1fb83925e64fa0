"""A cheap deterministic tokenizer: one token per four characters of prompt text.

Four characters is the usual rule of thumb for English BPE, and fixed pieces let
the prefix cache hash slices of the string without building a token list. Prompts
given as token ids (`input_ids`, integer `prompt`) count one token per id.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

CHARS_PER_TOKEN = 4
# Prefix-cache granularity, like the engines' KV-cache pages.
BLOCK_TOKENS = 16
_BLOCK_CHARS = BLOCK_TOKENS * CHARS_PER_TOKEN


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the engine sees of a request's input: text or token ids."""

    text: str | None = None
    ids: Sequence[int] | None = None

    @property
    def num_tokens(self) -> int:
        if self.ids is not None:
            return len(self.ids)
        return -(-len(self.text or "") // CHARS_PER_TOKEN)

    def block_keys(self) -> list[int]:
        """Return one key per full block; each key covers the whole prefix.

        Keys chain the previous key into the next, so equal keys mean equal
        prefixes. They use Python's per-process string hashing, which is fine for a
        cache that lives in one process.
        """
        keys: list[int] = []
        key = 0
        if self.ids is not None:
            ids = self.ids
            for end in range(BLOCK_TOKENS, len(ids) + 1, BLOCK_TOKENS):
                key = hash((key, tuple(ids[end - BLOCK_TOKENS : end])))
                keys.append(key)
            return keys
        text = self.text or ""
        for end in range(_BLOCK_CHARS, len(text) + 1, _BLOCK_CHARS):
            key = hash((key, text[end - _BLOCK_CHARS : end]))
            keys.append(key)
        return keys

    def fingerprint(self) -> int:
        """A hash of the content that is stable across processes (seeds output)."""
        if self.ids is not None:
            return zlib.crc32(array("q", self.ids).tobytes())
        return zlib.crc32((self.text or "").encode("utf-8", "surrogatepass"))


def count_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)
