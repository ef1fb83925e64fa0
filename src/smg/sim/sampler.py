"""Deterministic output: tokens drawn from a fixed vocabulary by a keyed hash.

The key mixes the server seed, the prompt's content, the request's own `seed` and
the choice index, so a repeated request repeats its answer, and a longer
`max_tokens` extends the shorter answer rather than changing it. BLAKE2b in counter
mode stands in for a PRNG: one call yields 64 tokens, several times cheaper than
seeding `random.Random` for every request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

# fmt: off
_WORDS = [
    "the", "a", "of", "to", "and", "in", "is", "that", "it", "for", "on", "with",
    "as", "was", "be", "by", "this", "are", "or", "from", "at", "an", "model",
    "token", "cache", "prefix", "request", "worker", "gateway", "batch", "stream",
    "latency", "route", "policy", "engine", "prompt", "answer", "quick", "simple",
    "simulated", "text", "output", "input", "value", "result", "fast", "slow",
    "large", "small", "first", "next", "last", "each", "every", "some", "many",
    "more", "most", "other", "can", "will", "may", "should", "would", "could", "does",
    "did", "has", "have", "had", "make", "take", "give", "keep", "send", "one", "two",
    "three", "four", "five", "time", "way", "day", "part", "place", "case", "point",
    "group", "number", "world", "state", "system", "program", "question", "work",
    "government", "night", "home", "water", "room", "mother", "area", "money",
    "story", "fact", "month", "lot", "right", "study", "book", "eye", "job", "word",
    "business", "issue", "side", "kind", "head", "house", "service", "friend",
    "power", "hour", "game", "line",
]
# fmt: on
# Word pieces carry their leading space, as in BPE vocabularies. The size is a
# power of two so a random byte maps onto a token id without bias.
VOCAB: tuple[str, ...] = (*(" " + word for word in _WORDS), ".", ",", "\n")
_ID_MASK = len(VOCAB) - 1
_BYTE_TO_ID = bytes(byte & _ID_MASK for byte in range(256))
_DIGEST_BYTES = 64
_SEED_MASK = 0xFFFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class Completion:
    """One sampled answer: token ids and text pieces, already cut at a stop."""

    token_ids: list[int]
    pieces: list[str]
    text: str
    finish_reason: str  # "length" or "stop"
    matched_stop: str | None = None


def sample(seed: int, max_tokens: int, stop: Sequence[str] = ()) -> Completion:
    """Draw `max_tokens` tokens; a `stop` string ends the answer before it."""
    ids = token_ids(seed, max_tokens)
    pieces = [VOCAB[i] for i in ids]
    text = "".join(pieces)
    if stop:
        return _cut_at_stop(ids, pieces, text, stop)
    return Completion(ids, pieces, text, "length")


def token_ids(seed: int, count: int) -> list[int]:
    """`count` token ids determined by `seed`; a longer run extends a shorter one."""
    key = (seed & _SEED_MASK).to_bytes(8, "little")
    ids: list[int] = []
    block = 0
    while len(ids) < count:
        digest = hashlib.blake2b(
            block.to_bytes(8, "little"), key=key, digest_size=_DIGEST_BYTES
        ).digest()
        ids.extend(digest.translate(_BYTE_TO_ID))
        block += 1
    del ids[max(0, count) :]
    return ids


def mix_seed(*parts: int) -> int:
    """Combine seed parts into one PRNG seed, stable across processes."""
    mixed = 0
    for part in parts:
        mixed = (mixed * 1_000_003 + part) & _SEED_MASK
    return mixed


def _cut_at_stop(
    ids: list[int], pieces: list[str], text: str, stop: Sequence[str]
) -> Completion:
    hits = [(text.find(s), s) for s in stop if s and s in text]
    if not hits:
        return Completion(ids, pieces, text, "length")
    cut, matched = min(hits)

    # Keep the tokens up to the one where the stop string begins, that last one
    # trimmed (it was generated, so it counts); the stop string itself is not part
    # of the answer, as in the OpenAI API.
    kept_ids: list[int] = []
    kept_pieces: list[str] = []
    start = 0
    for token_id, piece in zip(ids, pieces, strict=True):
        if start > cut:
            break
        kept_ids.append(token_id)
        kept_pieces.append(piece[: cut - start])
        start += len(piece)
    return Completion(kept_ids, kept_pieces, text[:cut], "stop", matched)
