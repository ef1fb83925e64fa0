"""The load monitor: polls engines, builds snapshots, feeds policies; no sleeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from smg.policies.load_report import WorkerLoad
from smg.workers.http_client import UpstreamError
from smg.workers.load_monitor import LoadMonitor, MalformedLoadReportError, parse_loads
from smg.workers.worker import READY, Worker


def rank(dp_rank: int, waiting: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "dp_rank": dp_rank,
        "num_running_reqs": 1,
        "num_waiting_reqs": waiting,
        "num_waiting_uncached_tokens": waiting * 100,
        "token_usage": 0.5,
        "gen_throughput": 300.0,
        **extra,
    }


class FakeSource:
    """Answers `/v1/loads` from a table; a missing url fails like a dead worker."""

    def __init__(self, reports: dict[str, Any]) -> None:
        self.reports = reports
        self.calls: list[str] = []

    async def get_json(self, worker_url: str, path: str, timeout_s: float) -> Any:
        self.calls.append(worker_url + path)
        if worker_url not in self.reports:
            raise UpstreamError(worker_url, "connection refused")
        return self.reports[worker_url]


class Recorder:
    def __init__(self) -> None:
        self.by_model: dict[str, Mapping[str, WorkerLoad]] = {}

    def __call__(self, model: str, loads: Mapping[str, WorkerLoad]) -> None:
        self.by_model[model] = loads


def monitor(
    workers: list[Worker], source: FakeSource, recorder: Recorder
) -> LoadMonitor:
    return LoadMonitor(lambda: workers, source, recorder, 10.0, clock=lambda: 42.0)


def test_each_worker_gets_its_summed_snapshot() -> None:
    worker = Worker("http://a:1", model_id="m", status=READY)
    worker.load = 3
    source = FakeSource({"http://a:1": {"loads": [rank(0, 2), rank(1, 5)]}})
    recorder = Recorder()
    asyncio.run(monitor([worker], source, recorder).poll_once())
    load = recorder.by_model["m"]["http://a:1"]
    assert (load.waiting_reqs, load.waiting_uncached_tokens) == (7, 700)
    assert (load.running_reqs, load.gen_throughput_tps) == (2, 600.0)
    assert (load.token_usage, load.in_flight_at_poll, load.polled_at_s) == (
        0.5,
        3,
        42.0,
    )
    assert source.calls == ["http://a:1/v1/loads?include=core,queues,memory"]


def test_dp_ranks_share_one_poll_and_get_their_own_entry() -> None:
    ranks = [
        Worker(
            f"http://e:1@{r}",
            model_id="m",
            status=READY,
            labels={"dp_rank": str(r), "dp_base_url": "http://e:1"},
        )
        for r in range(2)
    ]
    source = FakeSource({"http://e:1": {"loads": [rank(0, 1), rank(1, 4)]}})
    recorder = Recorder()
    asyncio.run(monitor(ranks, source, recorder).poll_once())
    loads = recorder.by_model["m"]
    assert loads["http://e:1@0"].waiting_reqs == 1
    assert loads["http://e:1@1"].waiting_reqs == 4
    assert len(source.calls) == 1


def test_failed_worker_has_no_snapshot_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = Worker("http://good:1", model_id="m", status=READY)
    dead = Worker("http://dead:1", model_id="m", status=READY)
    source = FakeSource({"http://good:1": {"loads": [rank(0)]}})
    recorder = Recorder()
    mon = monitor([good, dead], source, recorder)
    with caplog.at_level(logging.WARNING):
        asyncio.run(mon.poll_once())
        asyncio.run(mon.poll_once())
    assert set(recorder.by_model["m"]) == {"http://good:1"}
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_every_model_is_told_even_when_nothing_reported() -> None:
    worker = Worker("http://a:1", model_id="m", status=READY)
    recorder = Recorder()
    asyncio.run(monitor([worker], FakeSource({}), recorder).poll_once())
    assert recorder.by_model == {"m": {}}


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"loads": "x"},
        {"loads": [1]},
        {"loads": [rank(0, token_usage="high")]},
    ],
)
def test_malformed_reports_are_refused(doc: Any) -> None:
    with pytest.raises(MalformedLoadReportError):
        parse_loads(doc)


def test_run_polls_every_interval_with_the_injected_sleep() -> None:
    worker = Worker("http://a:1", model_id="m", status=READY)
    source = FakeSource({"http://a:1": {"loads": [rank(0)]}})
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise asyncio.CancelledError

    mon = LoadMonitor(lambda: [worker], source, Recorder(), 0.5, sleep=fake_sleep)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(mon.run())
    assert sleeps == [0.5, 0.5, 0.5] and len(source.calls) == 3
