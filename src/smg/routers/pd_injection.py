"""SGLang bootstrap fields: how a decode worker finds its prefill worker's KV.

Both legs get the same body with `bootstrap_host` (the prefill worker's host),
`bootstrap_port` (its configured port, or null) and `bootstrap_room` (a fresh
random 63-bit id). A batch or n > 1 gets arrays, one room per item, since each
item's KV travels separately.
"""

from __future__ import annotations

import random
import re
from typing import Any
from urllib.parse import urlsplit

# Rooms are signed 64-bit on the engine side, so the top bit stays clear.
ROOM_MASK = (1 << 63) - 1
_DP_RANK_SUFFIX = re.compile(r"@\d+$")


def bootstrap_host(worker_url: str) -> str:
    """The host of a prefill worker's url, DP `@rank` stripped; localhost if none."""
    base = _DP_RANK_SUFFIX.sub("", worker_url)
    try:
        host = urlsplit(base).hostname
    except ValueError:
        host = None
    return host or "localhost"


def new_room(rng: random.Random) -> int:
    return rng.getrandbits(64) & ROOM_MASK


def batch_size(upstream_path: str, body: dict[str, Any]) -> int | None:
    """Items in a batched request (chat n > 1, prompt or input_ids arrays); None
    for a single request."""
    if upstream_path == "/v1/chat/completions":
        n = body.get("n")
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else None
    if upstream_path == "/v1/completions":
        return _batch_of(body.get("prompt"))
    if upstream_path == "/generate":
        return _batch_of(body.get("input_ids")) or _batch_of(body.get("text"))
    return None


def _batch_of(value: Any) -> int | None:
    # A flat list of token ids is one prompt; a list of strings or lists is many.
    if isinstance(value, list) and value and isinstance(value[0], (str, list)):
        return len(value)
    return None


def inject_bootstrap(
    body: dict[str, Any],
    upstream_path: str,
    host: str,
    port: int | None,
    rng: random.Random,
) -> dict[str, Any]:
    """Add the bootstrap fields to `body` (in place) and return it."""
    size = batch_size(upstream_path, body)
    if size is None:
        body["bootstrap_host"] = host
        body["bootstrap_port"] = port
        body["bootstrap_room"] = new_room(rng)
        return body
    body["bootstrap_host"] = [host] * size
    body["bootstrap_port"] = [port] * size
    body["bootstrap_room"] = [new_room(rng) for _ in range(size)]
    return body
