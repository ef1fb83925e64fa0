"""Admission control: a bounded number of requests in service, a bounded queue.

A request takes a permit before it is routed and keeps it until its response
ends, streams included. Without a free permit it waits in FIFO order; a full
queue answers 429 at once and a wait past the timeout answers 503, both with
Retry-After. An optional token bucket caps the sustained admission rate.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable

from smg.config import AdmissionConfig
from smg.server.errors import GatewayError

RETRY_AFTER_S = 2
PERMITS_PER_CORE = 1024
MIN_DERIVED_PERMITS = 4096


def queue_full() -> GatewayError:
    return GatewayError(
        429,
        "admission_queue_full",
        "The gateway is at capacity and its queue is full; retry after a short wait",
        retry_after_s=RETRY_AFTER_S,
    )


def queue_timeout() -> GatewayError:
    return GatewayError(
        503,
        "admission_queue_timeout",
        "The request waited too long for capacity; retry after a short wait",
        retry_after_s=RETRY_AFTER_S,
    )


def derived_limit(configured: int) -> int:
    if configured >= 0:
        return configured
    return max(MIN_DERIVED_PERMITS, PERMITS_PER_CORE * (os.cpu_count() or 1))


class TokenBucket:
    """Refills `rate` tokens per second up to `capacity`."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._clock = clock
        self._stamp = clock()

    def take(self) -> float:
        """Take one token; returns 0, or the seconds until one is available."""
        now = self._clock()
        self._tokens = min(
            self._capacity, self._tokens + (now - self._stamp) * self._rate
        )
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate


class Admission:
    """Permits for requests in service, with a FIFO queue of waiters."""

    def __init__(self, config: AdmissionConfig) -> None:
        self._limit = derived_limit(config.max_concurrent_requests)
        self._queue_size = config.queue_size
        self._timeout_s = config.queue_timeout_secs
        rate = config.rate_limit_tokens_per_second
        self._bucket = TokenBucket(rate, max(1.0, rate)) if rate else None
        self._in_service = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_service(self) -> int:
        return self._in_service

    @property
    def queued(self) -> int:
        return len(self._waiters)

    @property
    def enabled(self) -> bool:
        return self._limit > 0 or self._bucket is not None

    async def acquire(self) -> None:
        """Wait for a permit; raises GatewayError 429 or 503 when refused."""
        if self._limit > 0 and (self._in_service >= self._limit or self._waiters):
            await self._wait_in_queue()
        else:
            self._in_service += 1
        if self._bucket is not None:
            await self._wait_for_token()

    def release(self) -> None:
        self._in_service -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                # Hand the permit over directly so nobody can jump the queue.
                self._in_service += 1
                waiter.set_result(None)
                return

    async def _wait_in_queue(self) -> None:
        if len(self._waiters) >= self._queue_size:
            raise queue_full()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self._timeout_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted just as we gave up: pass it on
            else:
                waiter.cancel()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise queue_timeout() from exc

    async def _wait_for_token(self) -> None:
        assert self._bucket is not None
        deadline = time.monotonic() + self._timeout_s
        while (delay := self._bucket.take()) > 0:
            if time.monotonic() + delay > deadline:
                self.release()
                raise queue_timeout()
            await asyncio.sleep(delay)
