from __future__ import annotations

import asyncio

import pytest

from smg.sim.config import NO_LATENCY, LatencyConfig
from smg.sim.latency import LatencyModel
from tests.sim.fakes import RecordingSleep

CONFIG = LatencyConfig(
    ttft_base_ms=10, prefill_ms_per_token=0.5, itl_base_ms=2, itl_ms_per_running=0.25
)


@pytest.mark.parametrize(("uncached", "seconds"), [(0, 0.010), (100, 0.060)])
def test_ttft_grows_with_uncached_prompt_tokens(uncached: int, seconds: float) -> None:
    assert LatencyModel(CONFIG).ttft_s(uncached) == pytest.approx(seconds)


@pytest.mark.parametrize(("running", "seconds"), [(1, 0.00225), (64, 0.018)])
def test_itl_grows_with_running_batch(running: int, seconds: float) -> None:
    assert LatencyModel(CONFIG).itl_s(running) == pytest.approx(seconds)


def test_zero_latency_is_detected_and_never_sleeps() -> None:
    sleep = RecordingSleep()
    model = LatencyModel(NO_LATENCY, sleep)
    asyncio.run(model.sleep(model.ttft_s(1000)))
    assert model.is_zero and sleep.delays == []
    assert not LatencyModel(CONFIG).is_zero
