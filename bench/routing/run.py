"""The routing-quality benchmark in one command.

    .venv/bin/python -m bench.routing.run [--quick]

Starts four `smg sim` workers with bounded prefix caches, then for each gateway
configuration (this gateway's policies, the released original's round_robin
and cache_aware) runs the same reproducible workloads and reports, per policy:
prefix-cache hit rate, mean and p99 time to first token, throughput and how
evenly requests spread over the workers. See bench/routing/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.routing import fleet, workloads
from bench.routing.client import Outcome, run_workload
from bench.routing.fleet import GatewaySpec, Sim

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WORKERS = 4

OURS_FULL = (
    GatewaySpec("smg-py", "round_robin"),
    GatewaySpec("smg-py", "random"),
    GatewaySpec("smg-py", "power_of_two", ("--load-monitor-interval", "1")),
    GatewaySpec("smg-py", "least_load", ("--load-monitor-interval", "1")),
    GatewaySpec("smg-py", "cache_aware"),
    GatewaySpec("smg-py", "prefix_hash"),
    GatewaySpec("smg-py", "consistent_hashing", send_keys=True),
    GatewaySpec("smg-py", "manual", ("--assignment-mode", "min_load"), True),
)
OURS_QUICK = (
    GatewaySpec("smg-py", "round_robin"),
    GatewaySpec("smg-py", "cache_aware"),
)
ORIGINAL = (
    GatewaySpec("smg-rust", "round_robin"),
    GatewaySpec("smg-rust", "cache_aware"),
)


@dataclass
class Row:
    """One gateway configuration on one workload."""

    target: str
    workload: str
    requests: int
    errors: int
    hit_rate: float
    ttft_mean_ms: float
    ttft_p99_ms: float
    throughput_rps: float
    # Busiest worker's share of requests over the mean share; 1.00 is even.
    imbalance: float
    per_worker: list[int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing.run",
        description="Routing quality per policy on a simulated fleet.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer requests and policies"
    )
    parser.add_argument("--seed", type=int, default=7, help="workload seed")
    parser.add_argument(
        "--policies",
        help="comma list of smg-py policies to run (default: all, or two with --quick)",
    )
    parser.add_argument(
        "--no-original", action="store_true", help="skip the released original"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    specs = _specs(args)
    loads = workloads.build(args.seed, args.quick)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smg-routing-bench-") as tmp:
        sims = fleet.start_sims(WORKERS, Path(tmp))
        try:
            rows = [
                row for spec in specs for row in _run_spec(spec, sims, loads, Path(tmp))
            ]
        finally:
            for sim in sims:
                sim.child.stop()
    _report(rows, loads, time.monotonic() - started, args)


def _specs(args: argparse.Namespace) -> list[GatewaySpec]:
    ours = OURS_QUICK if args.quick else OURS_FULL
    if args.policies:
        wanted = args.policies.split(",")
        ours = tuple(s for s in OURS_FULL if s.policy in wanted)
    specs = list(ours)
    if args.no_original:
        return specs
    if fleet.original_available():
        specs.extend(ORIGINAL)
    else:
        print("the released original is not installed; its rows are skipped")
    return specs


def _run_spec(
    spec: GatewaySpec, sims: list[Sim], loads: list[workloads.Workload], tmp: Path
) -> list[Row]:
    child, url = fleet.start_gateway(spec, sims, tmp)
    rows = []
    try:
        for workload in loads:
            fleet.reset(sims)
            outcome = asyncio.run(run_workload(url, workload, spec.send_keys))
            rows.append(_row(spec, workload, outcome, fleet.stats(sims)))
            print(_progress(rows[-1]), flush=True)
    finally:
        child.stop()
    return rows


def _row(
    spec: GatewaySpec, workload: workloads.Workload, outcome: Outcome, stats: list[dict]
) -> Row:
    prompt = sum(s["prompt_tokens"] for s in stats)
    hits = sum(s["cache_hit_tokens"] for s in stats)
    per_worker = [s["requests"].get("/v1/chat/completions", 0) for s in stats]
    mean_share = sum(per_worker) / len(per_worker) if per_worker else 0
    ttft = sorted(outcome.ttft_s) or [0.0]
    return Row(
        target=spec.label,
        workload=workload.name,
        requests=len(outcome.ttft_s),
        errors=outcome.errors,
        hit_rate=hits / prompt if prompt else 0.0,
        ttft_mean_ms=statistics.fmean(ttft) * 1000,
        ttft_p99_ms=ttft[min(len(ttft) - 1, int(len(ttft) * 0.99))] * 1000,
        throughput_rps=len(outcome.ttft_s) / outcome.wall_s if outcome.wall_s else 0.0,
        imbalance=max(per_worker) / mean_share if mean_share else 0.0,
        per_worker=per_worker,
    )


def _progress(row: Row) -> str:
    return (
        f"  {row.target:<28} {row.workload:<14} hit {row.hit_rate:.2f}  "
        f"ttft {row.ttft_mean_ms:6.1f} ms  p99 {row.ttft_p99_ms:6.1f} ms  "
        f"{row.throughput_rps:6.1f} req/s  errors {row.errors}"
    )


def _report(
    rows: list[Row],
    loads: list[workloads.Workload],
    elapsed_s: float,
    args: argparse.Namespace,
) -> None:
    print()
    for workload in loads:
        print(f"### {workload.name}: {workload.description}\n")
        print(table([r for r in rows if r.workload == workload.name]))
        print()
    for line in verdicts(rows):
        print(line)
    print(f"\n{len(rows)} runs in {elapsed_s:.0f} s")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / time.strftime("%Y%m%d-%H%M%S.json")
    payload = {
        "quick": args.quick,
        "seed": args.seed,
        "workers": WORKERS,
        "sim_cache_tokens": fleet.SIM_CACHE_TOKENS,
        "elapsed_s": elapsed_s,
        "rows": [asdict(r) for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"results: {path}")


def table(rows: list[Row]) -> str:
    lines = [
        "| gateway policy | hit rate | TTFT mean ms | TTFT p99 ms | req/s "
        "| imbalance | requests per worker | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.target} | {r.hit_rate:.2f} | {r.ttft_mean_ms:.1f} "
            f"| {r.ttft_p99_ms:.1f} | {r.throughput_rps:.1f} | {r.imbalance:.2f} "
            f"| {'/'.join(map(str, r.per_worker))} | {r.errors} |"
        )
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[str]:
    """The issue's bar: cache_aware vs the original, and vs round_robin on no reuse."""
    found = {(r.target, r.workload): r for r in rows}
    lines = []
    for workload in ("shared_prefix", "multi_turn"):
        ours = found.get(("smg-py cache_aware", workload))
        theirs = found.get(("smg-rust cache_aware", workload))
        if ours and theirs:
            hit_ok = ours.hit_rate >= theirs.hit_rate - 0.01
            ttft_ok = ours.ttft_mean_ms <= theirs.ttft_mean_ms * 1.05
            lines.append(
                f"{workload}: cache_aware hit {ours.hit_rate:.2f} vs original "
                f"{theirs.hit_rate:.2f} ({'ok' if hit_ok else 'BELOW'}), mean TTFT "
                f"{ours.ttft_mean_ms:.1f} vs {theirs.ttft_mean_ms:.1f} ms "
                f"({'ok' if ttft_ok else 'SLOWER'})"
            )
    ours = found.get(("smg-py cache_aware", "no_reuse"))
    rr = found.get(("smg-py round_robin", "no_reuse"))
    if ours and rr:
        ok = ours.ttft_mean_ms <= rr.ttft_mean_ms * 1.05
        lines.append(
            f"no_reuse: cache_aware mean TTFT {ours.ttft_mean_ms:.1f} vs round_robin "
            f"{rr.ttft_mean_ms:.1f} ms ({'ok' if ok else 'WORSE'})"
        )
    return lines


if __name__ == "__main__":
    main()
