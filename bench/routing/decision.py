"""A micro-benchmark of the routing decision itself, and of the index's memory.

    .venv/bin/python -m bench.routing.decision [--quick]

Decision time: 64 workers, 16 KiB chat prompts drawn from shared system
prompts plus unique questions, timed through `select_worker` (routing text,
index match and insert, explanation fields), for each policy. Memory: a million
unique prompts fed to cache_aware under its default bound; the indexed size must
stay at or under `--max-tree-size` and the Python memory it holds is reported.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from smg.config import RoutingConfig
from smg.policies.base import RequestFacts
from smg.policies.cache_aware import CacheAwarePolicy
from smg.policies.load_report import WorkerLoad
from smg.policies.prefix_index import text_block_keys
from smg.policies.registry import PolicyRegistry
from smg.routers.selection import select_worker
from smg.workers.worker import READY, Worker

WORKERS = 64
PROMPT_BYTES = 16 * 1024
POLICIES = (
    "cache_aware",
    "round_robin",
    "power_of_two",
    "least_load",
    "consistent_hashing",
    "prefix_hash",
    "manual",
)


def fleet(rng: random.Random) -> list[Worker]:
    workers = [
        Worker(f"http://10.0.{i // 250}.{i % 250}:8000", status=READY)
        for i in range(WORKERS)
    ]
    for worker in workers:
        worker.load = rng.randrange(8)
    return workers


def prompts(rng: random.Random, count: int) -> list[RequestFacts]:
    """16 KiB chats: one of 32 system prompts (12 KiB) and a unique 4 KiB question."""
    letters = "abcdefghijklmnopqrstuvwxyz     "
    systems = ["".join(rng.choices(letters, k=12 * 1024)) for _ in range(32)]
    facts = []
    for n in range(count):
        question = f"{n} " + "".join(rng.choices(letters, k=PROMPT_BYTES - 12 * 1024))
        body = {
            "model": "m",
            "messages": [
                {"role": "system", "content": rng.choice(systems)},
                {"role": "user", "content": question[: 4 * 1024]},
            ],
        }
        headers = [(b"x-smg-routing-key", f"user-{n % 500}".encode())]
        facts.append(RequestFacts("m", "/v1/chat/completions", body, headers))
    return facts


def time_decisions(
    policy: str, workers: list[Worker], facts: list[RequestFacts]
) -> list[float]:
    registry = PolicyRegistry(RoutingConfig(policy=policy), random.Random(1))
    registry.on_workers_changed("m", workers)
    registry.on_loads(
        "m", {w.url: WorkerLoad(w.url, waiting_reqs=w.load) for w in workers}
    )
    samples = []
    for template in facts:
        # Fresh facts per decision: the routing text is derived anew, as live.
        fresh = RequestFacts("m", template.route, template.body, template.headers)
        started = time.perf_counter_ns()
        select_worker(registry, fresh, workers)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def decision_table(quick: bool) -> list[str]:
    rng = random.Random(3)
    workers = fleet(rng)
    facts = prompts(rng, 1000 if quick else 5000)
    lines = [
        f"Decision time, {WORKERS} workers, 16 KiB prompts, {len(facts)} decisions",
        "",
        "| policy | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|",
    ]
    for policy in POLICIES:
        samples = sorted(time_decisions(policy, workers, facts))
        p50 = statistics.median(samples)
        p99 = samples[int(len(samples) * 0.99)]
        lines.append(f"| {policy} | {p50:.3f} | {p99:.3f} | {samples[-1]:.3f} |")
    return lines


def memory_table(prompt_count: int, max_tree_chars: int) -> list[str]:
    """Unique 1 KiB prompts into cache_aware's text index; size and memory.

    The index is fed directly (block keys, insert for one of the workers), the
    work `decide` does for it, so a million prompts take seconds, not minutes.
    """
    index = CacheAwarePolicy(RoutingConfig(max_tree_size=max_tree_chars)).text_index
    tenants = [f"http://w{i}:1" for i in range(WORKERS)]
    filler = "y" * (1024 - 12)
    checkpoints = {prompt_count * k // 8 for k in range(1, 9)}
    lines = [
        f"cache_aware index, unique 1 KiB prompts, bound {max_tree_chars:,} chars",
        "",
        "| prompts | indexed chars | within bound | memory MiB | bytes per char |",
        "|---|---|---|---|---|",
    ]
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    peak_bytes = 0
    started = time.monotonic()
    for n in range(1, prompt_count + 1):
        index.insert(text_block_keys(f"{n:011d} {filler}"), tenants[n % WORKERS])
        if n in checkpoints:
            held = tracemalloc.get_traced_memory()[0] - baseline
            peak_bytes = max(peak_bytes, held)
            size = index.size_units
            lines.append(
                f"| {n:,} | {size:,} | {'yes' if size <= max_tree_chars else 'NO'} "
                f"| {held / 2**20:.1f} | {held / max(size, 1):.2f} |"
            )
    tracemalloc.stop()
    lines.append("")
    lines.append(
        f"({prompt_count:,} prompts in {time.monotonic() - started:.0f} s; "
        f"largest memory seen {peak_bytes / 2**20:.1f} MiB)"
    )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.routing.decision")
    parser.add_argument(
        "--quick", action="store_true", help="fewer decisions and prompts"
    )
    args = parser.parse_args(argv)
    for line in decision_table(args.quick):
        print(line)
    print()
    prompt_count = 100_000 if args.quick else 1_000_000
    for line in memory_table(prompt_count, RoutingConfig().max_tree_size):
        print(line)


if __name__ == "__main__":
    main()
