"""Requests sent to a gateway in observability tests; errors are returned."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.conftest import MODEL
from tests.procs import Proc


def post(
    gateway: Proc,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """POST `body` (JSON, or raw bytes) and return (status, body) whatever it is."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        gateway.url + path, data=data, headers=headers or {}, method="POST"
    )
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get(gateway: Proc, path: str) -> int:
    try:
        with urllib.request.urlopen(gateway.url + path, timeout=20) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def chat(
    gateway: Proc,
    model: str = MODEL,
    stream: bool = False,
    headers: dict[str, str] | None = None,
) -> int:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 4,
        "stream": stream,
    }
    status, _ = post(gateway, "/v1/chat/completions", body, headers)
    return status
