"""Small helpers for answers the gateway writes itself (not relayed ones)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from smg.http.server import Request

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"


def send_json(
    request: Request,
    request_id: str,
    status: int,
    data: Any,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    headers = [(b"content-type", JSON), (b"x-request-id", request_id.encode("ascii"))]
    headers.extend(extra)
    request.respond(status, headers, orjson.dumps(data))


def send_text(request: Request, request_id: str, status: int, text: str) -> None:
    headers = [(b"content-type", TEXT), (b"x-request-id", request_id.encode("ascii"))]
    request.respond(status, headers, text.encode())
