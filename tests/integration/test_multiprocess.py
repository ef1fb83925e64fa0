"""`--workers 2`: two gateway processes share one port and stop together."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import MODEL, http_json
from tests.procs import Proc, consecutive_free_ports, start_gateway

REQUESTS = 40


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def is_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def wait_gone(pids: list[int], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(is_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(is_alive(pid) for pid in pids)


def metrics_text(metrics_port: int) -> str:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def served_requests(metrics_port: int) -> float:
    text = metrics_text(metrics_port)
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("smg_http_requests_total{")
        and 'path="/v1/chat/completions"' in line
    )


def wait_both_know_the_model(metrics_port: int, timeout_s: float = 10.0) -> None:
    """Readiness answers from one process; each discovers the worker on its own."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            texts = [metrics_text(metrics_port), metrics_text(metrics_port + 1)]
        except OSError:  # that process's metrics listener is not up yet
            texts = []
        if texts and all(f'model="{MODEL}"' in text for text in texts):
            return
        time.sleep(0.05)
    raise AssertionError("a gateway process never discovered the worker's model")


@pytest.fixture
def two_process_gateway(sim_factory: Callable[..., Proc]) -> Iterator[Proc]:
    sim = sim_factory()
    # The serving port and both metrics ports (port + i) in one free block, so
    # no other listener can take one of them in between.
    port = consecutive_free_ports(3)
    metrics_port = port + 1
    gateway = start_gateway(
        "--worker-urls", sim.url, "--policy", "round_robin", "--workers", "2",
        "--prometheus-host", "127.0.0.1", "--prometheus-port", str(metrics_port),
        port=port,
    )  # fmt: skip
    gateway.extra["metrics_port"] = metrics_port
    yield gateway
    # The gateway leads its own session: this reaches every process it forked.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(gateway.popen.pid, signal.SIGKILL)
    gateway.popen.wait()


def test_two_processes_share_the_port_and_both_serve(
    two_process_gateway: Proc,
) -> None:
    gateway = two_process_gateway
    assert len(children(gateway.popen.pid)) == 2
    port = int(str(gateway.extra["metrics_port"]))
    wait_both_know_the_model(port)
    before = [served_requests(port), served_requests(port + 1)]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(REQUESTS):
        # A new connection each time, so the kernel spreads them over both.
        answer = http_json(gateway.url + "/v1/chat/completions", body)
        assert answer["choices"][0]["message"]["content"]

    after = [served_requests(port), served_requests(port + 1)]
    served = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(served) == REQUESTS
    assert all(count > 0 for count in served)


def test_sigterm_stops_every_process(two_process_gateway: Proc) -> None:
    gateway = two_process_gateway
    pids = children(gateway.popen.pid)
    gateway.popen.send_signal(signal.SIGTERM)
    assert gateway.popen.wait(timeout=20) == 0
    wait_gone(pids)


def test_a_dying_process_stops_the_rest(two_process_gateway: Proc) -> None:
    gateway = two_process_gateway
    first, second = children(gateway.popen.pid)
    os.kill(first, signal.SIGKILL)
    assert gateway.popen.wait(timeout=20) == 128 + signal.SIGKILL
    wait_gone([second])
