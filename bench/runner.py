"""Run one scenario: start its upstream and every target, then alternate runs.

Targets take turns run by run (the order rotates each repetition), so a burst
of load from elsewhere on the machine lands on all of them rather than on
whichever happened to run during it. Every process started here is stopped on
the way out, whatever goes wrong.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import loadgen, procs, upstreams, wrk
from bench.procs import Child
from bench.scenarios import CHAT_PATH, PACED_SIM_FLAGS, Scenario, count_chunks
from bench.targets import Target


@dataclass(frozen=True)
class Settings:
    duration_s: int
    reps: int
    warmup_s: int
    # Cores for the gateway and for everything else; None runs unpinned.
    gateway_core: int | None
    load_core: int | None


@dataclass
class Run:
    """One measured wrk run against one target."""

    scenario: str
    target: str
    rep: int
    requests: int
    duration_s: float
    requests_per_s: float
    errors: int
    p50_us: float
    p99_us: float
    gateway_cpu_s: float
    # CPU used by processes other than ours during the run (cores, averaged).
    other_cores: float
    # Time to first token, from bench/loadgen.py's streams mode only.
    ttft_p50_us: float = 0.0
    ttft_p99_us: float = 0.0


@dataclass
class ScenarioResult:
    scenario: Scenario
    runs: list[Run] = field(default_factory=list)
    chunks_per_response: dict[str, int] = field(default_factory=dict)
    peak_rss_kib: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": asdict(self.scenario),
            "runs": [asdict(run) for run in self.runs],
            "chunks_per_response": self.chunks_per_response,
            "peak_rss_kib": self.peak_rss_kib,
            "notes": self.notes,
        }


@dataclass
class _Live:
    """A started target: its process (None for direct) and base URL."""

    name: str
    child: Child | None
    url: str


def run_scenario(
    scenario: Scenario, targets: list[Target], settings: Settings, tmp: Path
) -> ScenarioResult:
    result = ScenarioResult(scenario)
    with contextlib.ExitStack() as stack:
        upstream, upstream_url = _start_upstream(scenario, tmp, settings.load_core)
        stack.callback(upstream.stop)
        live = _start_targets(targets, upstream_url, tmp, settings, result, stack)
        if not live:
            return result
        if scenario.is_stream:
            _check_chunks(scenario, live, result)

        script = _write_load_script(scenario, tmp)
        for target in live:
            _log(f"  warm-up {target.name}")
            _wrk(target, script, scenario, settings.warmup_s, settings)
        for rep in range(settings.reps):
            # Rotate who goes first so no target always follows the same one.
            shift = rep % len(live)
            for target in live[shift:] + live[:shift]:
                run = _measure(target, upstream, script, scenario, settings, rep)
                _log(_describe(run))
                result.runs.append(run)

        for target in live:
            if target.child is not None:
                result.peak_rss_kib[target.name] = procs.peak_rss_kib(target.child.pid)
    return result


def _start_upstream(
    scenario: Scenario, tmp: Path, core: int | None
) -> tuple[Child, str]:
    if scenario.upstream == "nginx":
        return upstreams.start_nginx(tmp, core)
    if scenario.upstream == "sim-paced":
        return upstreams.start_sim(tmp, core, PACED_SIM_FLAGS)
    return upstreams.start_sim(tmp, core)


def _write_load_script(scenario: Scenario, tmp: Path) -> Path:
    """wrk's Lua script, or the raw body bench/loadgen.py sends."""
    if scenario.load == "wrk":
        return wrk.write_script(tmp / f"{scenario.key}.lua", scenario.body)
    path = tmp / f"{scenario.key}.json"
    path.write_text(scenario.body)
    return path


def _start_targets(
    targets: list[Target],
    upstream_url: str,
    tmp: Path,
    settings: Settings,
    result: ScenarioResult,
    stack: contextlib.ExitStack,
) -> list[_Live]:
    live = []
    for target in targets:
        try:
            child, url = target.start(upstream_url, tmp, settings.gateway_core)
        except RuntimeError as exc:
            result.notes.append(f"{target.name} did not start: {exc}")
            _log(result.notes[-1])
            continue
        if child is not None:
            stack.callback(child.stop)
        live.append(_Live(target.name, child, url))
    return live


def _check_chunks(
    scenario: Scenario, live: list[_Live], result: ScenarioResult
) -> None:
    for target in live:
        count = count_chunks(target.url, scenario.body)
        result.chunks_per_response[target.name] = count
        _log(f"  {target.name}: {count} SSE chunks per response")
    if len(set(result.chunks_per_response.values())) > 1:
        result.notes.append(
            f"chunk counts differ between targets: {result.chunks_per_response}"
        )


def _wrk(
    target: _Live, script: Path, scenario: Scenario, seconds: int, settings: Settings
) -> wrk.WrkResult:
    url = target.url + CHAT_PATH
    if scenario.load == "wrk":
        return wrk.run(url, script, scenario.connections, seconds, settings.load_core)
    return loadgen.run(
        scenario.load,
        url,
        script,
        connections=scenario.connections,
        duration_s=seconds,
        core=settings.load_core,
        rate=scenario.rate,
        stagger_s=scenario.stagger_s,
    )


def _measure(
    target: _Live,
    upstream: Child,
    script: Path,
    scenario: Scenario,
    settings: Settings,
    rep: int,
) -> Run:
    ours_before = _our_cpu(target, upstream)
    busy_before = sum(procs.busy_seconds_per_core().values())
    outcome = _wrk(target, script, scenario, settings.duration_s, settings)
    busy = sum(procs.busy_seconds_per_core().values()) - busy_before
    ours = [after - before for after, before in zip(
        _our_cpu(target, upstream), ours_before, strict=True
    )]  # fmt: skip

    other_s = busy - sum(ours) - outcome.wrk_cpu_s
    return Run(
        scenario=scenario.key,
        target=target.name,
        rep=rep,
        requests=outcome.requests,
        duration_s=outcome.duration_s,
        requests_per_s=outcome.requests_per_s,
        errors=outcome.errors,
        p50_us=outcome.p50_us,
        p99_us=outcome.p99_us,
        gateway_cpu_s=ours[0],
        other_cores=max(other_s, 0.0) / outcome.duration_s,
        ttft_p50_us=outcome.ttft_p50_us,
        ttft_p99_us=outcome.ttft_p99_us,
    )


def _our_cpu(target: _Live, upstream: Child) -> tuple[float, float]:
    gateway = procs.cpu_seconds(target.child.pid) if target.child else 0.0
    return gateway, procs.cpu_seconds(upstream.pid)


def _describe(run: Run) -> str:
    line = (
        f"  {run.scenario} rep {run.rep} {run.target:9} "
        f"{run.requests_per_s:9.0f} req/s  p50 {run.p50_us:7.0f} µs  "
        f"p99 {run.p99_us:7.0f} µs  other load {run.other_cores:.2f} cores"
    )
    if run.ttft_p50_us:
        line += f"  ttft p50 {run.ttft_p50_us:.0f} p99 {run.ttft_p99_us:.0f} µs"
    if run.requests and run.gateway_cpu_s:
        line += f"  cpu {run.gateway_cpu_s / run.requests * 1e6:.0f} µs/req"
    if run.errors:
        line += f"  ERRORS {run.errors}"
    return line


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
