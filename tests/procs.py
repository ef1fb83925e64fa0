"""Real processes for end-to-end tests: start, wait until they answer, stop.

Tests run the gateway and `smg sim` exactly as users do, as child processes on
loopback; nothing here imports the code under test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SMG = [sys.executable, "-m", "smg"]
LOG_DIR = Path(os.environ.get("SMG_TEST_LOG_DIR", "/tmp/smg-test-logs"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def consecutive_free_ports(count: int) -> int:
    """The first of `count` adjacent free ports (for `--workers N` metrics)."""
    for _ in range(100):
        first = free_port()
        if first + count > 65536:
            continue
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return first
    raise RuntimeError(f"no {count} adjacent free ports")


@dataclass
class Proc:
    """A child process with its port; `url` is its HTTP base address."""

    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def spawn(
    name: str, args: Sequence[str], port: int, env: dict[str, str] | None = None
) -> Proc:
    """Start `args` with output going to a log file named after `name`."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{name}-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    popen = subprocess.Popen(
        list(args),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    return Proc(name, port, popen, log_path)


def wait_http(
    proc: Proc, path: str = "/health", timeout: float = 20.0, status: int = 200
) -> None:
    """Wait until GET `path` answers `status`; raise with the log when it never does."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log()[-4000:]}")
        try:
            with urllib.request.urlopen(proc.url + path, timeout=2) as resp:
                if resp.status == status:
                    return
                last = str(resp.status)
        except urllib.error.HTTPError as exc:
            last = str(exc.code)
            if exc.code == status:
                return
        except (urllib.error.URLError, OSError) as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise TimeoutError(
        f"{proc.name} not answering {path} ({last}):\n{proc.log()[-4000:]}"
    )


def start_sim(*flags: str, name: str = "sim", port: int | None = None) -> Proc:
    """Start `smg sim` on a free port and wait until it is healthy."""
    port = port or free_port()
    proc = spawn(
        name, [*SMG, "sim", "--host", "127.0.0.1", "--port", str(port), *flags], port
    )
    wait_http(proc, "/health")
    return proc


def start_gateway(
    *flags: str, name: str = "gateway", ready: bool = True, port: int | None = None
) -> Proc:
    """Start the gateway on a free port; with `ready`, wait until /readiness is 200."""
    port = port or free_port()
    args = [*SMG, "launch", "--host", "127.0.0.1", "--port", str(port), *flags]
    metrics_port = None
    if "--prometheus-port" not in flags:
        metrics_port = free_port()
        args += metrics_flags(metrics_port)
    proc = spawn(name, args, port)
    proc.extra["metrics_port"] = metrics_port
    wait_http(proc, "/readiness" if ready else "/liveness", timeout=30)
    return proc


def metrics_flags(port: int | None = None) -> list[str]:
    """Put the /metrics listener on loopback at a free port.

    Its default, 0.0.0.0:29000, would collide between gateways that run at
    the same time (a module's shared fleet and a test's own gateway).
    """
    port = port or free_port()
    return ["--prometheus-host", "127.0.0.1", "--prometheus-port", str(port)]
