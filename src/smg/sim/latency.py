"""The latency model: how long prefill and each decode step take.

Prefill cost grows with the prompt tokens the prefix cache did not hold; a decode
step slows as the running batch grows, as on a real continuous-batching engine.
The sleep function is injected so tests can record delays instead of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from smg.sim.config import LatencyConfig

Sleep = Callable[[float], Awaitable[None]]


class LatencyModel:
    def __init__(self, config: LatencyConfig, sleep: Sleep = asyncio.sleep) -> None:
        self._config = config
        self._sleep = sleep
        self.is_zero = config.is_zero

    def ttft_s(self, uncached_tokens: int) -> float:
        """Seconds from admission to the first token."""
        config = self._config
        ms = config.ttft_base_ms + config.prefill_ms_per_token * uncached_tokens
        return ms / 1000.0

    def itl_s(self, running: int) -> float:
        """Seconds per decode step while `running` requests share the batch."""
        config = self._config
        return (config.itl_base_ms + config.itl_ms_per_running * running) / 1000.0

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep(seconds)
