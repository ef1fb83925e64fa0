"""The memory soak: S2's load on smg-py for a long time, resident memory sampled.

A leak shows as resident memory that keeps climbing after the warm-up; a flat
series with a peak under the budget is the pass. The gateway's RSS (its process
tree, from /proc) is sampled every few seconds while wrk runs in a thread.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs, targets, upstreams, wrk
from bench.scenarios import CHAT_PATH, chat_body

SAMPLE_EVERY_S = 5.0
CONNECTIONS = 64
WARMUP_S = 5
# Peak resident memory the done-criteria allow, in MiB.
BUDGET_MIB = 100.0


@dataclass
class SoakResult:
    seconds: int
    processes: int
    # (seconds since the load started, RSS KiB) pairs.
    samples: list[tuple[float, int]] = field(default_factory=list)
    peak_kib: int = 0
    requests: int = 0
    errors: int = 0
    requests_per_s: float = 0.0

    def _window_mean_mib(self, first: bool) -> float:
        """Mean RSS over the first (or last) fifth of the samples, in MiB."""
        n = max(1, len(self.samples) // 5)
        window = self.samples[:n] if first else self.samples[-n:]
        return sum(kib for _, kib in window) / len(window) / 1024

    def summary(self) -> dict[str, float | int | bool]:
        start = self.samples[0][1] / 1024 if self.samples else 0.0
        end = self.samples[-1][1] / 1024 if self.samples else 0.0
        early, late = self._window_mean_mib(True), self._window_mean_mib(False)
        peak = self.peak_kib / 1024
        return {
            "seconds": self.seconds,
            "processes": self.processes,
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_s": round(self.requests_per_s, 1),
            "start_rss_mib": round(start, 1),
            "peak_rss_mib": round(peak, 1),
            "end_rss_mib": round(end, 1),
            "first_fifth_mean_mib": round(early, 1),
            "last_fifth_mean_mib": round(late, 1),
            "growth_mib": round(late - early, 1),
            "under_budget": peak < BUDGET_MIB,
        }

    def markdown(self) -> str:
        rows = ["| soak metric | value |", "|---|---:|"]
        rows += [f"| {key} | {value} |" for key, value in self.summary().items()]
        return "\n".join(rows)


def run_soak(
    seconds: int,
    tmp: Path,
    gateway_core: int | None,
    load_core: int | None,
    processes: int = 1,
) -> SoakResult:
    """Run the soak; raises RuntimeError when nginx or the gateway fails."""
    result = SoakResult(seconds, processes)
    script = wrk.write_script(tmp / "soak.lua", chat_body(stream=False, max_tokens=16))
    with contextlib.ExitStack() as stack:
        nginx, upstream_url = upstreams.start_nginx(tmp, load_core)
        stack.callback(nginx.stop)
        gateway, url = targets.start_smg_py(upstream_url, tmp, gateway_core, processes)
        stack.callback(gateway.stop)
        wrk.run(url + CHAT_PATH, script, CONNECTIONS, WARMUP_S, load_core)

        outcome: list[wrk.WrkResult] = []
        failure: list[BaseException] = []

        def load() -> None:
            try:
                outcome.append(
                    wrk.run(url + CHAT_PATH, script, CONNECTIONS, seconds, load_core)
                )
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=load, daemon=True)
        started = time.monotonic()
        thread.start()
        while thread.is_alive():
            rss = procs.rss_kib(gateway.pid)
            result.samples.append((round(time.monotonic() - started, 1), rss))
            _log(f"  soak {result.samples[-1][0]:6.0f} s  rss {rss / 1024:6.1f} MiB")
            thread.join(SAMPLE_EVERY_S)
        result.samples.append(
            (round(time.monotonic() - started, 1), procs.rss_kib(gateway.pid))
        )
        result.peak_kib = procs.peak_rss_kib(gateway.pid)
    if failure:
        raise RuntimeError(f"soak load failed: {failure[0]}")
    run = outcome[0]
    result.requests, result.errors = run.requests, run.errors
    result.requests_per_s = run.requests_per_s
    return result


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
