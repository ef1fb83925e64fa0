"""Pooling endpoints: embeddings, rerank and classify, all deterministic.

Embeddings are unit vectors drawn from a PRNG seeded by the input's content. A
rerank score mixes the share of query words found in the document with a small
content hash, so documents that repeat the query rank first and ties are stable.
"""

from __future__ import annotations

import base64
import math
import random
import re
import struct
import time
import zlib
from typing import Any

from smg.http.server import Request
from smg.sim.context import SimContext
from smg.sim.errors import invalid_field, missing_field
from smg.sim.params import JsonObject, model_name, optional_int, parse_object
from smg.sim.tokenizer import count_tokens

EMBEDDING_DIM = 16
MAX_EMBEDDING_DIM = 8192
_WORD = re.compile(r"\w+")


async def embeddings(ctx: SimContext, request: Request) -> Any:
    body = parse_object(request.body)
    inputs = _texts(body.get("input"), "input")
    dim = optional_int(body, "dimensions") or EMBEDDING_DIM
    if not 1 <= dim <= MAX_EMBEDDING_DIM:
        raise invalid_field("dimensions", f"between 1 and {MAX_EMBEDDING_DIM}")
    as_base64 = body.get("encoding_format") == "base64"

    data = []
    for index, text in enumerate(inputs):
        vector = embed(text, dim, ctx.config.seed)
        encoded: Any = _base64_floats(vector) if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(count_tokens(text) for text in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model_name(body, ctx.config.model),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def embed(text: str, dim: int, seed: int = 0) -> list[float]:
    """A unit vector that depends only on `text`, `dim` and `seed`."""
    rng = random.Random(zlib.crc32(text.encode()) ^ (seed << 32))
    vector = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _base64_floats(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _texts(value: Any, name: str) -> list[str]:
    """Inputs as texts; token-id inputs are rendered as their decimal ids."""
    if value is None:
        raise missing_field(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [" ".join(map(str, value))]
    if isinstance(value, list) and value:
        return [_texts(item, name)[0] for item in value]
    raise invalid_field(name, "a string, an array of strings or of token ids")


async def rerank(ctx: SimContext, request: Request) -> Any:
    """SGLang's rerank answer: a bare array sorted by score, best first."""
    body = parse_object(request.body)
    query = body.get("query")
    if not isinstance(query, str):
        raise (
            missing_field("query")
            if query is None
            else invalid_field("query", "a string")
        )
    documents = body.get("documents")
    if not isinstance(documents, list) or not all(
        isinstance(d, str) for d in documents
    ):
        raise invalid_field("documents", "an array of strings")

    query_tokens = count_tokens(query)
    results = [
        {
            "score": rerank_score(query, document),
            "document": document,
            "index": index,
            "meta_info": {
                "id": ctx.ids.new("rerank-"),
                "prompt_tokens": query_tokens + count_tokens(document),
                "finish_reason": {"type": "stop"},
            },
        }
        for index, document in enumerate(documents)
    ]
    results.sort(key=lambda result: (-result["score"], result["index"]))
    top_n = optional_int(body, "top_n")
    return results[:top_n] if top_n is not None and top_n >= 0 else results


def rerank_score(query: str, document: str) -> float:
    """In [0, 1): mostly word overlap, plus a little content hash."""
    query_words = set(_WORD.findall(query.lower()))
    document_words = set(_WORD.findall(document.lower()))
    overlap = (
        len(query_words & document_words) / len(query_words) if query_words else 0.0
    )
    jitter = zlib.crc32(f"{query}\x00{document}".encode()) / 2**32
    return round(0.9 * overlap + 0.1 * jitter, 6)


async def classify(ctx: SimContext, request: Request) -> Any:
    """A two-class answer in vLLM's classify shape."""
    body = parse_object(request.body)
    inputs = _texts(body.get("input"), "input")
    data = [_classify_one(index, text) for index, text in enumerate(inputs)]
    tokens = sum(count_tokens(text) for text in inputs)
    return {
        "id": ctx.ids.new("classify-"),
        "object": "list",
        "created": int(time.time()),
        "model": model_name(body, ctx.config.model),
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _classify_one(index: int, text: str) -> JsonObject:
    positive = round(zlib.crc32(text.encode()) / 2**32, 6)
    probs = [round(1.0 - positive, 6), positive]
    label = "LABEL_1" if positive >= 0.5 else "LABEL_0"
    return {"index": index, "label": label, "probs": probs, "num_classes": 2}
