from __future__ import annotations

import asyncio

import pytest

from smg.sim.scheduler import QueueFullError, Scheduler


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_requests_beyond_the_limit_wait_and_are_served_in_order() -> None:
    async def scenario() -> list[int]:
        scheduler = Scheduler(max_running=1, max_queue=10)
        order: list[int] = []

        async def request(n: int) -> None:
            await scheduler.acquire(10, 5)
            order.append(n)
            await asyncio.sleep(0)
            scheduler.release(10)

        await scheduler.acquire(10, 5)
        tasks = [asyncio.create_task(request(n)) for n in range(3)]
        await _settle()
        assert (scheduler.running, scheduler.waiting) == (1, 3)
        assert scheduler.waiting_tokens == 15
        scheduler.release(10)
        await asyncio.gather(*tasks)
        assert (scheduler.running, scheduler.used_tokens) == (0, 0)
        return order

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_full_queue_refuses_new_requests() -> None:
    async def scenario() -> None:
        scheduler = Scheduler(max_running=1, max_queue=1)
        await scheduler.acquire(1, 1)
        waiter = asyncio.create_task(scheduler.acquire(1, 1))
        await _settle()
        with pytest.raises(QueueFullError):
            await scheduler.acquire(1, 1)
        waiter.cancel()

    asyncio.run(scenario())


def test_cancelled_waiter_leaves_the_queue() -> None:
    async def scenario() -> None:
        scheduler = Scheduler(max_running=1, max_queue=5)
        await scheduler.acquire(1, 1)
        waiter = asyncio.create_task(scheduler.acquire(1, 7))
        await _settle()
        waiter.cancel()
        await _settle()
        assert (scheduler.waiting, scheduler.waiting_tokens) == (0, 0)
        scheduler.release(1)
        assert scheduler.running == 0

    asyncio.run(scenario())


def test_waiter_cancelled_after_hand_over_passes_the_slot_on() -> None:
    async def scenario() -> None:
        scheduler = Scheduler(max_running=1, max_queue=5)
        await scheduler.acquire(1, 1)
        first = asyncio.create_task(scheduler.acquire(1, 1))
        second = asyncio.create_task(scheduler.acquire(1, 1))
        await _settle()
        scheduler.release(1)  # the slot goes to `first`...
        first.cancel()  # ...which is cancelled before it resumes
        await asyncio.wait_for(second, timeout=1)
        assert (scheduler.running, scheduler.waiting) == (1, 0)

    asyncio.run(scenario())
