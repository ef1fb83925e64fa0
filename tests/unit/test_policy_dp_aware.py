"""DP-aware routing: one entry per rank, the rank injected into the body."""

from __future__ import annotations

import orjson

from smg.policies import dp_aware
from smg.workers.worker import READY, Worker


def engine(dp_size: str) -> Worker:
    return Worker("http://e:1", model_id="m", status=READY, labels={"dp_size": dp_size})


def test_engine_with_ranks_splits_into_one_worker_per_rank() -> None:
    ranks = dp_aware.split_into_ranks(engine("3"), Worker)
    assert [w.url for w in ranks] == ["http://e:1@0", "http://e:1@1", "http://e:1@2"]
    assert all(w.model_id == "m" and w.status == READY for w in ranks)
    assert [dp_aware.rank_of(w) for w in ranks] == [0, 1, 2]
    assert {dp_aware.base_url(w) for w in ranks} == {"http://e:1"}


def test_single_rank_or_malformed_size_is_not_split() -> None:
    for size in ("1", "zero", "-2"):
        assert dp_aware.split_into_ranks(engine(size), Worker) == []


def test_rank_is_added_to_the_forwarded_body() -> None:
    body = {"model": "m", "messages": []}
    assert orjson.loads(dp_aware.with_rank(body, 2)) == {
        **body,
        "data_parallel_rank": 2,
    }
