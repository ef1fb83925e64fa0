"""Reproducible workloads: the same seed gives the same prompts in the same order.

A workload is a list of sessions. A session's requests run one after another
(the turns of a chat need the previous answer); sessions run side by side.
Text is drawn from a fixed vocabulary, about four characters per simulated token.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

MODEL = "sim-model"
_VOCABULARY = (
    "account", "answer", "billing", "budget", "cable", "charge", "contract",
    "credit", "customer", "data", "delivery", "device", "error", "estimate",
    "forecast", "guide", "invoice", "issue", "limit", "meter", "network", "notice",
    "order", "outage", "payment", "plan", "policy", "quote", "record", "refund",
    "region", "report", "request", "schedule", "service", "signal", "status",
    "summary", "support", "tariff", "ticket", "transfer", "update", "usage",
    "voltage", "warranty", "window",
)  # fmt: skip


@dataclass(frozen=True)
class Turn:
    """One request: its chat messages and its routing key (user or conversation)."""

    messages: tuple[dict[str, str], ...]
    routing_key: str


@dataclass
class Workload:
    name: str
    description: str
    sessions: list[list[Turn]] = field(default_factory=list)
    concurrency: int = 16

    @property
    def request_count(self) -> int:
        return sum(len(s) for s in self.sessions)


def text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(_VOCABULARY)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


def shared_prefix(seed: int, requests: int, prompts: int = 12) -> Workload:
    """Many users, few long system prompts: each user keeps to one prompt.

    Twelve prompts of about 1,500 tokens outgrow one worker's cache but fit
    the fleet's, which is where routing decides the hit rate.
    """
    rng = random.Random(seed)
    systems = [f"System prompt {n}: " + text(rng, 6000) for n in range(prompts)]
    users = 64
    sessions = []
    for _ in range(requests):
        user = rng.randrange(users)
        messages = (
            {"role": "system", "content": systems[user % prompts]},
            {"role": "user", "content": text(rng, 240)},
        )
        sessions.append([Turn(messages, f"user-{user}")])
    return Workload(
        "shared_prefix",
        f"{requests} requests of 64 users over {prompts} system prompts (~1.5k tokens)",
        sessions,
    )


def multi_turn(seed: int, conversations: int, turns: int) -> Workload:
    """Chats that resend their whole history each turn."""
    rng = random.Random(seed + 1)
    sessions = []
    for conv in range(conversations):
        history: list[dict[str, str]] = [
            {"role": "system", "content": f"Conversation {conv}. " + text(rng, 1000)}
        ]
        session = []
        for _ in range(turns):
            history.append({"role": "user", "content": text(rng, 600)})
            session.append(Turn(tuple(history), f"conv-{conv}"))
            history.append({"role": "assistant", "content": text(rng, 600)})
        sessions.append(session)
    return Workload(
        "multi_turn",
        f"{conversations} chats of {turns} turns, history resent (to ~2k tokens)",
        sessions,
    )


def no_reuse(seed: int, requests: int) -> Workload:
    """The control: unique prompts, nothing to reuse, only balance matters."""
    rng = random.Random(seed + 2)
    sessions = [
        [Turn(({"role": "user", "content": f"{n} " + text(rng, 4000)},), f"u-{n}")]
        for n in range(requests)
    ]
    return Workload("no_reuse", f"{requests} unique prompts (~1k tokens)", sessions)


def build(seed: int, quick: bool) -> list[Workload]:
    if quick:
        return [
            shared_prefix(seed, 96),
            multi_turn(seed, conversations=8, turns=6),
            no_reuse(seed, 48),
        ]
    return [
        shared_prefix(seed, 240),
        multi_turn(seed, conversations=16, turns=8),
        no_reuse(seed, 128),
    ]


def request_body(turn: Turn, max_tokens: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": list(turn.messages),
        "max_tokens": max_tokens,
        "stream": True,
    }
