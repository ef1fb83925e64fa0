"""What a worker's polled load report tells the policies.

The load monitor turns each `/v1/loads` answer into a `WorkerLoad` per routable
worker (one per data-parallel rank in DP-aware mode) and hands them over; the
policies never see the wire format.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """One worker's load at poll time, summed (or averaged) over its DP ranks."""

    worker_url: str
    running_reqs: int = 0
    waiting_reqs: int = 0
    # Prompt tokens queued and not already in the worker's prefix cache.
    waiting_uncached_tokens: int = 0
    # Mean KV-cache occupancy across ranks, 0..1.
    token_usage: float = 0.0
    gen_throughput_tps: float = 0.0
    # The gateway's own in-flight count for this worker when the report came
    # back; requests beyond it were sent after the report was taken.
    in_flight_at_poll: int = 0
    polled_at_s: float = 0.0
