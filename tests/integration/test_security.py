"""Keys, roles, CORS and TLS, against a real gateway."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import MODEL
from tests.procs import SMG, Proc, free_port, spawn, wait_http

CHAT = json.dumps(
    {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
).encode()
ADMIN_KEY = "adm-secret-123"
USER_KEY = "usr-secret-456"
API_KEY = "data-secret-789"


def call(
    gateway: Proc,
    method: str,
    path: str,
    key: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=15)
    sent = {"content-type": "application/json", **(headers or {})}
    if key:
        sent["authorization"] = f"Bearer {key}"
    conn.request(method, path, body, sent)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}


@pytest.fixture
def secured(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> Proc:
    return gateway_factory(
        sim_factory(),
        flags=(
            "--api-key",
            API_KEY,
            "--control-plane-api-keys",
            f"a1:ops:admin:{ADMIN_KEY}",
            f"u1:viewer:user:{USER_KEY}",
        ),
    )


def test_serving_routes_need_the_key(secured: Proc) -> None:
    assert call(secured, "POST", "/v1/chat/completions", body=CHAT)[0] == 401
    assert call(secured, "POST", "/v1/chat/completions", "wrong", CHAT)[0] == 401
    assert call(secured, "POST", "/v1/chat/completions", API_KEY, CHAT)[0] == 200


@pytest.mark.parametrize("path", ["/health", "/liveness", "/readiness", "/v1/models"])
def test_public_routes_are_open(secured: Proc, path: str) -> None:
    assert call(secured, "GET", path)[0] == 200


def test_control_plane_refuses_serving_key_and_checks_roles(secured: Proc) -> None:
    assert call(secured, "GET", "/workers")[0] == 401
    assert call(secured, "GET", "/workers", API_KEY)[0] == 401
    assert call(secured, "GET", "/workers", USER_KEY)[0] == 200
    assert call(secured, "POST", "/flush_cache", USER_KEY, b"{}")[0] == 403
    assert call(secured, "POST", "/flush_cache", ADMIN_KEY, b"{}")[0] == 200


def test_keys_never_reach_the_log(secured: Proc) -> None:
    call(secured, "POST", "/v1/chat/completions", "wrong-key-abc", CHAT)
    call(secured, "GET", "/workers", ADMIN_KEY)
    log = secured.log()
    for secret in (API_KEY, ADMIN_KEY, USER_KEY, "wrong-key-abc"):
        assert secret not in log


def test_cors_only_for_listed_origins(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = gateway_factory(
        sim_factory(), flags=("--cors-allowed-origins", "https://app.example")
    )
    status, headers = call(
        gateway,
        "OPTIONS",
        "/v1/chat/completions",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
        },
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://app.example"
    status, headers = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        body=CHAT,
        headers={"origin": "https://evil.example"},
    )
    assert status == 200 and "access-control-allow-origin" not in headers


def make_cert(
    directory: Path, name: str, ca: tuple[Path, Path] | None = None
) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    subject = ["-subj", f"/CN={name}"]
    if ca is None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key,
                "-out",
                cert,
                "-days",
                "1",
                *subject,
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ],
            check=True,
            capture_output=True,
        )
        return key, cert
    csr = directory / f"{name}.csr"
    ext = directory / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(
        [
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            *subject,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca[1],
            "-CAkey",
            ca[0],
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "1",
            "-extfile",
            ext,
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def https_status(
    port: int,
    context: ssl.SSLContext,
    path: str = "/readiness",
    body: bytes | None = None,
) -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    conn.request(
        "POST" if body else "GET", path, body, {"content-type": "application/json"}
    )
    status = conn.getresponse().status
    conn.close()
    return status


def wait_https(port: int, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if https_status(port, context) == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("TLS gateway never became ready")


def test_gateway_serves_tls(
    tmp_path: Path, sim_factory: Callable[..., Proc], procs: list[Proc]
) -> None:
    key, cert = make_cert(tmp_path, "gateway")
    sim = sim_factory()
    port = free_port()
    procs.append(
        spawn(
            "tls-gateway",
            [
                *SMG,
                "--worker-urls",
                sim.url,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--tls-cert-path",
                str(cert),
                "--tls-key-path",
                str(key),
            ],
            port,
        )
    )
    trusting = ssl.create_default_context(cafile=str(cert))
    wait_https(port, trusting)
    assert https_status(port, trusting, "/v1/chat/completions", CHAT) == 200
    with pytest.raises(ssl.SSLError):
        https_status(port, ssl.create_default_context())


def test_mtls_to_workers(tmp_path: Path, procs: list[Proc]) -> None:
    """The worker demands a client certificate; the gateway presents one."""
    ca = make_cert(tmp_path, "test-ca")
    server_key, server_cert = make_cert(tmp_path, "worker", ca)
    client_key, client_cert = make_cert(tmp_path, "gateway-client", ca)
    port = free_port()
    sim = spawn(
        "tls-sim",
        [
            *SMG,
            "sim",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model",
            MODEL,
            "--fast",
            "--tls-cert-path",
            str(server_cert),
            "--tls-key-path",
            str(server_key),
            "--tls-client-ca-path",
            str(ca[1]),
        ],
        port,
    )
    procs.append(sim)
    worker_url = f"https://127.0.0.1:{port}"

    def gateway(*tls_flags: str) -> Proc:
        gw_port = free_port()
        proc = spawn(
            "mtls-gateway",
            [
                *SMG,
                "--worker-urls",
                worker_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(gw_port),
                "--worker-startup-check-interval",
                "1",
                "--prometheus-port",
                str(free_port()),
                *tls_flags,
            ],
            gw_port,
        )
        procs.append(proc)
        return proc

    trusted = gateway(
        "--ca-cert-paths",
        str(ca[1]),
        "--client-cert-path",
        str(client_cert),
        "--client-key-path",
        str(client_key),
    )
    wait_http(trusted, "/readiness", timeout=20)
    assert call(trusted, "POST", "/v1/chat/completions", body=CHAT)[0] == 200

    anonymous = gateway("--ca-cert-paths", str(ca[1]))
    wait_http(anonymous, "/liveness")
    time.sleep(1.5)
    assert call(anonymous, "GET", "/readiness")[0] == 503
