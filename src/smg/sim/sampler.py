"""Deterministic output: tokens drawn from a fixed vocabulary by a seeded PRNG.

The PRNG is seeded from the server seed, the prompt's content, the request's own
`seed` and the choice index, so a repeated request repeats its answer, and a longer
`max_tokens` extends the shorter answer rather than changing it.
"""

from __future__ import annotations

import random
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
    "did", "has", "have", "had", "make", "take", "give", "keep", "send",
]
# fmt: on
# Word pieces carry their leading space, as in BPE vocabularies.
VOCAB: tuple[str, ...] = (*(" " + word for word in _WORDS), ".", ",", "\n")
_TOKEN_IDS = range(len(VOCAB))


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
    ids = random.Random(seed).choices(_TOKEN_IDS, k=max(0, max_tokens))
    pieces = [VOCAB[i] for i in ids]
    text = "".join(pieces)
    if stop:
        return _cut_at_stop(ids, pieces, text, stop)
    return Completion(ids, pieces, text, "length")


def mix_seed(*parts: int) -> int:
    """Combine seed parts into one PRNG seed, stable across processes."""
    mixed = 0
    for part in parts:
        mixed = (mixed * 1_000_003 + part) & 0xFFFF_FFFF_FFFF_FFFF
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
