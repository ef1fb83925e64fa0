"""What tracing costs on S2: requests per second with and without it.

Two smg-py gateways take turns under S2's load (wrk, 64 connections, nginx
upstream, gateway pinned): the default (metrics on, tracing off) and the same
with `--enable-trace`, exporting every span to a counting OTLP collector on
the load core. Metrics cannot be switched off (nor in the original); their
per-request cost is measured call by call by bench/observability_cost.py.
Run from the repository root:

    .venv/bin/python -m bench.tracing_cost [--reps N] [--duration S]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs, targets
from bench.procs import Child
from bench.report import cpu_us_per_request
from bench.runner import Run, Settings, run_scenario
from bench.scenarios import build_scenarios


def start_sink(tmp: Path, core: int | None) -> tuple[Child, str]:
    port = procs.free_port()
    argv = [sys.executable, "-m", "bench.otlp_sink", str(port)]
    sink = procs.start("otlp-sink", procs.pinned(argv, core), tmp)
    deadline = time.monotonic() + 15
    while "ready" not in sink.log_path.read_text():
        if not sink.is_running() or time.monotonic() > deadline:
            raise RuntimeError(f"OTLP sink did not start:\n{sink.log_tail()}")
        time.sleep(0.05)
    return sink, f"127.0.0.1:{port}"


def _median(runs: list[Run], name: str, metric: str) -> float:
    return statistics.median(getattr(r, metric) for r in runs if r.target == name)


def _cpu_us(runs: list[Run], name: str) -> float:
    return statistics.median(cpu_us_per_request(r) for r in runs if r.target == name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_cost")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    pinned = len(cores) >= 2
    settings = Settings(
        duration_s=args.duration,
        reps=args.reps,
        warmup_s=1,
        gateway_core=cores[1] if pinned else None,
        load_core=cores[0] if pinned else None,
    )
    s2 = next(s for s in build_scenarios(16, 256) if s.key == "s2")
    with tempfile.TemporaryDirectory(prefix="smg-bench-") as name:
        tmp = Path(name)
        with contextlib.ExitStack() as stack:
            sink, endpoint = start_sink(tmp, settings.load_core)
            stack.callback(sink.stop)
            traced = targets.smg_py_variant(
                "smg-py+trace",
                ("--enable-trace", "--otlp-traces-endpoint", endpoint),
            )
            plain = targets.TARGETS["smg-py"]
            result = run_scenario(s2, [plain, traced], settings, tmp)
        received = sink.log_path.read_text().split("received ")[-1].strip()
    runs = result.runs
    base = _median(runs, "smg-py", "requests_per_s")
    print("| S2 (c=64, nginx) | req/s | CPU µs/request | p99 µs |")
    print("|---|---:|---:|---:|")
    for target in ("smg-py", "smg-py+trace"):
        print(
            f"| {target} | {_median(runs, target, 'requests_per_s'):,.0f} "
            f"| {_cpu_us(runs, target):.0f} | {_median(runs, target, 'p99_us'):,.0f} |"
        )
    traced_rps = _median(runs, "smg-py+trace", "requests_per_s")
    print(f"\ntracing on keeps {traced_rps / base:.2f}x of the requests per second;")
    print(f"the collector received {received}. {' '.join(result.notes)}")


if __name__ == "__main__":
    main()
