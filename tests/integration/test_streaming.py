"""Streams pass through as bytes, end cleanly, and stop upstream when clients leave."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

from tests.conftest import MODEL, http_json, set_faults, sim_stats
from tests.procs import Proc


def stream_request(port: int, body: dict) -> socket.socket:
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
        % (len(payload), payload)
    )
    return sock


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_stream_bytes_are_identical_to_the_worker_stream(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 12,
        "stream": True,
        "seed": 3,
    }

    def sse_payload(port: int) -> bytes:
        with stream_request(port, body) as sock:
            raw = read_all(sock)
        head, _, chunked = raw.partition(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        return _dechunk(chunked)

    via_gateway = sse_payload(gateway.port)
    direct = sse_payload(sim.port)
    # Ids and timestamps differ per request; the frame structure must not.
    assert via_gateway.count(b"data: ") == direct.count(b"data: ")
    assert via_gateway.endswith(b"data: [DONE]\n\n")


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


def test_client_disconnect_aborts_upstream_and_releases_load(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory("--itl-base-ms", "20", "--itl-ms-per-running", "0", fast=False)
    gateway = gateway_factory(sim)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 500,
        "stream": True,
    }
    sock = stream_request(gateway.port, body)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    sock.close()

    assert wait_until(lambda: sim_stats(sim)["aborted"] == 1)
    workers = http_json(gateway.url + "/workers")["workers"]
    assert workers[0]["load"] == 0


def test_stream_cut_by_worker_ends_with_error_event_and_done(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim)
    set_faults(sim, drop_after_chunks=3)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 50,
        "stream": True,
    }
    with stream_request(gateway.port, body) as sock:
        payload = _dechunk(read_all(sock).partition(b"\r\n\r\n")[2])
    events = [e for e in payload.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    assert json.loads(events[-2][len(b"data: ") :])["error"]["type"] == "stream_error"
