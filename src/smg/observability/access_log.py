"""The access log: one INFO line per finished request, on logger `smg.access`.

It is kept apart from the module loggers so operators can route, filter or
silence it alone (`--disable-access-log`, or the `smg.access` logger's level).
It carries only routing facts, never bodies, query strings or headers.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "smg.access"


class AccessLog:
    """Writes access lines when enabled and when the logger accepts INFO."""

    __slots__ = ("_enabled", "_logger")

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled
        self._logger = logging.getLogger(ACCESS_LOGGER)

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self._logger.isEnabledFor(logging.INFO)

    def record(
        self,
        request_id: str,
        method: str,
        path: str,
        status: int,
        duration_s: float,
        error_code: str = "",
        model: str | None = None,
        worker_url: str | None = None,
    ) -> None:
        """Log one finished request; costs one level check when the log is off."""
        if not self._enabled or not self._logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration_s * 1000.0, 3),
        }
        if error_code:
            fields["error_code"] = error_code
        if model is not None:
            fields["model"] = model
        if worker_url is not None:
            fields["worker_url"] = worker_url
        self._logger.info("request", extra=fields)
