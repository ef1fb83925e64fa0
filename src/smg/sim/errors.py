"""Errors the simulator answers, in the OpenAI shape the engines use.

Bodies are `{"error": {"message", "type", "code", "param"}}`. No gateway headers are
added: the simulator stands in for a worker, not for the gateway.
"""

from __future__ import annotations

import orjson

from smg.http.server import Headers

JSON_HEADERS: Headers = [(b"content-type", b"application/json")]


class SimError(Exception):
    """An answer with an error status, raised anywhere below the router."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "internal_error")
        self.param = param


_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    503: "service_unavailable",
}


def _error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_body(error: SimError) -> bytes:
    detail = {
        "message": error.message,
        "type": _error_type(error.status),
        "code": error.code,
        "param": error.param,
    }
    return orjson.dumps({"error": detail})


def render_status(status: int, message: str) -> tuple[Headers, bytes]:
    """The HTTP server's hook for errors it raises itself (bad HTTP, 413, 500)."""
    return JSON_HEADERS, error_body(SimError(status, message))


def invalid_json(detail: str) -> SimError:
    return SimError(400, f"Invalid JSON body: {detail}", "invalid_json")


def missing_field(name: str) -> SimError:
    return SimError(400, f"Missing required field `{name}`", "missing_field", name)


def invalid_field(name: str, expected: str) -> SimError:
    return SimError(400, f"Field `{name}` must be {expected}", "invalid_value", name)
