"""Drive wrk: a Lua script per request body, one run, exact numbers back.

wrk's human summary rounds and changes units, so the Lua `done` hook prints one
JSON line with raw counts and microsecond percentiles instead.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.procs import pinned

MARKER = "WRK_JSON "

LUA_TEMPLATE = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,' ..
    '"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,' ..
    '"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One load run: counts, latency percentiles (µs), the generator's own CPU.

    bench/loadgen.py returns the same record; only it fills the TTFT fields.
    """

    requests: int
    duration_s: float
    errors: int
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    wrk_cpu_s: float
    ttft_p50_us: float = 0.0
    ttft_p99_us: float = 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s


def write_script(path: Path, body: str) -> Path:
    path.write_text(LUA_TEMPLATE.format(body=body, marker=MARKER))
    return path


def run(
    url: str, script: Path, connections: int, duration_s: int, core: int | None
) -> WrkResult:
    """Run one wrk thread against url for duration_s seconds.

    Raises RuntimeError when wrk fails or prints no result line.
    """
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--timeout", "10s",
        "-s", str(script), url,
    ]  # fmt: skip
    popen = subprocess.Popen(
        pinned(argv, core), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert popen.stdout is not None  # guaranteed by stdout=PIPE
    output = popen.stdout.read().decode(errors="replace")
    # wait4 rather than wait: it also returns the CPU wrk itself used.
    _, status, usage = os.wait4(popen.pid, 0)
    popen.returncode = os.waitstatus_to_exitcode(status)
    if popen.returncode != 0:
        raise RuntimeError(f"wrk failed ({popen.returncode}):\n{output[-2000:]}")
    return _parse(output, usage)


def _parse(output: str, usage: resource.struct_rusage) -> WrkResult:
    for line in output.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no result line:\n{output[-2000:]}")

    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        errors=errors,
        p50_us=raw["p50_us"],
        p90_us=raw["p90_us"],
        p99_us=raw["p99_us"],
        mean_us=raw["mean_us"],
        wrk_cpu_s=usage.ru_utime + usage.ru_stime,
    )
