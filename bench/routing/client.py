"""The load generator: streams every request and times it from the client side.

Time to first token is measured to the first body bytes of the streamed answer
(the engine sends its first chunk once prefill is done). Sessions run
concurrently up to the workload's limit; the turns of one session in order.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from bench.routing.workloads import Turn, Workload, request_body

MAX_TOKENS = 16
ROUTING_KEY_HEADER = "x-smg-routing-key"


@dataclass
class Outcome:
    """What the client saw of one workload run."""

    ttft_s: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    by_worker: dict[str, int] = field(default_factory=dict)


async def run_workload(url: str, workload: Workload, send_keys: bool) -> Outcome:
    outcome = Outcome()
    limit = asyncio.Semaphore(workload.concurrency)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def run_session(turns: list[Turn]) -> None:
            async with limit:
                for turn in turns:
                    await _send(session, url, turn, send_keys, outcome)

        started = time.perf_counter()
        await asyncio.gather(*(run_session(s) for s in workload.sessions))
        outcome.wall_s = time.perf_counter() - started
    return outcome


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    turn: Turn,
    send_keys: bool,
    outcome: Outcome,
) -> None:
    headers = {ROUTING_KEY_HEADER: turn.routing_key} if send_keys else {}
    body = request_body(turn, MAX_TOKENS)
    started = time.perf_counter()
    try:
        async with session.post(
            url + "/v1/chat/completions", json=body, headers=headers
        ) as resp:
            first = None
            async for _ in resp.content.iter_any():
                if first is None:
                    first = time.perf_counter()
            if resp.status != 200 or first is None:
                outcome.errors += 1
                return
            worker = resp.headers.get("x-smg-routed-worker-id", "?")
    except (aiohttp.ClientError, TimeoutError):
        outcome.errors += 1
        return
    outcome.ttft_s.append(first - started)
    outcome.by_worker[worker] = outcome.by_worker.get(worker, 0) + 1
