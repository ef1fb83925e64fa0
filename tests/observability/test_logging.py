"""Logs: JSON lines that parse, request ids on every request's records, no keys."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from smg.observability.access_log import ACCESS_LOGGER, AccessLog
from smg.observability.logging import (
    JsonFormatter,
    RedactingFormatter,
    RequestIdFilter,
)
from smg.observability.scope import RequestScope
from tests.observability.traffic import chat
from tests.procs import Proc

API_KEY = "sk-gateway-secret-4242"
CLIENT_KEY = "sk-client-guess-1717"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A private logger writing JSON through the gateway's filter and formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = RedactingFormatter(JsonFormatter())
    formatter.secrets.add(API_KEY)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("smg.test.capture")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_carry_the_current_request_id(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    scope = RequestScope("chatcmpl-abc").enter()
    logger.warning("upstream attempt failed; retrying", extra={"attempt": 1})
    scope.exit()
    logger.warning("outside any request")

    first, second = lines(stream)
    assert first["request_id"] == "chatcmpl-abc" and first["attempt"] == 1
    assert "request_id" not in second


def test_keys_and_bearer_tokens_never_reach_a_line(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.error("worker refused", extra={"reason": f"bad key {API_KEY}"})
    logger.error("client sent", extra={"header": f"Bearer {CLIENT_KEY}"})
    logger.error("raw", extra={"authorization": "anything"})

    text = stream.getvalue()
    assert API_KEY not in text and CLIENT_KEY not in text and "anything" not in text
    assert text.count("[redacted]") == 3


def test_a_disabled_access_log_writes_nothing(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        AccessLog(enabled=False).record("r1", "GET", "/health", 200, 0.001)
        AccessLog(enabled=True).record("r2", "GET", "/health", 200, 0.001)
    finally:
        access.removeHandler(handler)
        access.setLevel(logging.NOTSET)

    assert [r.__dict__["request_id"] for r in records] == ["r2"]


def _json_gateway(
    sim_factory: Callable[..., Proc],
    gateway_factory: Callable[..., Proc],
    *flags: str,
) -> Proc:
    sim = sim_factory()
    flags = ("--log-json", "--log-level", "debug", "--api-key", API_KEY, *flags)
    return gateway_factory(sim, flags=flags)


def _stopped_log(gateway: Proc) -> list[dict[str, Any]]:
    gateway.stop()
    text = gateway.log()
    assert API_KEY not in text and CLIENT_KEY not in text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_gateway_json_logs_parse_line_by_line_and_hold_no_key(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = _json_gateway(sim_factory, gateway_factory)
    good = {"authorization": f"Bearer {API_KEY}", "x-request-id": "req-good-1"}

    assert chat(gateway, headers=good) == 200
    assert chat(gateway, headers={"authorization": f"Bearer {CLIENT_KEY}"}) == 401

    records = _stopped_log(gateway)
    assert all({"timestamp", "level", "target", "message"} <= r.keys() for r in records)
    routed = [r for r in records if r["message"] == "routed"]
    assert [r["request_id"] for r in routed] == ["req-good-1"]


def test_access_log_has_one_line_per_request_with_its_id(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = _json_gateway(sim_factory, gateway_factory, "--enable-access-log")
    auth = {"authorization": f"Bearer {API_KEY}"}

    for i in range(3):
        assert chat(gateway, headers={**auth, "x-request-id": f"req-{i}"}) == 200

    access = [r for r in _stopped_log(gateway) if r["target"] == ACCESS_LOGGER]
    served = [r for r in access if r["path"] == "/v1/chat/completions"]
    assert [r["request_id"] for r in served] == ["req-0", "req-1", "req-2"]
    assert all(r["status"] == 200 and r["duration_ms"] > 0 for r in served)


def test_access_log_is_off_by_default(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    gateway = _json_gateway(sim_factory, gateway_factory)
    assert chat(gateway, headers={"authorization": f"Bearer {API_KEY}"}) == 200

    records = _stopped_log(gateway)

    assert not [r for r in records if r["target"] == ACCESS_LOGGER]
