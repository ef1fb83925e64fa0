"""Bad input never crashes or stalls the gateway, and memory comes back after."""

from __future__ import annotations

import http.client
import json
import random
import socket
import time
from collections.abc import Callable

import pytest

from tests.conftest import MODEL
from tests.procs import Proc

CHAT = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
).encode()


def rss_kib(proc: Proc) -> int:
    with open(f"/proc/{proc.popen.pid}/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1])


def healthy_chat(gateway: Proc) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    conn.request(
        "POST", "/v1/chat/completions", CHAT, {"content-type": "application/json"}
    )
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.fixture
def gateway(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> Proc:
    return gateway_factory(
        sim_factory(),
        flags=(
            "--header-read-timeout-secs",
            "1",
            "--max-payload-size",
            str(150 * 1024 * 1024),
        ),
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "sim-model", "messages": [{"role": "user", "content": "x"}',
        b'{"model": "sim-model", "messages": {"role": "user"}}',
        b'{"model": ["a"], "messages": []}',
        b'{"model": "sim-model", "messages": [], "max_tokens": "lots"}',
        b"\xc3\x28\xa0\xa1 not utf-8",
        b'{"model": "\xff\xfe", "messages": []}',
        b"null",
        b"1e999999",
        b'"just a string"',
        b"{" * 100_000,
    ],
)
def test_malformed_bodies_get_a_4xx(gateway: Proc, body: bytes) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    conn.request(
        "POST", "/v1/chat/completions", body, {"content-type": "application/json"}
    )
    resp = conn.getresponse()
    answer = resp.read()
    assert 400 <= resp.status < 500
    assert "error" in json.loads(answer)
    assert healthy_chat(gateway) == 200


def test_ten_thousand_random_bodies(gateway: Proc) -> None:
    rng = random.Random(42)
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    statuses: set[int] = set()
    for _ in range(10_000):
        body = rng.randbytes(rng.randint(0, 300))
        conn.request(
            "POST", "/v1/chat/completions", body, {"content-type": "application/json"}
        )
        resp = conn.getresponse()
        resp.read()
        statuses.add(resp.status)
    assert statuses <= {400}
    assert healthy_chat(gateway) == 200


def test_hundred_megabyte_body_gets_4xx_and_memory_returns(gateway: Proc) -> None:
    healthy_chat(gateway)
    baseline = rss_kib(gateway)
    junk = b"x" * (100 * 1024 * 1024)
    for _ in range(2):
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
        conn.request(
            "POST", "/v1/chat/completions", junk, {"content-type": "application/json"}
        )
        assert conn.getresponse().status == 400
        conn.close()
    time.sleep(0.5)
    assert healthy_chat(gateway) == 200
    assert rss_kib(gateway) - baseline < 40 * 1024


def test_slowloris_clients_are_cut_while_others_are_served(gateway: Proc) -> None:
    slow = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", gateway.port))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        slow.append(sock)
    assert healthy_chat(gateway) == 200
    time.sleep(2.5)
    for sock in slow:
        sock.settimeout(2)
        assert sock.recv(4096).startswith(b"HTTP/1.1 408")
        sock.close()
    assert healthy_chat(gateway) == 200
