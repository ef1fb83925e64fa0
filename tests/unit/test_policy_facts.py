"""What routing reads from a request: token ids, routing keys, sizes."""

from __future__ import annotations

import pytest

from smg.policies.base import RequestFacts


def with_header(name: bytes, value: bytes) -> RequestFacts:
    return RequestFacts("m", "/v1/chat/completions", {"messages": []}, [(name, value)])


def test_input_ids_in_the_body_are_token_ids() -> None:
    facts = RequestFacts("m", "/generate", {"input_ids": [1, 2, 3]})
    assert facts.token_ids == [1, 2, 3] and facts.request_size == 3
    batch_of_one = RequestFacts("m", "/generate", {"input_ids": [[4, 5]]})
    assert batch_of_one.token_ids == [4, 5]


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (b"1,2,3", [1, 2, 3]),
        (b"1,x,3", None),
        (b"-1", None),
        (b"4294967296", None),
        (",".join(["1"] * 513).encode(), None),
        (b"", None),
    ],
)
def test_routing_tokens_header_is_validated(
    value: bytes, ids: list[int] | None
) -> None:
    assert with_header(b"x-smg-routing-tokens", value).token_ids == ids


def test_body_ids_win_over_the_header() -> None:
    facts = RequestFacts(
        "m", "/generate", {"input_ids": [9]}, [(b"x-smg-routing-tokens", b"1,2")]
    )
    assert facts.token_ids == [9]


def test_routing_key_takes_the_first_valid_header() -> None:
    facts = RequestFacts(
        "m",
        "/generate",
        {},
        [(b"x-a", b""), (b"x-b", "héllo".encode()), (b"x-c", b"later")],
    )
    assert facts.routing_key([b"x-a", b"x-b", b"x-c"]) == "héllo"
    assert facts.routing_key([b"x-missing"]) is None
    assert with_header(b"x-k", b"\xff\xfe").routing_key([b"x-k"]) is None


def test_size_falls_back_to_characters() -> None:
    assert RequestFacts("m", "/generate", {"text": "abcd"}).request_size == 4
