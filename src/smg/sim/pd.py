"""Prefill and decode roles of the simulated worker, SGLang- and vLLM-style.

SGLang style: both legs get the same body with `bootstrap_host`,
`bootstrap_port` and `bootstrap_room` (scalars, or arrays for batches and
n > 1). The prefill worker computes one token and holds each room; the decode
worker claims every room from `bootstrap_host:bootstrap_port` before it
decodes, and fails the request when a claim fails.

vLLM style (`kv_connector` set): the prefill leg carries
`kv_transfer_params.do_remote_decode` and answers with the parameters the decode
leg must send back (`remote_host`, `remote_port`, `remote_request_id`, ...);
a decode leg without them recomputes the prompt, as vLLM does.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from smg.http.server import Request
from smg.sim.config import PdConfig
from smg.sim.errors import SimError
from smg.sim.kv_rooms import BootstrapServer, KvRooms, claim_remote
from smg.sim.params import JsonObject, parse_object

logger = logging.getLogger(__name__)

PREFILL = "prefill"
DECODE = "decode"
ROLES = (PREFILL, DECODE)
# Output caps a prefill worker forces to one token: it only computes the KV.
_OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_BOOTSTRAP = ("bootstrap_host", "bootstrap_port", "bootstrap_room")

# Set while a decode worker serves a request whose KV it received: the engine
# then skips the prompt's prefill cost.
kv_transferred: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kv_transferred", default=False
)

Run = Callable[[], Awaitable[Any]]
Room = tuple[str, int | None, str]


class PdRole:
    """One worker's half of a disaggregated request, wrapped around the handler."""

    def __init__(self, config: PdConfig, host: str, engine_id: str) -> None:
        self.config = config
        self._host = host
        self._engine_id = engine_id
        self.rooms = KvRooms(config.room_ttl_secs)
        self._bootstrap: BootstrapServer | None = None
        self._session: aiohttp.ClientSession | None = None
        self.bootstrap_port: int | None = config.bootstrap_port
        self.claim_failures = 0
        self.recomputed = 0

    @property
    def role(self) -> str | None:
        return self.config.role

    async def start(self) -> None:
        """Open the bootstrap listener (prefill) or the claim client (decode)."""
        if self.role == PREFILL:
            self._bootstrap = BootstrapServer(
                self.rooms, self.config.claim_timeout_secs
            )
            port = self.config.bootstrap_port or 0
            self.bootstrap_port = await self._bootstrap.start(self._host, port)
            logger.info(
                "bootstrap listener open",
                extra={"host": self._host, "port": self.bootstrap_port},
            )
        elif self.role == DECODE:
            self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._bootstrap is not None:
            await self._bootstrap.close()
        if self._session is not None:
            await self._session.close()

    async def serve(self, request: Request, run: Run) -> Any:
        """Serve one inference request in this worker's role."""
        body = parse_object(request.body)
        if self.config.kv_connector:
            if self.role == PREFILL:
                return await self._vllm_prefill(request, body, run)
            return await self._vllm_decode(body, run)
        rooms = bootstrap_rooms(body)
        if self.role == PREFILL:
            request.body = orjson.dumps(_cap_output(body))
            result = await run()
            for _, _, room in rooms:
                self.rooms.hold(room)
            return result
        await self._claim_all(rooms)
        return await _with_transferred_kv(run)

    async def _claim_all(self, rooms: list[Room]) -> None:
        timeout_s = self.config.claim_timeout_secs
        claims = [
            self._claim(host, port, room, timeout_s) for host, port, room in rooms
        ]
        results = await asyncio.gather(*claims)
        missing = [
            room for (_, _, room), ok in zip(rooms, results, strict=True) if not ok
        ]
        if missing:
            self.claim_failures += 1
            raise SimError(
                500,
                f"KV transfer failed: bootstrap room {missing[0]} could not be "
                "claimed from the prefill worker",
                "kv_transfer_failed",
            )

    async def _claim(
        self, host: str, port: int | None, room: str, timeout_s: float
    ) -> bool:
        # SGLang decode falls back to its own configured port for a null one.
        port = port if port is not None else self.config.bootstrap_port
        if port is None or self._session is None:
            return False
        return await claim_remote(self._session, host, port, room, timeout_s)

    async def _vllm_prefill(self, request: Request, body: JsonObject, run: Run) -> Any:
        params = body.get("kv_transfer_params")
        if not (isinstance(params, dict) and params.get("do_remote_decode")):
            return await run()
        request.body = orjson.dumps(_cap_output(body))
        result = await run()
        room = str(params.get("transfer_id") or f"xfer-{uuid.uuid4().hex}")
        self.rooms.hold(room)
        if isinstance(result, dict):
            result["kv_transfer_params"] = {
                "do_remote_prefill": True,
                "do_remote_decode": False,
                "remote_engine_id": self._engine_id,
                "remote_block_ids": [0],
                "remote_host": self._host,
                "remote_port": self.bootstrap_port,
                "remote_request_id": room,
                "tp_size": 1,
            }
        return result

    async def _vllm_decode(self, body: JsonObject, run: Run) -> Any:
        params = body.get("kv_transfer_params")
        if not (isinstance(params, dict) and params.get("do_remote_prefill")):
            self.recomputed += 1
            return await run()
        room: Room = (
            str(params.get("remote_host")),
            _as_port(params.get("remote_port")),
            str(params.get("remote_request_id")),
        )
        await self._claim_all([room])
        return await _with_transferred_kv(run)

    def snapshot(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "kv_connector": self.config.kv_connector,
            "bootstrap_port": self.bootstrap_port,
            "rooms_held": self.rooms.held,
            "rooms_claimed": self.rooms.claimed,
            "rooms_pending": self.rooms.pending,
            "claim_failures": self.claim_failures,
            "recomputed": self.recomputed,
        }


def bootstrap_rooms(body: JsonObject) -> list[Room]:
    """The (host, port, room) triples a request names; 400 when they are absent."""
    missing = [name for name in _BOOTSTRAP if name not in body]
    if missing:
        raise SimError(
            400,
            f"`{missing[0]}` is required by a disaggregated worker",
            "missing_bootstrap",
            missing[0],
        )
    hosts, ports, rooms = (body[name] for name in _BOOTSTRAP)
    if not isinstance(rooms, list):
        return [(str(hosts), _as_port(ports), str(rooms))]
    count = len(rooms)
    hosts = hosts if isinstance(hosts, list) else [hosts] * count
    ports = ports if isinstance(ports, list) else [ports] * count
    if len(hosts) != count or len(ports) != count:
        raise SimError(400, "bootstrap arrays differ in length", "invalid_bootstrap")
    return [
        (str(h), _as_port(p), str(r))
        for h, p, r in zip(hosts, ports, rooms, strict=True)
    ]


def _as_port(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise SimError(
        400, "`bootstrap_port` must be an integer or null", "invalid_bootstrap"
    )


def _cap_output(body: JsonObject) -> JsonObject:
    for name in _OUTPUT_CAPS:
        if name in body:
            body[name] = 1
    if not any(name in body for name in _OUTPUT_CAPS):
        body["max_tokens"] = 1
    params = body.get("sampling_params")
    if isinstance(params, dict):
        params["max_new_tokens"] = 1
    elif "text" in body or "input_ids" in body:
        body["sampling_params"] = {"max_new_tokens": 1}
    return body


async def _with_transferred_kv(run: Run) -> Any:
    token = kv_transferred.set(True)
    try:
        return await run()
    finally:
        kv_transferred.reset(token)
