"""Rerank answers: the worker's list of scored documents, in the client's shape.

Workers (SGLang style) answer `/v1/rerank` with a bare JSON array; clients get
`{"results": [...], "model", "object": "rerank", ...}` with `top_k` and
`return_documents` applied. Unlike the original, `/v1/rerank` honours them too.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from smg.server import errors


def rewrite_rerank_reply(request: dict[str, Any], reply: bytes) -> bytes:
    """Wrap, sort, cut and strip the worker's results; 502 when it is not a list."""
    try:
        results = orjson.loads(reply)
    except orjson.JSONDecodeError as exc:
        raise errors.upstream_bad_response("rerank answer is not JSON") from exc
    if isinstance(results, dict) and isinstance(results.get("results"), list):
        results = results["results"]
    if not isinstance(results, list):
        raise errors.upstream_bad_response("rerank answer is not a list of results")

    results.sort(key=_score, reverse=True)
    top_k = request.get("top_k")
    if isinstance(top_k, int) and not isinstance(top_k, bool) and top_k >= 0:
        results = results[:top_k]
    if request.get("return_documents") is False:
        for item in results:
            if isinstance(item, dict):
                item.pop("document", None)
    return orjson.dumps(
        {
            "results": results,
            "model": request.get("model") or "unknown",
            "usage": None,
            "object": "rerank",
            "id": None,
            "created": int(time.time()),
        }
    )


def _score(item: Any) -> float:
    score = item.get("score") if isinstance(item, dict) else None
    return float(score) if isinstance(score, int | float) else float("-inf")
