"""Merging prefill input logprobs into decode answers."""

from __future__ import annotations

import orjson

from smg.routers.pd_logprobs import (
    merge_event,
    merge_whole,
    prefill_prefix,
    split_events,
)

PREFILL = {"meta_info": {"input_token_logprobs": [[-1, 1, None], [-2, 2, None]]}}
DECODE = {"text": "x", "meta_info": {"input_token_logprobs": [[-3, 3, None]]}}


def test_whole_answer_gets_prefill_logprobs_first() -> None:
    prefix = prefill_prefix(orjson.dumps(PREFILL), streamed=False)
    merged = orjson.loads(merge_whole(orjson.dumps(DECODE), prefix))
    assert [e[1] for e in merged["meta_info"]["input_token_logprobs"]] == [1, 2, 3]


def test_stream_events_are_merged_and_done_passes_through() -> None:
    prefix = prefill_prefix(b"data: " + orjson.dumps(PREFILL) + b"\n\n", streamed=True)
    event = merge_event(b"data: " + orjson.dumps(DECODE), prefix)
    assert len(orjson.loads(event[6:])["meta_info"]["input_token_logprobs"]) == 3
    assert merge_event(b"data: [DONE]", prefix) == b"data: [DONE]"


def test_answer_without_meta_info_is_left_byte_for_byte() -> None:
    raw = b'{"choices": []}'
    assert merge_whole(raw, [[-1, 1, None]]) == raw


def test_batched_answers_merge_item_by_item() -> None:
    prefix = prefill_prefix(orjson.dumps([PREFILL, PREFILL]), streamed=False)
    merged = orjson.loads(merge_whole(orjson.dumps([DECODE, DECODE]), prefix))
    assert all(len(d["meta_info"]["input_token_logprobs"]) == 3 for d in merged)


def test_split_events_keeps_the_incomplete_tail() -> None:
    events, tail = split_events(b"data: 1\n\ndata: 2\n\ndata: 3")
    assert events == [b"data: 1", b"data: 2"] and tail == b"data: 3"
