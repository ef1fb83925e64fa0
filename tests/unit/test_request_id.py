from __future__ import annotations

import pytest

from smg.config import DEFAULT_REQUEST_ID_HEADERS
from smg.server.request_id import RequestIdSource


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/v1/chat/completions", "chatcmpl-"),
        ("/v1/completions", "cmpl-"),
        ("/generate", "gnt-"),
        ("/v1/responses", "resp-"),
        ("/v1/messages", "msg_"),
        ("/v1/embeddings", "req-"),
    ],
)
def test_minted_ids_carry_the_route_prefix(path: str, prefix: str) -> None:
    request_id = RequestIdSource(DEFAULT_REQUEST_ID_HEADERS).resolve([], path)
    assert request_id.startswith(prefix) and len(request_id) == len(prefix) + 24
    assert request_id[len(prefix) :].isalnum()


def test_first_valid_header_wins_in_configured_order() -> None:
    source = RequestIdSource(("x-a", "x-b"))
    headers = [(b"x-b", b"second"), (b"x-a", b"first")]
    assert source.resolve(headers, "/generate") == "first"


@pytest.mark.parametrize("value", [b"", b"a" * 129, b"has space", b"caf\xc3\xa9"])
def test_invalid_client_ids_are_replaced(value: bytes) -> None:
    source = RequestIdSource(("x-request-id",))
    assert source.resolve([(b"x-request-id", value)], "/generate").startswith("gnt-")
