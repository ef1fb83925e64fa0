"""What every load-balancing policy is: a pure choice among candidate workers.

A policy gets the routable workers of one model and what routing knows about the
request, and returns a `Decision`: the worker and why it was chosen. It does no
I/O; load reports, membership changes and finished requests reach it through
hooks that do nothing by default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smg.policies.load_report import WorkerLoad
from smg.workers.worker import Worker

ROUTING_TOKENS_HEADER = b"x-smg-routing-tokens"
# The header's bounds, as the original enforces them: longer lists are ignored.
MAX_ROUTING_TOKENS = 512
MAX_ROUTING_TOKENS_BYTES = 4096
_MAX_U32 = 2**32 - 1
# Routing keys longer than this are ignored rather than hashed.
MAX_ROUTING_KEY_BYTES = 128

Detail = tuple[str, str | int | float]


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's choice: the worker, a stable reason label and its numbers.

    `reason` is a short snake_case label (metrics count by it, so it never holds
    request data); `details` are the figures behind it, e.g. the match ratio.
    """

    worker: Worker
    reason: str
    details: tuple[Detail, ...] = ()


@dataclass(slots=True)
class RequestFacts:
    """What is known about a request when a worker is chosen.

    `body` is the parsed JSON (None for bodyless routes); the routing text and
    token ids are derived from it only when a policy asks, so policies that
    ignore content pay nothing for them. Header names are lower case.
    """

    model: str
    route: str
    body: dict[str, Any] | None = None
    headers: Sequence[tuple[bytes, bytes]] = ()
    _text: str | None = field(default=None, repr=False)
    _tokens: list[int] | None = field(default=None, repr=False)
    _tokens_read: bool = field(default=False, repr=False)

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def routing_text(self) -> str:
        if self._text is None:
            self._text = routing_text(self.body)
        return self._text

    @property
    def token_ids(self) -> list[int] | None:
        """Token ids from `input_ids` in the body or the routing-tokens header.

        None when neither gives a valid list; content policies then use the text.
        """
        if not self._tokens_read:
            self._tokens_read = True
            self._tokens = body_token_ids(self.body)
            if self._tokens is None:
                self._tokens = header_token_ids(self.header(ROUTING_TOKENS_HEADER))
        return self._tokens

    def routing_key(self, header_names: Sequence[bytes]) -> str | None:
        """The first valid routing key among `header_names`, in order."""
        for name in header_names:
            key = valid_routing_key(self.header(name))
            if key is not None:
                return key
        return None

    @property
    def request_size(self) -> int:
        """Tokens when known, else characters of the routing text."""
        tokens = self.token_ids
        return len(tokens) if tokens is not None else len(self.routing_text)


def valid_routing_key(raw: bytes | None) -> str | None:
    """A routing key header value if it is non-empty UTF-8 within the bound."""
    if not raw or len(raw) > MAX_ROUTING_KEY_BYTES:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def body_token_ids(body: dict[str, Any] | None) -> list[int] | None:
    if not body:
        return None
    ids = body.get("input_ids")
    if isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], list):
        ids = ids[0]
    if isinstance(ids, list) and ids and all(_is_token(v) for v in ids):
        return ids
    return None


def header_token_ids(raw: bytes | None) -> list[int] | None:
    """Parse `x-smg-routing-tokens`: comma-separated u32 within the bounds."""
    if not raw or len(raw) > MAX_ROUTING_TOKENS_BYTES:
        return None
    parts = raw.split(b",")
    if len(parts) > MAX_ROUTING_TOKENS:
        return None
    try:
        ids = [int(part) for part in parts]
    except ValueError:
        return None
    if not all(0 <= v <= _MAX_U32 for v in ids):
        return None
    return ids


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def routing_text(body: dict[str, Any] | None) -> str:
    """The text a content-aware policy routes on: chat messages, prompt or text."""
    if not body:
        return ""
    messages = body.get("messages")
    if isinstance(messages, list):
        return " ".join(_message_texts(messages))
    for key in ("prompt", "text", "input"):
        value = body.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return " ".join(str(v) for v in value)
    input_ids = body.get("input_ids")
    if isinstance(input_ids, list):
        return " ".join(str(v) for v in input_ids)
    return ""


def _message_texts(messages: list[Any]) -> list[str]:
    texts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str):
            texts.append(reasoning)
    return texts


def least_loaded(workers: Sequence[Worker]) -> Worker:
    """The worker with the fewest requests in flight; ties go to fewer processed."""
    return min(workers, key=load_key)


def load_key(worker: Worker) -> tuple[int, int]:
    return worker.load, worker.processed


class Policy:
    """Base class: subclasses implement `decide`."""

    name = "base"
    # True when the policy's choices improve with polled worker load reports.
    uses_loads = False

    def select(self, workers: Sequence[Worker], facts: RequestFacts) -> Worker | None:
        """The chosen worker alone; None when the policy finds none."""
        decision = self.decide(workers, facts)
        return None if decision is None else decision.worker

    def decide(self, workers: Sequence[Worker], facts: RequestFacts) -> Decision | None:
        raise NotImplementedError

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        """Membership of a model's routable set changed (added, removed, health)."""

    def on_loads(self, loads: Mapping[str, WorkerLoad]) -> None:
        """Fresh load reports of the model's workers, keyed by worker url."""

    def on_routed(self, worker: Worker, facts: RequestFacts) -> None:
        """The request was sent to `worker`."""

    def on_finished(self, worker: Worker, facts: RequestFacts) -> None:
        """The attempt sent to `worker` ended, however it ended."""

    def close(self) -> None:
        """Release whatever the policy holds; called at shutdown."""
