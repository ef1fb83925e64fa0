"""Label values: bounded, and named as the original names them.

Values that clients choose (model names, paths) could otherwise create a new
series per request; each such label goes through a cap that admits a fixed
number of distinct values and reports every later newcomer as `other`.
"""

from __future__ import annotations

OTHER = "other"
# The label for a request that names no model, as the original reports it.
UNKNOWN = "unknown"
DEFAULT_LABEL_CAP = 1024

# Upstream paths and the `endpoint` label the original gives them.
_ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/generate": "generate",
    "/v1/rerank": "rerank",
    "/rerank": "rerank",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})


def endpoint_label(path: str) -> str:
    """`chat`, `completions`, ... for a serving path; `other` for the rest."""
    return _ENDPOINTS.get(path, OTHER)


def method_label(method: str) -> str:
    return method if method in _METHODS else OTHER


class LabelCap:
    """Admits up to `limit` distinct values; later new values become `other`.

    Admitted values stay admitted for the life of the process, so a series
    never changes its label once it exists.
    """

    __slots__ = ("_admitted", "_limit")

    def __init__(self, limit: int = DEFAULT_LABEL_CAP) -> None:
        self._limit = limit
        self._admitted: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._admitted:
            return value
        if len(self._admitted) >= self._limit:
            return OTHER
        self._admitted.add(value)
        return value

    def __len__(self) -> int:
        return len(self._admitted)
