"""SIGTERM drains: readiness flips at once and no stream in flight is cut."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable

from tests.conftest import MODEL
from tests.procs import Proc


def stream_to_end(port: int, results: list[bytes]) -> None:
    body = json.dumps(
        {
            "model": MODEL,
            "stream": True,
            "max_tokens": 60,
            "messages": [{"role": "user", "content": "x"}],
        }
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    results.append(data)


def test_sigterm_lets_fifty_streams_finish(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory(
        "--itl-base-ms",
        "20",
        "--itl-ms-per-running",
        "0",
        "--max-running-requests",
        "64",
        fast=False,
    )
    gateway = gateway_factory(sim)
    results: list[bytes] = []
    threads = [
        threading.Thread(target=stream_to_end, args=(gateway.port, results))
        for _ in range(50)
    ]
    for t in threads:
        t.start()
    time.sleep(0.5)
    gateway.popen.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 50
    assert all(b"data: [DONE]" in r for r in results)
    assert gateway.popen.wait(timeout=20) == 0


def test_readiness_turns_503_while_draining(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    import urllib.error
    import urllib.request

    sim = sim_factory("--itl-base-ms", "30", "--itl-ms-per-running", "0", fast=False)
    gateway = gateway_factory(sim)
    results: list[bytes] = []
    worker = threading.Thread(target=stream_to_end, args=(gateway.port, results))
    worker.start()
    time.sleep(0.3)
    gateway.popen.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    try:
        urllib.request.urlopen(gateway.url + "/readiness", timeout=5)
        status = 200
    except urllib.error.HTTPError as exc:
        status = exc.code
        assert json.loads(exc.read())["reason"] == "draining"
    assert status == 503
    worker.join(timeout=30)
    assert results and b"data: [DONE]" in results[0]
