"""The measured scenarios, their request bodies, and the stream chunk count.

wrk cannot see SSE events, only whole responses, so chunks per second is
requests per second times the chunks in one response; that count is read once
per target with a plain HTTP client and printed, so a relay that drops or merges
events shows up as a mismatch with the direct count.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.upstreams import MODEL

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    upstream: str  # "nginx" or "sim"
    connections: int
    body: str
    is_stream: bool


def chat_body(*, stream: bool, max_tokens: int) -> str:
    body: dict[str, object] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hello, how are you today?"}],
        "max_tokens": max_tokens,
    }
    if stream:
        # ignore_eos keeps every answer at exactly max_tokens chunks, so the
        # per-response chunk count measured once holds for every response.
        body.update(stream=True, ignore_eos=True)
    return json.dumps(body, separators=(",", ":"))


def build_scenarios(stream_connections: int, stream_tokens: int) -> list[Scenario]:
    plain = chat_body(stream=False, max_tokens=16)
    streamed = chat_body(stream=True, max_tokens=stream_tokens)
    return [
        Scenario("s1", "latency, 1 connection", "nginx", 1, plain, False),
        Scenario("s2", "requests/s, 64 connections", "nginx", 64, plain, False),
        Scenario(
            "s3",
            f"streamed chunks/s, {stream_tokens} tokens, "
            f"{stream_connections} connections",
            "sim",
            stream_connections,
            streamed,
            True,
        ),
    ]


def count_chunks(base_url: str, body: str) -> int:
    """SSE data events in one streamed answer, not counting `[DONE]`.

    Raises RuntimeError when the answer is not a 200.
    """
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", CHAT_PATH, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read().decode(errors="replace")
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"stream check got {response.status}: {payload[:300]}")
    events = [
        line[5:].strip() for line in payload.splitlines() if line.startswith("data:")
    ]
    return sum(1 for event in events if event != "[DONE]")
