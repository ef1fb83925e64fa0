"""The simulated fleet and the gateways put in front of it.

Sims get a bounded prefix cache and a latency model in which a prefill costs
per uncached token, so a cache hit is visible in time to first token. Each
gateway (this one, or the released original) is started once per policy and
stopped before the next.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import Child, free_port, start, wait_ready
from bench.routing.workloads import MODEL
from bench.targets import original_venv

# Per worker: fits about a quarter of each workload's working set.
SIM_CACHE_TOKENS = 12_000
# The sim prefills concurrent requests in parallel at no extra cost, so a
# bounded batch is what makes a crowded worker slower, as on a real engine:
# twice the fair share of the client's concurrency queues.
SIM_MAX_RUNNING = 8
SIM_LATENCY = (
    "--ttft-base-ms", "5", "--prefill-ms-per-token", "0.05",
    "--itl-base-ms", "2", "--itl-ms-per-running", "0.05",
)  # fmt: skip
READY_BODY = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
).encode()


@dataclass
class Sim:
    child: Child
    url: str


@dataclass(frozen=True)
class GatewaySpec:
    """One benchmarked configuration: which gateway, which policy, which flags."""

    gateway: str  # "smg-py" or "smg-rust"
    policy: str
    flags: tuple[str, ...] = ()
    # Keyed policies get the workload's user or conversation as routing key.
    send_keys: bool = False

    @property
    def label(self) -> str:
        return f"{self.gateway} {self.policy}"


def start_sims(count: int, log_dir: Path) -> list[Sim]:
    sims = []
    for index in range(count):
        port = free_port()
        argv = [
            sys.executable, "-m", "smg", "sim", "--host", "127.0.0.1",
            "--port", str(port), "--model", MODEL, "--seed", str(index),
            "--cache-tokens", str(SIM_CACHE_TOKENS), "--log-level", "warning",
            "--max-running-requests", str(SIM_MAX_RUNNING),
            *SIM_LATENCY,
        ]  # fmt: skip
        child = start(f"sim{index}", argv, log_dir)
        url = f"http://127.0.0.1:{port}"
        sims.append(Sim(child, url))
        wait_ready(child, url + "/health", 30, None)
    return sims


def start_gateway(
    spec: GatewaySpec, sims: list[Sim], log_dir: Path
) -> tuple[Child, str]:
    port = free_port()
    common = [
        "--worker-urls", *[s.url for s in sims], "--policy", spec.policy,
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warn",
        "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port()),
        *spec.flags,
    ]  # fmt: skip
    if spec.gateway == "smg-rust":
        argv = [str(original_venv() / "bin" / "smg"), "launch", *common]
    else:
        argv = [sys.executable, "-m", "smg", "launch", *common]
    child = start(f"{spec.gateway}-{spec.policy}", argv, log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(child, url + "/v1/chat/completions", 60, READY_BODY)
    except BaseException:
        child.stop()
        raise
    return child, url


def original_available() -> bool:
    return (original_venv() / "bin" / "smg").exists()


def reset(sims: list[Sim]) -> None:
    """Empty every prefix cache and zero the counters before a workload."""
    for sim in sims:
        _post(sim.url + "/flush_cache")
        _post(sim.url + "/sim/reset")


def stats(sims: list[Sim]) -> list[dict[str, Any]]:
    result = []
    for sim in sims:
        with urllib.request.urlopen(sim.url + "/sim/stats", timeout=10) as resp:
            result.append(json.loads(resp.read()))
    return result


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:
        resp.read()
