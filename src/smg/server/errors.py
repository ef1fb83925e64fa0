"""Every error the gateway mints, and the one place they become HTTP answers.

Bodies have the OpenAI shape `{"error": {"message", "type", "code", "param"}}`
and carry `X-SMG-Error-Code`; `type` follows the released original:
`invalid_request_error` for 4xx, `rate_limit_error` for 429, `server_error` for 5xx.
"""

from __future__ import annotations

import orjson

from smg.http.server import Headers

_JSON = b"application/json"


class GatewayError(Exception):
    """An error answered to the client with a status, a stable code and a message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.retry_after_s = retry_after_s


def error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def render(error: GatewayError) -> tuple[Headers, bytes]:
    """Return the headers and JSON body of an error answer."""
    body = orjson.dumps(
        {
            "error": {
                "message": error.message,
                "type": error_type(error.status),
                "code": error.code,
                "param": error.param,
            }
        }
    )
    headers = [
        (b"content-type", _JSON),
        (b"x-smg-error-code", error.code.encode("ascii")),
    ]
    if error.retry_after_s is not None:
        headers.append((b"retry-after", b"%d" % error.retry_after_s))
    return headers, body


_CODE_BY_STATUS = {
    400: "bad_request",
    404: "unknown_url",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_body_too_large",
    500: "internal_error",
}


def render_status(status: int, message: str) -> tuple[Headers, bytes]:
    """Render an error raised below the router (the HTTP layer) by status."""
    code = _CODE_BY_STATUS.get(status, "internal_error")
    return render(GatewayError(status, code, message))


def invalid_json(detail: str) -> GatewayError:
    return GatewayError(400, "invalid_json", f"Invalid JSON data: {detail}")


def missing_field(field: str) -> GatewayError:
    return GatewayError(
        400,
        "missing_required_parameter",
        f"Invalid JSON data: missing field `{field}`",
        param=field,
    )


def invalid_field(field: str, expected: str) -> GatewayError:
    return GatewayError(
        400,
        "invalid_type",
        f"Invalid JSON data: field `{field}` must be {expected}",
        param=field,
    )


def empty_array(field: str) -> GatewayError:
    return GatewayError(
        400,
        "empty_array",
        f"Invalid '{field}': empty array. Expected an array with at least one item",
        param=field,
    )


def model_not_found(model: str) -> GatewayError:
    return GatewayError(
        404,
        "model_not_found",
        f"No worker available for model '{model}'; GET /v1/models lists the models "
        "this gateway serves",
        param="model",
    )


def no_available_workers(model: str) -> GatewayError:
    return GatewayError(
        503,
        "no_available_workers",
        "All workers are unavailable (circuit breaker open or unhealthy) for "
        f"model '{model}'; retry shortly",
    )


def unknown_url(method: str, path: str) -> GatewayError:
    return GatewayError(404, "unknown_url", f"Invalid URL ({method} {path})")


def method_not_allowed(method: str, path: str) -> GatewayError:
    return GatewayError(
        405, "method_not_allowed", f"Method {method} is not allowed on {path}"
    )


def upstream_timeout() -> GatewayError:
    return GatewayError(
        504,
        "call_upstream_timeout",
        "The worker did not answer within the request timeout",
    )


def upstream_unreachable() -> GatewayError:
    return GatewayError(
        502,
        "call_upstream_connection_failed",
        "Could not reach the worker, or it closed the connection before answering",
    )


def upstream_bad_response(detail: str) -> GatewayError:
    return GatewayError(502, "upstream_error", f"The worker sent a bad reply: {detail}")


def pd_leg_unreachable(leg: str, timed_out: bool) -> GatewayError:
    """A PD leg's worker (`leg` is prefill or decode) failed before answering."""
    if timed_out:
        return GatewayError(
            504,
            f"{leg}_upstream_timeout",
            f"The {leg} worker did not answer within the request timeout",
        )
    return GatewayError(
        502,
        f"{leg}_connection_failed",
        f"Could not reach the {leg} worker, or it closed the connection before "
        "answering",
    )


def pd_leg_error(leg: str, status: int, detail: str | None) -> GatewayError:
    """A PD leg's worker answered `status`; the worker's own message, if any."""
    reason = f": {detail}" if detail else ""
    return GatewayError(
        status,
        f"{leg}_upstream_error",
        f"The {leg} worker answered {status}{reason}",
    )


def pd_no_workers(leg: str, model: str) -> GatewayError:
    return GatewayError(
        503,
        "no_available_workers",
        f"No {leg} worker is available (circuit breaker open or unhealthy) for "
        f"model '{model}'; retry shortly",
    )


def pd_route_unsupported(path: str) -> GatewayError:
    return GatewayError(
        501,
        "not_implemented",
        f"{path} is not served in prefill/decode disaggregation mode",
    )
