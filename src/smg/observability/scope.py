"""The request being served, as the current task sees it.

Each request runs in its own task, so a context variable holds its scope: log
records pick up its `request_id`, and code deep in the request path reaches its
trace and notes the model and worker for the access log, without threading
another argument through every layer.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from smg.observability.tracing import NOOP_TRACE, RequestTrace


class RequestScope:
    """What observability keeps about one request while it is served."""

    __slots__ = (
        "_token",
        "error_code",
        "method",
        "model",
        "path",
        "request_id",
        "route",
        "started_s",
        "trace",
        "worker_url",
    )

    def __init__(
        self,
        request_id: str,
        method: str = "",
        path: str = "",
        route: str | None = None,
        started_s: float = 0.0,
        trace: RequestTrace = NOOP_TRACE,
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        # The matched route path (a bounded label), None for unknown paths.
        self.route = route
        self.started_s = started_s
        self.trace = trace
        # Filled in on the way: the gateway's error code, the routed model
        # and the worker that answered.
        self.error_code = ""
        self.model: str | None = None
        self.worker_url: str | None = None
        self._token: Token[RequestScope | None] | None = None

    def enter(self) -> RequestScope:
        """Make this the current task's scope until `exit`."""
        self._token = _current.set(self)
        return self

    def exit(self) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None


_current: ContextVar[RequestScope | None] = ContextVar("smg_request", default=None)


def current_scope() -> RequestScope | None:
    """The scope of the request this task serves; None outside requests."""
    return _current.get()


def current_trace() -> RequestTrace:
    """The current request's trace, or the no-op trace outside requests."""
    scope = _current.get()
    return NOOP_TRACE if scope is None else scope.trace
