"""Cross-origin access for browsers, only for the origins the operator lists.

Without `--cors-allowed-origins` the gateway adds no CORS headers at all, so a
browser on another origin is refused, as with the original.
"""

from __future__ import annotations

from smg.http.server import Request

ALLOWED_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE_S = b"3600"


class Cors:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(o.encode() for o in origins)

    @property
    def enabled(self) -> bool:
        return bool(self._origins)

    def handle(self, request: Request, request_id: str) -> bool:
        """Add CORS headers for allowed origins; True when a preflight was answered."""
        origin = request.header(b"origin")
        if origin is None or not (self._any or origin in self._origins):
            return False
        allow = b"*" if self._any else origin
        request.extra_headers = [(b"access-control-allow-origin", allow)]
        if not self._any:
            request.extra_headers.append((b"vary", b"Origin"))
        if request.method != "OPTIONS":
            return False
        asked = request.header(b"access-control-request-headers") or b"*"
        headers = [
            (b"access-control-allow-methods", ALLOWED_METHODS),
            (b"access-control-allow-headers", asked),
            (b"access-control-max-age", MAX_AGE_S),
            (b"x-request-id", request_id.encode("ascii")),
        ]
        request.respond(204, headers)
        return True
