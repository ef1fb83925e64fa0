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
    upstream: str  # "nginx", "sim" (no delays) or "sim-paced" (PACED_SIM_FLAGS)
    connections: int
    body: str
    is_stream: bool
    # "wrk", or bench/loadgen.py's "streams" (TTFT) or "poisson" (open loop).
    load: str = "wrk"
    # Requests per second offered by the open loop.
    rate: float = 0.0
    # Seconds over which streams connections start (one stream's length).
    stagger_s: float = 0.0
    # Whether latency percentiles mean something (not at saturation).
    shows_latency: bool = False


# The paced sim of S4: the first token and every next one 10 ms apart, with no
# slow-down per running request, and room for every stream to decode at once.
PACED_ITL_MS = 10.0
PACED_SIM_FLAGS = (
    "--ttft-base-ms", str(PACED_ITL_MS), "--prefill-ms-per-token", "0",
    "--itl-base-ms", str(PACED_ITL_MS), "--itl-ms-per-running", "0",
    "--max-running-requests", "1024",
)  # fmt: skip
LARGE_PROMPT_BYTES = 200 * 1024


def chat_body(
    *, stream: bool, max_tokens: int, content: str = "Hello, how are you today?"
) -> str:
    body: dict[str, object] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
    }
    if stream:
        # ignore_eos keeps every answer at exactly max_tokens chunks, so the
        # per-response chunk count measured once holds for every response.
        body.update(stream=True, ignore_eos=True)
    return json.dumps(body, separators=(",", ":"))


def large_prompt(size: int) -> str:
    """Prose-like text of `size` characters, different all along (no repeats
    a compressor or a prefix cache could short-cut)."""
    words = [f"w{i:x}" for i in range(size // 4 + 1)]
    return " ".join(words)[:size]


def build_scenarios(
    stream_connections: int,
    stream_tokens: int,
    long_streams: int = 256,
    poisson_rate: float = 1000.0,
) -> list[Scenario]:
    plain = chat_body(stream=False, max_tokens=16)
    streamed = chat_body(stream=True, max_tokens=stream_tokens)
    large = chat_body(
        stream=False, max_tokens=16, content=large_prompt(LARGE_PROMPT_BYTES)
    )
    stream_s = (stream_tokens + 1) * PACED_ITL_MS / 1000
    return [
        Scenario(
            "s1",
            "latency, 1 connection",
            "nginx",
            1,
            plain,
            False,
            shows_latency=True,
        ),
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
        Scenario(
            "s4",
            f"{long_streams} long streams, {stream_tokens} tokens at "
            f"{PACED_ITL_MS:.0f} ms per token",
            "sim-paced",
            long_streams,
            streamed,
            True,
            load="streams",
            stagger_s=stream_s,
        ),
        Scenario(
            "s5",
            f"open-loop Poisson arrivals at {poisson_rate:.0f} requests/s",
            "nginx",
            0,
            plain,
            False,
            load="poisson",
            rate=poisson_rate,
            shows_latency=True,
        ),
        Scenario(
            "s6",
            f"large bodies ({LARGE_PROMPT_BYTES // 1024} KB prompts), 16 connections",
            "nginx",
            16,
            large,
            False,
            shows_latency=True,
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
