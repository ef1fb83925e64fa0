"""Bootstrap fields injected into PD request bodies."""

from __future__ import annotations

import random

import pytest

from smg.routers.pd_injection import (
    ROOM_MASK,
    batch_size,
    bootstrap_host,
    inject_bootstrap,
)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://10.0.0.5:8000", "10.0.0.5"),
        ("http://prefill-0.svc:8000@3", "prefill-0.svc"),
        ("https://[::1]:9000", "::1"),
        ("not a url", "localhost"),
    ],
)
def test_bootstrap_host_is_the_url_host_without_dp_rank(url: str, host: str) -> None:
    assert bootstrap_host(url) == host


@pytest.mark.parametrize(
    ("path", "body", "size"),
    [
        ("/v1/chat/completions", {"n": 3}, 3),
        ("/v1/chat/completions", {"n": 1}, None),
        ("/v1/completions", {"prompt": ["a", "b"]}, 2),
        ("/v1/completions", {"prompt": [1, 2, 3]}, None),
        ("/generate", {"input_ids": [[1], [2], [3]]}, 3),
        ("/generate", {"text": "one"}, None),
        ("/v1/messages", {"n": 2}, None),
    ],
)
def test_batch_size_by_route(
    path: str, body: dict[str, object], size: int | None
) -> None:
    assert batch_size(path, body) == size


def test_single_request_gets_scalar_fields_and_a_63_bit_room() -> None:
    body = inject_bootstrap({}, "/generate", "h", None, random.Random(1))
    assert body["bootstrap_host"] == "h" and body["bootstrap_port"] is None
    assert 0 <= body["bootstrap_room"] <= ROOM_MASK


def test_batch_gets_arrays_with_distinct_rooms() -> None:
    body = inject_bootstrap(
        {"n": 3}, "/v1/chat/completions", "h", 8998, random.Random(2)
    )
    assert body["bootstrap_host"] == ["h"] * 3
    assert body["bootstrap_port"] == [8998] * 3
    assert len(set(body["bootstrap_room"])) == 3
