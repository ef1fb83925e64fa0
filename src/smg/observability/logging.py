"""Log setup, done once at startup: text for people, JSON lines for machines.

Modules log short constant messages and pass values in `extra=`; both formats
print those fields, so nothing is interpolated into the message itself. Every
record handled also gets the `request_id` of the request being served (see
`scope`), and every line is scrubbed of known secrets and bearer tokens
before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path
from typing import Any

import orjson

from smg.observability.scope import current_scope

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# Attributes every LogRecord has; anything else came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
REDACTED = "[redacted]"
# Field names whose values are never printed, whatever they hold.
_SECRET_FIELDS = frozenset(
    {"authorization", "api_key", "apikey", "x-api-key", "password", "token", "key"}
)
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


class RequestIdFilter(logging.Filter):
    """Adds the current request's `request_id` to records that carry none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "request_id" not in record.__dict__:
            scope = current_scope()
            if scope is not None:
                record.request_id = scope.request_id
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: REDACTED if k.lower() in _SECRET_FIELDS else v
        for k, v in vars(record).items()
        if k not in _STANDARD
    }


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = f"{stamp}.{int(record.msecs):03d}Z {record.levelname:<7} {record.name}: "
        line += record.getMessage()
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": record.created,
            "level": record.levelname.lower(),
            "target": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class RedactingFormatter(logging.Formatter):
    """Wraps a formatter and scrubs known secrets and bearer tokens from its lines.

    Scrubbing the finished line also covers secrets that reach a message
    through an exception text or a library's own log call.
    """

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner
        self.secrets: set[str] = set()

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, REDACTED)
        if "earer" in line:
            line = _BEARER.sub(r"\g<1>" + REDACTED, line)
        return line


def setup_logging(level: str, json: bool = False, log_dir: str | None = None) -> None:
    """Configure the root logger; call once, before anything logs.

    With `log_dir`, lines also go to `<log_dir>/smg.log`, rolled at midnight UTC.
    """
    formatter = RedactingFormatter(JsonFormatter() if json else TextFormatter())
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_dir:
        path = Path(log_dir)
        path.mkdir(parents=True, exist_ok=True)
        handlers.append(
            TimedRotatingFileHandler(path / "smg.log", when="midnight", utc=True)
        )
    root = logging.getLogger()
    root.handlers.clear()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    root.setLevel(LEVELS[level])
    # aiohttp's own access and client chatter is not ours to print per request.
    logging.getLogger("aiohttp").setLevel(max(LEVELS[level], logging.WARNING))


def redact_secrets(secrets: Iterable[str | None]) -> None:
    """Never print these values (API keys) in any line of the root handlers."""
    values = {s for s in secrets if s}
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, RedactingFormatter):
            handler.formatter.secrets |= values
