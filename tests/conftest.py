"""Shared fixtures: real `smg sim` workers and gateways as child processes."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.procs import Proc, start_gateway, start_sim

MODEL = "sim-model"


def http_json(url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """GET (or POST with `body`) and decode a JSON answer; raises on 4xx/5xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def sim_stats(sim: Proc) -> dict[str, Any]:
    return http_json(sim.url + "/sim/stats")  # type: ignore[no-any-return]


def last_request(sim: Proc, path: str) -> dict[str, Any]:
    return sim_stats(sim)["last_requests"][path]  # type: ignore[no-any-return]


def set_faults(sim: Proc, **faults: Any) -> None:
    http_json(sim.url + "/sim/faults", faults)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Processes started in a test; all stopped at its end."""
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def sim_factory(procs: list[Proc]) -> Callable[..., Proc]:
    def make(*flags: str, model: str = MODEL, fast: bool = True) -> Proc:
        speed = ("--fast",) if fast else ()
        proc = start_sim("--model", model, *speed, *flags)
        procs.append(proc)
        return proc

    return make


@pytest.fixture
def gateway_factory(procs: list[Proc]) -> Callable[..., Proc]:
    def make(
        *workers: Proc | str, flags: tuple[str, ...] = (), ready: bool = True
    ) -> Proc:
        urls = [w.url if isinstance(w, Proc) else w for w in workers]
        args = ["--worker-urls", *urls, "--worker-startup-check-interval", "1", *flags]
        proc = start_gateway(*args, ready=ready)
        procs.append(proc)
        return proc

    return make


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[Proc, list[Proc]]]:
    """A gateway (round robin) in front of two fast sims, shared by a module."""
    sims = [start_sim("--model", MODEL, "--fast", name=f"sim{i}") for i in range(2)]
    gateway = start_gateway(
        "--worker-urls",
        *[s.url for s in sims],
        "--policy",
        "round_robin",
        "--worker-startup-check-interval",
        "1",
    )
    yield gateway, sims
    gateway.stop()
    for sim in sims:
        sim.stop()
