"""The gateway benchmark in one command: `.venv/bin/python bench/run.py [--quick]`.

Measures direct (the floor), smg-py and smg-rust in one run, prints a Markdown
table of medians with their spread and writes every run to
bench/results/<timestamp>.json. `--scenarios routing` also runs the
routing-quality workloads (bench/routing) and `--soak SECONDS` the memory soak.
See bench/README.md for the method; `scripts/bench.sh` installs what it needs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable so `bench` resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, soak, targets
from bench.runner import ScenarioResult, Settings, run_scenario
from bench.scenarios import Scenario, build_scenarios

BENCH_DIR = Path(__file__).resolve().parent
# (duration, repetitions, warm-up) in seconds; the full run stays under ~5 min.
FULL = (5, 5, 1)
QUICK = (2, 2, 1)
ALL_SCENARIOS = ("s1", "s2", "s3", "s4", "s5", "s6")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark smg-py against the original smg and the bare upstream.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 s runs, 2 repetitions (a smoke run)"
    )
    parser.add_argument("--duration", type=int, help="seconds per run (5)")
    parser.add_argument("--reps", type=int, help="repetitions per target (5)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per target (1)")
    parser.add_argument(
        "--scenarios",
        default=",".join(ALL_SCENARIOS),
        help="comma list of s1..s6 and routing (routing-quality workloads, "
        "not in the default set)",
    )
    parser.add_argument(
        "--policy",
        default=targets.DEFAULT_POLICY,
        help="--policy for both gateways (round_robin; cache_aware is the "
        "gateways' own default)",
    )
    parser.add_argument(
        "--targets",
        default=",".join(targets.TARGETS),
        help="comma list of direct, smg-py, smg-rust",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="gateway on the second core, upstream and wrk on the first "
        "(default: on with two or more cores)",
    )
    parser.add_argument("--stream-connections", type=int, default=16)
    parser.add_argument("--stream-tokens", type=int, default=256)
    parser.add_argument(
        "--long-streams", type=int, default=256, help="S4 concurrent streams"
    )
    parser.add_argument(
        "--poisson-rate", type=float, default=1000.0, help="S5 requests/s offered"
    )
    parser.add_argument(
        "--gateway-procs",
        type=int,
        default=1,
        help="run smg-py as `--workers N` processes on one port; with N > 1 "
        "use --no-pin so they can spread over the cores",
    )
    parser.add_argument(
        "--soak",
        type=int,
        metavar="SECONDS",
        help="instead of the scenarios: S2's load on smg-py for SECONDS, "
        "sampling its resident memory",
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    duration, reps, warmup = QUICK if args.quick else FULL
    cores = sorted(os.sched_getaffinity(0))
    pin = len(cores) >= 2 if args.pin is None else args.pin
    if pin and len(cores) < 2:
        sys.exit("--pin needs at least two cores")
    return Settings(
        duration_s=args.duration or duration,
        reps=args.reps or reps,
        warmup_s=args.warmup or warmup,
        gateway_core=cores[1] if pin else None,
        load_core=cores[0] if pin else None,
    )


def chosen_targets(
    names: str, gateway_procs: int = 1, policy: str = targets.DEFAULT_POLICY
) -> tuple[list[targets.Target], list[str]]:
    chosen, notes = [], []
    if policy != targets.DEFAULT_POLICY:
        notes.append(f"both gateways ran with --policy {policy}.")
    for name in names.split(","):
        if name not in targets.TARGETS:
            sys.exit(f"--targets: unknown target {name!r}")
        if name == "smg-rust" and (note := targets.ensure_original()):
            notes.append(note)
            continue
        target = targets.TARGETS[name]
        if name == "smg-py" and gateway_procs > 1:
            target = targets.smg_py_with(gateway_procs)
            notes.append(f"smg-py ran as --workers {gateway_procs} processes.")
        chosen.append(targets.with_policy(target, policy))
    return chosen, notes


def machine() -> dict[str, object]:
    load = Path("/proc/loadavg").read_text().split()[:3]
    git = subprocess.run(
        ["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": [float(value) for value in load],
        "git_head": git.stdout.strip(),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    if args.soak:
        run_soak_command(args, settings)
        return
    wanted = args.scenarios.split(",")
    if unknown := set(wanted) - {*ALL_SCENARIOS, "routing"}:
        sys.exit(f"--scenarios: unknown {', '.join(sorted(unknown))}")
    chosen, start_notes = chosen_targets(args.targets, args.gateway_procs, args.policy)
    scenarios = [
        s
        for s in build_scenarios(
            args.stream_connections,
            args.stream_tokens,
            args.long_streams,
            args.poisson_rate,
        )
        if s.key in wanted
    ]
    machine_before = machine()
    if scenarios:
        run_scenarios(args, settings, scenarios, chosen, start_notes, machine_before)
    if "routing" in wanted:
        _run_routing(args.quick)


def run_scenarios(
    args: argparse.Namespace,
    settings: Settings,
    scenarios: list[Scenario],
    chosen: list[targets.Target],
    start_notes: list[str],
    machine_before: dict[str, object],
) -> None:
    results, run_notes = run_all(scenarios, chosen, settings)
    table = report.markdown_table(results)
    notes = start_notes + run_notes + report.notes(results)
    notes.append(_settings_note(settings, machine_before))
    print(table)
    print()
    print("\n".join(f"- {note}" for note in notes))
    path = _write_json(args.results_dir, settings, machine_before, results, notes)
    print(f"\nresults: {path}")


def _run_routing(quick: bool) -> None:
    """The routing-quality workloads, exactly as `python -m bench.routing`."""
    from bench.routing import run as routing

    print("\nrouting-quality workloads (bench/routing)\n", flush=True)
    routing.main(["--quick"] if quick else [])


def run_soak_command(args: argparse.Namespace, settings: Settings) -> None:
    """Soak smg-py and print and save the resident-memory series."""
    before = machine()
    with tempfile.TemporaryDirectory(prefix="smg-bench-soak-") as tmp:
        result = soak.run_soak(
            args.soak,
            Path(tmp),
            settings.gateway_core,
            settings.load_core,
            args.gateway_procs,
        )
    print(result.markdown())
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    record = {
        "machine_before": before,
        "machine_after": machine(),
        "summary": result.summary(),
        "samples": result.samples,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nresults: {path}")


def run_all(
    scenarios: list[Scenario], chosen: list[targets.Target], settings: Settings
) -> tuple[list[ScenarioResult], list[str]]:
    """Run each scenario in turn; one that fails is noted and the rest still run."""
    results: list[ScenarioResult] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="smg-bench-") as tmp:
        for scenario in scenarios:
            print(f"{scenario.key}: {scenario.title}", file=sys.stderr, flush=True)
            try:
                results.append(run_scenario(scenario, chosen, settings, Path(tmp)))
            except RuntimeError as exc:
                notes.append(f"{scenario.key.upper()} skipped: {exc}")
                print(notes[-1], file=sys.stderr, flush=True)
    return results, notes


def _settings_note(settings: Settings, before: dict[str, object]) -> str:
    pinning = (
        f"gateway on core {settings.gateway_core}, upstream and wrk on core "
        f"{settings.load_core}"
        if settings.gateway_core is not None
        else "unpinned"
    )
    return (
        f"{settings.reps} repetitions x {settings.duration_s} s per target, "
        f"{pinning}; load average at start {before['loadavg']}."
    )


def _write_json(
    results_dir: Path,
    settings: Settings,
    machine_before: dict[str, object],
    results: list[ScenarioResult],
    notes: list[str],
) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    record = {
        "settings": asdict(settings),
        "machine_before": machine_before,
        "machine_after": machine(),
        "summary": report.summary_json(results),
        "notes": notes,
        "scenarios": [result.to_json() for result in results],
    }
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path


if __name__ == "__main__":
    main()
