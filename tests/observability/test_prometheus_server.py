"""A real Prometheus server scrapes the gateway; its HTTP API gives the request rate.

Needs Debian's `prometheus` (scripts/install-test-services.sh installs it).
Skipped where it is missing, unless SMG_REQUIRE_PROMETHEUS=1 (as in CI) makes
its absence a failure. One Prometheus and one gateway serve the whole module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MODEL
from tests.observability.traffic import chat
from tests.procs import Proc, free_port, spawn, start_gateway, start_sim, wait_http

pytestmark = pytest.mark.prometheus
SCRAPE_INTERVAL_S = 1
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def prometheus_binary(name: str = "prometheus") -> str:
    binary = shutil.which(name)
    if binary is None:
        message = f"{name} is not installed (scripts/install-test-services.sh)"
        if os.environ.get("SMG_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Proc, Proc]]:
    """(gateway, prometheus): one sim, one gateway, Prometheus scraping it."""
    binary = prometheus_binary()
    sim = start_sim("--model", MODEL, "--fast")
    gateway = start_gateway("--worker-urls", sim.url, "--policy", "round_robin")
    with tempfile.TemporaryDirectory() as tmp:
        prometheus = _start_prometheus(binary, gateway, Path(tmp))
        try:
            wait_value(prometheus, 'up{job="smg"}', lambda v: v == 1, timeout=20)
            yield gateway, prometheus
        finally:
            for proc in (prometheus, gateway, sim):
                proc.stop()


def _start_prometheus(binary: str, gateway: Proc, tmp: Path) -> Proc:
    target = f"127.0.0.1:{gateway.extra['metrics_port']}"
    config = tmp / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\n"
        "scrape_configs:\n  - job_name: smg\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    prometheus = spawn("prometheus", args, port)
    wait_http(prometheus, "/-/ready", timeout=30)
    return prometheus


def query(prometheus: Proc, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as resp:
        answer = json.loads(resp.read())
    assert answer["status"] == "success", answer
    return answer["data"]["result"]  # type: ignore[no-any-return]


def wait_value(
    prometheus: Proc, promql: str, accept: Callable[[float], bool], timeout: float
) -> float:
    """Poll a query until its single value passes `accept`; return that value."""
    deadline = time.monotonic() + timeout
    value = float("nan")
    while time.monotonic() < deadline:
        result = query(prometheus, promql)
        if result:
            value = float(result[0]["value"][1])
            if accept(value):
                return value
        time.sleep(0.2)
    raise AssertionError(f"{promql} never passed; last value {value}")


def send_for(gateway: Proc, seconds: float) -> int:
    """Send chat requests one after another for `seconds`; return how many."""
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert chat(gateway) == 200
        sent += 1
        time.sleep(0.02)
    return sent


def test_prometheus_reports_the_gateways_request_rate(stack: tuple[Proc, Proc]) -> None:
    gateway, prometheus = stack
    before = wait_value(
        prometheus, "sum(smg_worker_requests_total)", lambda v: v >= 0, timeout=10
    )

    sent = send_for(gateway, 4 * SCRAPE_INTERVAL_S)

    total = "sum(smg_worker_requests_total)"
    wait_value(prometheus, total, lambda v: v == before + sent, timeout=10)
    rate = "sum(rate(smg_worker_requests_total[10s]))"
    assert wait_value(prometheus, rate, lambda v: v > 0, timeout=10) > 0


def test_prometheus_reports_the_http_request_rate_by_route(
    stack: tuple[Proc, Proc],
) -> None:
    gateway, prometheus = stack
    chat_path = 'path="/v1/chat/completions"'
    total = f"sum(smg_http_requests_total{{{chat_path}}}) or vector(0)"
    before = wait_value(prometheus, total, lambda v: v >= 0, timeout=10)

    sent = send_for(gateway, 4 * SCRAPE_INTERVAL_S)

    wait_value(prometheus, total, lambda v: v == before + sent, timeout=10)
    rate = f"sum(rate(smg_http_requests_total{{{chat_path}}}[10s]))"
    assert wait_value(prometheus, rate, lambda v: v > 0, timeout=10) > 0


def test_every_dashboard_query_is_valid_promql(stack: tuple[Proc, Proc]) -> None:
    _, prometheus = stack
    dashboard = json.loads((DEPLOY / "grafana" / "smg-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    substitutions = {"$__rate_interval": "1m", "$job": ".*", "$instance": ".*"}

    for expr in exprs:
        for variable, value in {**substitutions, "$model": ".*"}.items():
            expr = expr.replace(variable, value)
        query(prometheus, expr)

    assert len(exprs) >= 20


@pytest.mark.parametrize(
    ("check", "name"), [("config", "prometheus.yml"), ("rules", "smg-alerts.yml")]
)
def test_shipped_prometheus_files_pass_promtool(check: str, name: str) -> None:
    promtool = prometheus_binary("promtool")
    path = DEPLOY / "prometheus" / name

    result = subprocess.run(
        [promtool, "check", check, str(path)], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr
