"""Input logprobs across a PD pair: the prefill worker computed the prompt, so
its `meta_info.input_token_logprobs` go in front of the decode worker's.

Whole answers are merged once; streams are merged per SSE `data:` event, with
`[DONE]` and non-JSON events passed through untouched.
"""

from __future__ import annotations

from typing import Any

import orjson

_DATA = b"data: "
_DONE = b"[DONE]"
_SEPARATOR = b"\n\n"

Prefix = Any  # a list of logprob entries, or one list per batch item


def wants_logprobs(body: dict[str, Any]) -> bool:
    return body.get("return_logprob") is True or body.get("logprobs") is True


def prefill_prefix(reply: bytes, streamed: bool) -> Prefix | None:
    """The prefill answer's input logprobs; None when it carries none."""
    if not streamed:
        return _prefix_of(_loads(reply))
    for event in split_events(reply)[0]:
        prefix = _prefix_of(_loads(_data_of(event)))
        if prefix is not None:
            return prefix
    return None


def merge_whole(reply: bytes, prefix: Prefix | None) -> bytes:
    """The decode answer with `prefix` prepended; unchanged if either lacks them."""
    if prefix is None:
        return reply
    doc = _loads(reply)
    if doc is None or not _merge(doc, prefix):
        return reply
    return orjson.dumps(doc)


def merge_event(event: bytes, prefix: Prefix | None) -> bytes:
    """One SSE event (terminator excluded) with `prefix` merged into its data."""
    data = _data_of(event)
    if prefix is None or not data or data == _DONE:
        return event
    doc = _loads(data)
    if doc is None or not _merge(doc, prefix):
        return event
    return _DATA + orjson.dumps(doc)


def split_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete SSE events in `buffer` and the incomplete tail left over."""
    parts = buffer.split(_SEPARATOR)
    return parts[:-1], parts[-1]


def _data_of(event: bytes) -> bytes:
    return event[len(_DATA) :].strip() if event.startswith(_DATA) else b""


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _prefix_of(doc: Any) -> Prefix | None:
    if isinstance(doc, list):
        items = [_logprobs_of(item) for item in doc]
        return items if any(item is not None for item in items) else None
    return _logprobs_of(doc)


def _logprobs_of(doc: Any) -> list[Any] | None:
    meta = doc.get("meta_info") if isinstance(doc, dict) else None
    logprobs = meta.get("input_token_logprobs") if isinstance(meta, dict) else None
    return logprobs if isinstance(logprobs, list) else None


def _merge(doc: Any, prefix: Prefix) -> bool:
    if isinstance(doc, list):
        # A batched /generate answer: item i takes the prefill's item i.
        if not (isinstance(prefix, list) and len(prefix) == len(doc)):
            return False
        return any([_merge_one(d, p) for d, p in zip(doc, prefix, strict=True)])
    return _merge_one(doc, prefix)


def _merge_one(doc: Any, prefix: list[Any] | None) -> bool:
    meta = doc.get("meta_info") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or prefix is None:
        return False
    own = meta.get("input_token_logprobs")
    meta["input_token_logprobs"] = prefix + (own if isinstance(own, list) else [])
    return True
