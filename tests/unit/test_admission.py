from __future__ import annotations

import asyncio

import pytest

from smg.config import AdmissionConfig
from smg.server.admission import Admission, TokenBucket
from smg.server.errors import GatewayError


def test_full_queue_is_429_with_retry_after() -> None:
    async def scenario() -> GatewayError:
        admission = Admission(AdmissionConfig(max_concurrent_requests=1, queue_size=0))
        await admission.acquire()
        with pytest.raises(GatewayError) as exc:
            await admission.acquire()
        return exc.value

    error = asyncio.run(scenario())
    assert error.status == 429 and error.retry_after_s == 2


def test_queue_timeout_is_503() -> None:
    async def scenario() -> int:
        admission = Admission(
            AdmissionConfig(
                max_concurrent_requests=1, queue_size=5, queue_timeout_secs=0.05
            )
        )
        await admission.acquire()
        with pytest.raises(GatewayError) as exc:
            await admission.acquire()
        return exc.value.status

    assert asyncio.run(scenario()) == 503


def test_waiters_are_served_in_order_when_permits_return() -> None:
    async def scenario() -> list[int]:
        admission = Admission(AdmissionConfig(max_concurrent_requests=1))
        await admission.acquire()
        order: list[int] = []

        async def wait(i: int) -> None:
            await admission.acquire()
            order.append(i)
            admission.release()

        tasks = [asyncio.create_task(wait(i)) for i in range(3)]
        await asyncio.sleep(0)
        admission.release()
        await asyncio.gather(*tasks)
        assert admission.in_service == 0
        return order

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, capacity=2, clock=lambda: now[0])
    assert bucket.take() == 0 and bucket.take() == 0
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() == 0
