"""The worker REST API against live workers: add, inspect, update, drain, remove."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.conftest import MODEL, set_faults
from tests.procs import Proc


def call(
    gateway: Proc, method: str, path: str, body: Any = None
) -> tuple[int, dict, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        gateway.url + path,
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def wait_for(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_add_worker_is_accepted_and_becomes_routable(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    first, second = sim_factory(), sim_factory()
    gateway = gateway_factory(first)
    status, headers, body = call(gateway, "POST", "/workers", {"url": second.url})
    assert status == 202 and body["status"] == "accepted"
    assert headers["location"] == f"/workers/{body['worker_id']}"
    assert wait_for(
        lambda: call(gateway, "GET", headers["location"])[2]["status"] == "ready"
    )
    listed = call(gateway, "GET", "/workers")[2]
    assert {w["url"] for w in listed["workers"]} == {first.url, second.url}


def test_duplicate_and_invalid_requests(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim)
    status, _, body = call(gateway, "POST", "/workers", {"url": sim.url})
    assert status == 409 and body["code"] == "WORKER_ALREADY_EXISTS"
    assert call(gateway, "POST", "/workers", {"url": "ftp://x"})[0] == 400
    status, _, body = call(gateway, "GET", "/workers/not-a-uuid")
    assert status == 400 and body["code"] == "BAD_REQUEST"
    status, _, body = call(
        gateway, "GET", "/workers/00000000-0000-0000-0000-000000000000"
    )
    assert status == 404 and body["code"] == "WORKER_NOT_FOUND"


def test_patch_updates_labels_and_put_keeps_url(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim)
    worker_id = call(gateway, "GET", "/workers")[2]["workers"][0]["id"]
    path = f"/workers/{worker_id}"
    assert (
        call(gateway, "PATCH", path, {"labels": {"zone": "a"}, "priority": 7})[0] == 202
    )
    info = call(gateway, "GET", path)[2]
    assert info["labels"]["zone"] == "a" and info["priority"] == 7
    assert call(gateway, "PUT", path, {"url": "http://127.0.0.1:1"})[0] == 400


def test_delete_drains_in_flight_requests_then_removes(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    set_faults(sim, delay_ms=700)
    gateway = gateway_factory(sim)
    worker_id = call(gateway, "GET", "/workers")[2]["workers"][0]["id"]
    result: list[int] = []
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    slow = threading.Thread(
        target=lambda: result.append(
            call(gateway, "POST", "/v1/chat/completions", chat)[0]
        )
    )
    slow.start()
    time.sleep(0.2)
    assert call(gateway, "DELETE", f"/workers/{worker_id}")[0] == 202
    assert call(gateway, "GET", f"/workers/{worker_id}")[2]["status"] == "draining"
    assert call(gateway, "POST", "/v1/chat/completions", chat)[0] == 503
    slow.join()
    assert result == [200]
    assert wait_for(lambda: call(gateway, "GET", "/workers")[2]["total"] == 0)
