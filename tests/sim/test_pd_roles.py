"""The simulated worker's PD roles: KV rooms held by prefill, claimed by decode."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from smg.sim.errors import SimError
from smg.sim.kv_rooms import KvRooms
from smg.sim.pd import bootstrap_rooms
from tests.conftest import sim_stats
from tests.procs import Proc, free_port, start_sim


def post(url: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_room_is_claimed_once_and_a_waiting_claim_is_woken() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        rooms = KvRooms(ttl_s=60)
        waiting = asyncio.ensure_future(rooms.claim("r1", timeout_s=1))
        await asyncio.sleep(0)
        rooms.hold("r1")
        return await waiting, await rooms.claim("r1", 0.01), await rooms.claim("x", 0)

    assert asyncio.run(scenario()) == (True, False, False)


def test_expired_rooms_cannot_be_claimed() -> None:
    now = [0.0]
    rooms = KvRooms(ttl_s=5, clock=lambda: now[0])
    rooms.hold("r")
    now[0] = 6.0
    assert asyncio.run(rooms.claim("r", 0)) is False


def test_bootstrap_rooms_reads_scalars_and_arrays() -> None:
    single = {"bootstrap_host": "h", "bootstrap_port": None, "bootstrap_room": 7}
    assert bootstrap_rooms(single) == [("h", None, "7")]
    batch = {"bootstrap_host": ["h", "h"], "bootstrap_port": [1, 1],
             "bootstrap_room": [1, 2]}  # fmt: skip
    assert bootstrap_rooms(batch) == [("h", 1, "1"), ("h", 1, "2")]
    with pytest.raises(SimError):
        bootstrap_rooms({"bootstrap_host": "h"})


def test_decode_fails_without_the_prefill_room_and_succeeds_with_it(
    procs: list[Proc],
) -> None:
    port = free_port()
    prefill = start_sim("--fast", "--pd-role", "prefill", "--bootstrap-port", str(port))
    decode = start_sim(
        "--fast", "--pd-role", "decode", "--bootstrap-timeout-secs", "0.3"
    )
    procs += [prefill, decode]
    fields = {"bootstrap_host": "127.0.0.1", "bootstrap_port": port}
    body = {"text": "hi", **fields, "bootstrap_room": 42}

    status, reply = post(decode.url + "/generate", body)
    assert status == 500 and reply["error"]["code"] == "kv_transfer_failed"

    assert post(prefill.url + "/generate", body)[0] == 200
    assert post(decode.url + "/generate", body)[0] == 200
    assert sim_stats(prefill)["pd"]["rooms_claimed"] == 1
    assert post(decode.url + "/generate", {"text": "hi"})[0] == 400
