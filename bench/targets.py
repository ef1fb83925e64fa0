"""The targets the load generator hits: the upstream itself, and two gateways.

`direct` is the floor: the client talks to the upstream with nothing between.
`smg-py` is this repository's gateway; `smg-rust` is the released original,
installed in a venv of its own so its dependencies never mix with ours.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child, free_port, pinned, start, wait_ready
from bench.upstreams import MODEL

ORIGINAL_VERSION = "1.13.0"
DEFAULT_ORIGINAL_VENV = Path.home() / ".cache" / "smg-bench" / "venv-original"

# A first request through a gateway succeeds only once it has discovered the
# worker's model, so readiness is a real chat completion rather than /health.
READY_BODY = (
    '{"model":"' + MODEL + '","messages":[{"role":"user","content":"hi"}],'
    '"max_tokens":1}'
).encode()


@dataclass(frozen=True)
class Target:
    """One thing to measure; start returns its process (None for direct)."""

    name: str
    start: Callable[[str, Path, int | None], tuple[Child | None, str]]


# Both gateways route with this policy unless told otherwise: with one upstream
# every policy picks the same worker, and round_robin costs least in both.
DEFAULT_POLICY = "round_robin"


def start_direct(
    upstream_url: str, tmp: Path, core: int | None, policy: str = DEFAULT_POLICY
) -> tuple[None, str]:
    return None, upstream_url


def start_smg_py(
    upstream_url: str,
    tmp: Path,
    core: int | None,
    processes: int = 1,
    extra_flags: tuple[str, ...] = (),
    policy: str = DEFAULT_POLICY,
) -> tuple[Child, str]:
    port = free_port()
    # Features at their defaults (metrics on) except the access log, which the
    # done-criteria want off; the original logs no line per request at warn.
    argv = [
        sys.executable, "-m", "smg", "launch", "--worker-urls", upstream_url,
        "--policy", policy, "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warn", "--disable-access-log",
    ]  # fmt: skip
    if processes > 1:
        argv += ["--workers", str(processes)]
    # Extra flags for what-if runs, e.g. the cost of tracing:
    # SMG_BENCH_PY_FLAGS="--enable-trace" bench/run.py --scenarios s2
    argv += shlex.split(os.environ.get("SMG_BENCH_PY_FLAGS", ""))
    argv += extra_flags
    if _smg_py_has_metrics():
        # Its metrics listener defaults to a fixed port another copy may hold;
        # the original gets the same flags, so both pay for metrics alike.
        argv += _metrics_flags()
    return _start_gateway("smg-py", argv, port, tmp, core)


def start_smg_rust(
    upstream_url: str, tmp: Path, core: int | None, policy: str = DEFAULT_POLICY
) -> tuple[Child, str]:
    port = free_port()
    argv = [
        str(original_venv() / "bin" / "smg"), "launch", "--worker-urls",
        upstream_url, "--policy", policy, "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warn",
        *_metrics_flags(),
    ]  # fmt: skip
    return _start_gateway("smg-rust", argv, port, tmp, core)


def _metrics_flags() -> list[str]:
    # With --workers N, process i serves metrics on this port + i; the next
    # ports are free in practice, as free_port hands out ports at random.
    return ["--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port())]


@functools.cache
def _smg_py_has_metrics() -> bool:
    argv = [sys.executable, "-m", "smg", "launch", "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return "--prometheus-port" in result.stdout


def _start_gateway(
    name: str, argv: list[str], port: int, tmp: Path, core: int | None
) -> tuple[Child, str]:
    child = start(name, pinned(argv, core), tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(child, f"{url}/v1/chat/completions", 60, READY_BODY)
    except BaseException:
        child.stop()
        raise
    return child, url


def original_venv() -> Path:
    return Path(os.environ.get("SMG_BENCH_ORIGINAL_VENV", DEFAULT_ORIGINAL_VENV))


def ensure_original() -> str | None:
    """Install the original smg into its venv when missing.

    Returns None when it is usable, else a note saying why it is skipped.
    """
    venv = original_venv()
    if (venv / "bin" / "smg").exists():
        return None

    print(f"installing smg=={ORIGINAL_VERSION} into {venv} ...", file=sys.stderr)
    steps = [
        ["python3", "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", f"smg=={ORIGINAL_VERSION}"],
    ]
    for argv in steps:
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            return (
                f"smg-rust skipped: `{' '.join(argv)}` failed: "
                + (result.stderr.strip().splitlines() or ["no output"])[-1]
            )
    if not (venv / "bin" / "smg").exists():
        return f"smg-rust skipped: no smg command in {venv} after install"
    return None


TARGETS = {
    "direct": Target("direct", start_direct),
    "smg-py": Target("smg-py", start_smg_py),
    "smg-rust": Target("smg-rust", start_smg_rust),
}


def with_policy(target: Target, policy: str) -> Target:
    """The same target, its gateway routing with `policy`."""
    return Target(target.name, functools.partial(target.start, policy=policy))


def smg_py_variant(name: str, flags: tuple[str, ...]) -> Target:
    """smg-py with extra flags, measured beside the plain one in the same run."""
    return Target(name, functools.partial(start_smg_py, extra_flags=flags))


def smg_py_with(processes: int) -> Target:
    """smg-py run as `--workers processes` gateway processes on one port."""
    return Target("smg-py", functools.partial(start_smg_py, processes=processes))
