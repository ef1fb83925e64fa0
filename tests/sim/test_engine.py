from __future__ import annotations

import asyncio

import pytest

from smg.sim.config import LatencyConfig, SimConfig
from smg.sim.engine import Engine, Generation, GenerationSpec
from smg.sim.latency import LatencyModel
from smg.sim.stats import SimStats
from smg.sim.tokenizer import BLOCK_TOKENS, Prompt
from tests.sim.fakes import RecordingSleep

LATENCY = LatencyConfig(
    ttft_base_ms=10, prefill_ms_per_token=1, itl_base_ms=2, itl_ms_per_running=1
)
LONG_PROMPT = Prompt(text="The quick brown fox. " * 20)  # 105 tokens, 6 blocks


def make_engine(sleep: RecordingSleep, **config: object) -> Engine:
    sim_config = SimConfig(latency=LATENCY, **config)  # type: ignore[arg-type]
    return Engine(sim_config, SimStats(), LatencyModel(LATENCY, sleep))


async def run(engine: Engine, spec: GenerationSpec) -> Generation:
    async with engine.generate(spec) as generation:
        await engine.decode(generation.completion_tokens)
    return generation


def test_repeated_prompt_hits_the_cache_and_prefills_faster() -> None:
    sleep = RecordingSleep()
    engine = make_engine(sleep)
    spec = GenerationSpec(LONG_PROMPT, max_tokens=0)
    first = asyncio.run(run(engine, spec))
    second = asyncio.run(run(engine, spec))
    assert first.cached_tokens == 0
    assert second.cached_tokens == 6 * BLOCK_TOKENS
    assert sleep.delays == pytest.approx([0.010 + 0.105, 0.010 + 0.009])
    assert engine.stats.cache_hit_tokens == 96 and engine.stats.prompt_tokens == 210


def test_decode_time_grows_with_the_running_batch() -> None:
    sleep = RecordingSleep()
    engine = make_engine(sleep, cache_tokens=0)
    asyncio.run(run(engine, GenerationSpec(Prompt(text="hi"), max_tokens=20)))
    # Prefill, then slices of 16 and 4 steps at 2 ms + 1 ms x 1 running.
    assert sleep.delays == pytest.approx([0.011, 16 * 0.003, 4 * 0.003])


def test_same_request_same_answer_and_request_seed_changes_it() -> None:
    engine = make_engine(RecordingSleep())
    spec = GenerationSpec(Prompt(text="hello"), max_tokens=12, n=2)
    answers = asyncio.run(run(engine, spec)).choices
    again = asyncio.run(run(engine, spec)).choices
    seeded = asyncio.run(run(engine, GenerationSpec(Prompt(text="hello"), 12, seed=5)))
    assert [c.text for c in answers] == [c.text for c in again]
    assert answers[0].text != answers[1].text
    assert seeded.choices[0].text != answers[0].text


def test_slot_is_released_when_the_request_fails() -> None:
    engine = make_engine(RecordingSleep())

    async def failing() -> None:
        async with engine.generate(GenerationSpec(Prompt(text="x"), 4)):
            raise RuntimeError

    with pytest.raises(RuntimeError):
        asyncio.run(failing())
    assert engine.scheduler.running == 0 and engine.scheduler.used_tokens == 0
    assert engine.stats.completion_tokens == 0
