"""What every load-balancing policy is: a pure choice among candidate workers.

A policy gets the routable workers of one model and what routing knows about the
request, and returns one worker or None. It does no I/O; load reports and
membership changes reach it through hooks that do nothing by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smg.workers.worker import Worker


@dataclass(slots=True)
class RequestFacts:
    """What is known about a request when a worker is chosen.

    `body` is the parsed JSON (None for bodyless routes); the routing text is
    derived from it only when a policy asks, so policies that ignore content pay
    nothing for it.
    """

    model: str
    route: str
    body: dict[str, Any] | None = None
    headers: Sequence[tuple[bytes, bytes]] = ()
    _text: str | None = field(default=None, repr=False)

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


class Policy:
    """Base class: subclasses implement `select`."""

    name = "base"

    def select(self, workers: Sequence[Worker], facts: RequestFacts) -> Worker | None:
        raise NotImplementedError

    def on_workers_changed(self, model: str, workers: Sequence[Worker]) -> None:
        """Membership of a model's routable set changed (added, removed, health)."""

    def on_routed(self, worker: Worker, facts: RequestFacts) -> None:
        """The request was sent to `worker`."""

    def close(self) -> None:
        """Release whatever the policy holds; called at shutdown."""
