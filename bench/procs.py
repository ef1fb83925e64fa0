"""Processes the benchmark starts: free ports, pinning, readiness, /proc readings.

Every child runs in its own session (process group), so stopping it also stops
whatever it forked (nginx's worker, a gateway's helpers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port the OS reports free on 127.0.0.1 (it may be taken again later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(argv: Sequence[str], core: int | None) -> list[str]:
    """The command line run on one core with taskset, or unchanged when unpinned."""
    if core is None:
        return list(argv)
    return ["taskset", "-c", str(core), *argv]


@dataclass
class Child:
    """A started process group: its leader's pid and where its output went."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL it if it outlives the grace period."""
        if not self.is_running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait()


def start(name: str, argv: Sequence[str], log_dir: Path, **kw: object) -> Child:
    """Start argv in a new session with stdout and stderr sent to a log file."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kw,  # type: ignore[call-overload]
        )
    return Child(name, popen, log_path)


def wait_ready(child: Child, url: str, timeout_s: float, body: bytes | None) -> None:
    """Poll url (a POST when body is given) until it answers 200.

    Raises RuntimeError with the child's log tail when it exits or times out.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.is_running():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        if _answers_ok(url, body):
            return
        time.sleep(0.1)
    tail = child.log_tail()
    raise RuntimeError(f"{child.name} not ready after {timeout_s}s:\n{tail}")


def _answers_ok(url: str, body: bytes | None) -> bool:
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            response.read()
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def process_tree(pid: int) -> list[int]:
    """pid and every live descendant, read from /proc/<pid>/task/*/children."""
    found = [pid]
    for parent in found:
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of pid and its live descendants, in seconds."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{member}/stat").read_text()
            # Fields after the parenthesised name; the name itself may hold spaces.
            fields = stat.rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS_PER_S


def peak_rss_kib(pid: int) -> int:
    """VmHWM (peak resident memory) of pid and its live descendants, in KiB."""
    return _status_kib(pid, "VmHWM:")


def rss_kib(pid: int) -> int:
    """VmRSS (resident memory now) of pid and its live descendants, in KiB."""
    return _status_kib(pid, "VmRSS:")


def _status_kib(pid: int, field: str) -> int:
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
    return total


def busy_seconds_per_core() -> dict[int, float]:
    """CPU time each core has spent running tasks since boot, from /proc/stat."""
    busy: dict[int, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        ticks = [int(value) for value in values[:8]]
        # Everything but idle (3) and iowait (4). Interrupt time counts as busy:
        # the kernel charges loopback softirq work to the tasks' own CPU time too,
        # so leaving it out would make our processes look larger than the cores.
        busy[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS_PER_S
    return busy
