"""The simulated engine: admission, prefill against the prefix cache, paced decode.

A request is admitted by the scheduler, pays time-to-first-token for the prompt
tokens the cache did not hold, inserts its blocks into the cache, then decodes one
step per token. The whole answer is sampled up front (it is deterministic), so the
engine only paces its delivery; with no latency nothing sleeps at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import TracebackType

from smg.sim.config import SimConfig
from smg.sim.latency import LatencyModel
from smg.sim.pd import kv_transferred
from smg.sim.prefix_cache import PrefixCache
from smg.sim.sampler import Completion, mix_seed, sample
from smg.sim.scheduler import Scheduler
from smg.sim.stats import SimStats
from smg.sim.tokenizer import Prompt

logger = logging.getLogger(__name__)

# A non-streamed answer sleeps this many decode steps at once: fewer timers, and
# the batch size is still re-read often enough to follow load changes.
_DECODE_SLICE = 16


@dataclass(frozen=True, slots=True)
class GenerationSpec:
    """What a request asks the engine for, independent of the API it came from."""

    prompt: Prompt
    max_tokens: int
    seed: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1


@dataclass(slots=True)
class Generation:
    """An admitted request after prefill: token counts and the sampled answers."""

    prompt_tokens: int
    cached_tokens: int
    choices: list[Completion] = field(default_factory=list)

    @property
    def completion_tokens(self) -> int:
        return sum(len(choice.token_ids) for choice in self.choices)


class Engine:
    def __init__(
        self,
        config: SimConfig,
        stats: SimStats,
        latency: LatencyModel | None = None,
    ) -> None:
        self._seed = config.seed
        self.stats = stats
        self.cache = PrefixCache(config.cache_tokens)
        self.scheduler = Scheduler(config.max_running_requests, config.max_queue)
        self.latency = latency or LatencyModel(config.latency)
        self.is_fast = self.latency.is_zero

    def generate(self, spec: GenerationSpec) -> Admission:
        """`async with engine.generate(spec) as generation:` runs one request.

        Entering waits for a running slot (raises QueueFullError when the queue is
        full) and prefills; the slot is held for the body and always released.
        Cancellation while waiting leaves the queue.
        """
        return Admission(self, spec)

    async def step(self) -> None:
        """Pace one decode step for a streamed answer."""
        if not self.is_fast:
            await self.latency.sleep(self.latency.itl_s(self.scheduler.running))

    async def decode(self, steps: int) -> None:
        """Pace `steps` decode steps for an answer sent whole."""
        if self.is_fast:
            return
        latency = self.latency
        while steps > 0:
            batch = min(_DECODE_SLICE, steps)
            await latency.sleep(batch * latency.itl_s(self.scheduler.running))
            steps -= batch

    def flush_cache(self) -> None:
        self.cache.clear()
        logger.info("prefix cache flushed")

    async def prefill(self, spec: GenerationSpec, prompt_tokens: int) -> Generation:
        keys = spec.prompt.block_keys()
        cached = min(self.cache.match(keys), prompt_tokens)
        if kv_transferred.get():
            # Disaggregated decode: the prefill worker already computed the KV.
            cached = prompt_tokens
        stats = self.stats
        stats.prompt_tokens += prompt_tokens
        stats.cache_hit_tokens += cached
        if logger.isEnabledFor(logging.DEBUG):
            extra = {"prompt_tokens": prompt_tokens, "cached_tokens": cached}
            logger.debug("prefix matched", extra=extra)

        if not self.is_fast:
            await self.latency.sleep(self.latency.ttft_s(prompt_tokens - cached))
        # Insert after prefill: a concurrent twin still in prefill cannot hit.
        self.cache.insert(keys)
        return Generation(prompt_tokens, cached, self.sample(spec))

    def sample(self, spec: GenerationSpec) -> list[Completion]:
        base = mix_seed(
            self._seed,
            spec.prompt.fingerprint(),
            -1 if spec.seed is None else spec.seed,
        )
        return [
            sample(mix_seed(base, index), spec.max_tokens, spec.stop)
            for index in range(spec.n)
        ]


class Admission:
    """The async context of one admitted request (see `Engine.generate`).

    A plain class rather than `contextlib.asynccontextmanager`: it is entered once
    per request, where the generator machinery is a visible share of the cost.
    """

    __slots__ = ("_engine", "_generation", "_reserve_tokens", "_spec")

    def __init__(self, engine: Engine, spec: GenerationSpec) -> None:
        self._engine = engine
        self._spec = spec
        self._reserve_tokens = 0
        self._generation: Generation | None = None

    async def __aenter__(self) -> Generation:
        spec = self._spec
        prompt_tokens = spec.prompt.num_tokens
        reserve_tokens = prompt_tokens + spec.max_tokens * spec.n
        scheduler = self._engine.scheduler
        await scheduler.acquire(reserve_tokens, prompt_tokens)
        self._reserve_tokens = reserve_tokens
        try:
            self._generation = await self._engine.prefill(spec, prompt_tokens)
        except BaseException:
            scheduler.release(reserve_tokens)
            raise
        return self._generation

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        engine = self._engine
        if exc_type is None and self._generation is not None:
            engine.stats.completion_tokens += self._generation.completion_tokens
        engine.scheduler.release(self._reserve_tokens)
