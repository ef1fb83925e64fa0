"""Admission: at most `max_running` requests decode at once; the rest wait in FIFO.

A finishing request hands its slot straight to the oldest waiter, so the running
count never dips and a newcomer cannot overtake the queue. A waiter whose client
goes away leaves the queue; if it had just been handed a slot, it passes it on.
"""

from __future__ import annotations

import asyncio
from collections import deque


class QueueFullError(Exception):
    """The waiting queue is at its bound; the request is refused."""


class Scheduler:
    def __init__(self, max_running: int, max_queue: int) -> None:
        self.max_running = max(1, max_running)
        self.max_queue = max(0, max_queue)
        self.running = 0
        # Tokens reserved by running requests (prompt plus maximum output), and
        # prompt tokens of waiting ones: what load reports call used and queued.
        self.used_tokens = 0
        self.waiting_tokens = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, reserve_tokens: int, prompt_tokens: int) -> None:
        """Wait for a running slot; raises QueueFullError when the queue is full."""
        if self.running < self.max_running and not self._waiters:
            self.running += 1
            self.used_tokens += reserve_tokens
            return
        if len(self._waiters) >= self.max_queue:
            raise QueueFullError

        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.waiting_tokens += prompt_tokens
        try:
            await waiter
        except asyncio.CancelledError:
            self._leave_queue(waiter)
            raise
        finally:
            self.waiting_tokens -= prompt_tokens
        self.used_tokens += reserve_tokens

    def release(self, reserve_tokens: int) -> None:
        """Free a slot, handing it to the oldest waiter when there is one."""
        self.used_tokens -= reserve_tokens
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                # The slot moves to the waiter: `running` is unchanged.
                waiter.set_result(None)
                return
        self.running -= 1

    def _leave_queue(self, waiter: asyncio.Future[None]) -> None:
        if waiter.cancelled():
            # A hand-over may already have skipped and dropped it.
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        else:
            # Cancelled after the slot was handed over but before resuming.
            self._hand_over()
