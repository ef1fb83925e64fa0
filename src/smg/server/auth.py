"""Who may call what: the data-plane key and the control-plane keys with roles.

Keys are compared as SHA-256 digests in constant time, so neither their length
nor a matching prefix leaks through timing, and they are never logged.
Serving routes need `--api-key` when set. Control-plane routes (workers, cache
flush, loads) need a control-plane key when any is configured (role `user`
may read, `admin` may also change); otherwise the `--api-key`, if set.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from smg.config import SecurityConfig
from smg.http.server import Request
from smg.server.errors import GatewayError

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _digest(key: str | bytes) -> bytes:
    return hashlib.sha256(key if isinstance(key, bytes) else key.encode()).digest()


def missing_key() -> GatewayError:
    return GatewayError(
        401,
        "invalid_api_key",
        "Missing API key: send it as `Authorization: Bearer <key>`",
    )


def wrong_key() -> GatewayError:
    return GatewayError(401, "invalid_api_key", "Invalid API key")


def forbidden() -> GatewayError:
    return GatewayError(403, "forbidden", "This key's role may not change the gateway")


class Authenticator:
    def __init__(self, config: SecurityConfig) -> None:
        self._api_key = _digest(config.api_key) if config.api_key else None
        self._control = [
            (_digest(key), role) for _, _, role, key in config.control_plane_keys
        ]

    @property
    def is_open(self) -> bool:
        return self._api_key is None and not self._control

    def check_serving(self, request: Request) -> None:
        """Raise 401 unless the request carries the data-plane key (when set)."""
        if self._api_key is None:
            return
        token = _bearer(request)
        if token is None:
            raise missing_key()
        if not hmac.compare_digest(_digest(token), self._api_key):
            raise wrong_key()

    def check_control(self, request: Request) -> None:
        """Raise 401/403 unless the request may use this control-plane route."""
        if not self._control:
            self.check_serving(request)
            return
        token = _bearer(request)
        if token is None:
            raise missing_key()
        digest = _digest(token)
        # Compare against every key so timing does not reveal which one matched.
        roles = [
            role for key, role in self._control if hmac.compare_digest(digest, key)
        ]
        if not roles:
            raise wrong_key()
        if request.method not in READ_METHODS and "admin" not in roles:
            raise forbidden()


def _bearer(request: Request) -> bytes | None:
    value = request.header(b"authorization")
    if value is None or value[:7].lower() != b"bearer ":
        return None
    token = value[7:].strip()
    return token or None


def warn_if_open(auth: Authenticator) -> None:
    if auth.is_open:
        logger.warning(
            "no API key configured: serving and control-plane routes are open",
            extra={"open_routes": "/workers /flush_cache /get_loads"},
        )
