"""Bad input and bad workers get clear OpenAI-shaped errors; the gateway lives on."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable

import pytest

from tests.conftest import MODEL, set_faults
from tests.procs import Proc

CHAT = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 2,
}


def request(
    gateway: Proc,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def assert_error(status: int, data: bytes, expected_status: int, code: str) -> None:
    assert status == expected_status
    error = json.loads(data)["error"]
    assert error["code"] == code
    assert set(error) == {"message", "type", "code", "param"}
    kind = "server_error" if status >= 500 else "invalid_request_error"
    assert error["type"] == kind


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (
            b'{"messages": [{"role": "user", "content": "x"}]}',
            "missing_required_parameter",
        ),
        (b'{"model": "sim-model"}', "missing_required_parameter"),
        (b'{"model": "sim-model", "messages": []}', "empty_array"),
        (b'{"model": "sim-model", "messages": "hi"}', "invalid_type"),
        (b'{"model": 7, "messages": []}', "invalid_type"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
    ],
)
def test_bad_bodies_get_400(
    fleet: tuple[Proc, list[Proc]], body: bytes, code: str
) -> None:
    gateway, _ = fleet
    status, headers, data = request(gateway, "POST", "/v1/chat/completions", body)
    assert_error(status, data, 400, code)
    assert headers["x-smg-error-code"] == code


def test_unknown_model_is_404(fleet: tuple[Proc, list[Proc]]) -> None:
    gateway, _ = fleet
    body = json.dumps({**CHAT, "model": "no-such-model"}).encode()
    status, _, data = request(gateway, "POST", "/v1/chat/completions", body)
    assert_error(status, data, 404, "model_not_found")
    assert "/v1/models" in json.loads(data)["error"]["message"]


def test_unknown_path_is_404_and_wrong_method_405(
    fleet: tuple[Proc, list[Proc]],
) -> None:
    gateway, _ = fleet
    status, _, data = request(gateway, "GET", "/nope")
    assert_error(status, data, 404, "unknown_url")
    status, _, data = request(gateway, "GET", "/v1/chat/completions")
    assert_error(status, data, 405, "method_not_allowed")


def test_body_over_max_payload_is_413_and_gateway_keeps_serving(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = gateway_factory(sim_factory(), flags=("--max-payload-size", "1000"))
    big = json.dumps({**CHAT, "pad": "x" * 5000}).encode()
    status, _, data = request(gateway, "POST", "/v1/chat/completions", big)
    assert_error(status, data, 413, "request_body_too_large")
    status, _, _ = request(
        gateway, "POST", "/v1/chat/completions", json.dumps(CHAT).encode()
    )
    assert status == 200


def test_no_ready_worker_is_503(gateway_factory: Callable[..., Proc]) -> None:
    gateway = gateway_factory("http://127.0.0.1:9", ready=False)
    status, _, data = request(gateway, "GET", "/readiness")
    assert status == 503 and json.loads(data)["status"] == "not ready"
    status, _, data = request(
        gateway, "POST", "/v1/chat/completions", json.dumps(CHAT).encode()
    )
    assert_error(status, data, 503, "no_available_workers")


def test_hanging_worker_is_504(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim, flags=("--request-timeout-secs", "1"))
    set_faults(sim, hang=True)
    status, _, data = request(
        gateway, "POST", "/v1/chat/completions", json.dumps(CHAT).encode()
    )
    assert_error(status, data, 504, "call_upstream_timeout")


def test_dead_worker_is_502(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim)
    sim.stop()
    status, _, data = request(
        gateway, "POST", "/v1/chat/completions", json.dumps(CHAT).encode()
    )
    assert_error(status, data, 502, "call_upstream_connection_failed")
    status, _, _ = request(gateway, "GET", "/health")
    assert status == 200


def test_worker_error_status_is_relayed_verbatim(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sim = sim_factory()
    gateway = gateway_factory(sim)
    set_faults(sim, fail_rate=1.0, fail_status=503)
    status, headers, _ = request(
        gateway, "POST", "/v1/chat/completions", json.dumps(CHAT).encode()
    )
    assert status == 503
    assert headers["x-smg-routed-worker-id"] == sim.url


def test_malformed_http_gets_400_and_others_still_served(
    fleet: tuple[Proc, list[Proc]],
) -> None:
    import socket

    gateway, _ = fleet
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
    status, _, _ = request(gateway, "GET", "/health")
    assert status == 200
