"""vLLM's KV transfer: a sequential prefill leg whose answer tells the decode leg
where the KV is.

The mode comes from the prefill worker's `kv_connector` (read from its server
info at registration): NixlConnector tags the prefill leg with
`do_remote_decode`, MooncakeConnector also names a transfer id, any other vLLM
worker is passthrough (no tag). The decode leg gets whatever
`kv_transfer_params` the prefill answer carried.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from smg.workers.worker import Worker

NIXL = "nixl"
MOONCAKE = "mooncake"
PASSTHROUGH = "passthrough"
_STREAM_ONLY = ("stream_options", "min_tokens")


def kv_mode(worker: Worker) -> str | None:
    """The vLLM transfer mode of a prefill worker; None for SGLang bootstrap."""
    connector = worker.labels.get("kv_connector", "").lower()
    if "nixl" in connector:
        return NIXL
    if "mooncake" in connector:
        return MOONCAKE
    if connector or worker.runtime_type == "vllm":
        return PASSTHROUGH
    return None


def skips_prefill(body: dict[str, Any]) -> bool:
    """n > 1 goes to decode alone: a KV hand-off has a single consumer."""
    n = body.get("n")
    return isinstance(n, int) and not isinstance(n, bool) and n > 1


def prefill_body(body: dict[str, Any], upstream_path: str, mode: str) -> dict[str, Any]:
    """The prefill leg: whole (not streamed), one choice, one output token."""
    leg = dict(body)
    leg["stream"] = False
    for name in _STREAM_ONLY:
        leg.pop(name, None)
    if "n" in leg:
        leg["n"] = 1
    leg[_output_cap(body, upstream_path)] = 1
    if mode in (NIXL, MOONCAKE):
        params: dict[str, Any] = {"do_remote_decode": True, "do_remote_prefill": False}
        if mode == MOONCAKE:
            params["transfer_id"] = f"xfer-{uuid.uuid4()}"
        leg["kv_transfer_params"] = params
    return leg


def _output_cap(body: dict[str, Any], upstream_path: str) -> str:
    if upstream_path == "/v1/responses":
        return "max_output_tokens"
    if upstream_path == "/v1/chat/completions" and "max_completion_tokens" in body:
        return "max_completion_tokens"
    return "max_tokens"


def harvest(prefill_reply: bytes) -> dict[str, Any] | None:
    """The `kv_transfer_params` of a prefill answer; None when it has none."""
    try:
        doc = orjson.loads(prefill_reply)
    except orjson.JSONDecodeError:
        return None
    params = doc.get("kv_transfer_params") if isinstance(doc, dict) else None
    return params if isinstance(params, dict) else None


def decode_body(body: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
    if params is None:
        return body
    return {**body, "kv_transfer_params": params}
