"""Faults, stats and reset through the simulator's `/sim/` routes, in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from smg.sim.app import SimApp
from smg.sim.config import NO_LATENCY
from tests.sim.fakes import Reply, call, make_app

CHAT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}


def run(app: SimApp, path: str, body: Any = None, **kwargs: Any) -> Reply:
    return asyncio.run(call(app, path, body, **kwargs))


def stats(app: SimApp) -> Any:
    return run(app, "/sim/stats").json()


@pytest.fixture
def app() -> SimApp:
    return make_app(NO_LATENCY)


def test_fail_rate_answers_the_chosen_status_and_is_counted(app: SimApp) -> None:
    run(app, "/sim/faults", {"fail_rate": 1.0, "fail_status": 503})
    reply = run(app, "/v1/chat/completions", CHAT)
    assert reply.status == 503 and reply.json()["error"]["code"] == "injected_failure"
    assert run(app, "/health").status == 200
    assert stats(app)["failed"] == 1 and stats(app)["completed"] == 0


def test_drop_after_chunks_cuts_a_stream_and_never_answers_whole(app: SimApp) -> None:
    run(app, "/sim/faults", {"drop_after_chunks": 3})
    streamed = run(app, "/v1/chat/completions", {**CHAT, "stream": True})
    assert streamed.closed and not streamed.complete and len(streamed.events) == 3
    whole = run(app, "/v1/chat/completions", CHAT)
    assert whole.closed and whole.status == 0
    assert stats(app)["dropped"] == 2


def test_hang_holds_the_request_until_the_client_leaves(app: SimApp) -> None:
    async def scenario() -> None:
        task = asyncio.create_task(call(app, "/v1/chat/completions", CHAT))
        await asyncio.sleep(0.01)
        assert app.ctx.stats.stalled == 1
        task.cancel()  # what the HTTP server does when the client disconnects
        with pytest.raises(asyncio.CancelledError):
            await task

    run(app, "/sim/faults", {"hang": True})
    asyncio.run(scenario())
    assert stats(app)["aborted"] == 1 and stats(app)["stalled"] == 0


def test_full_queue_answers_503(app: SimApp) -> None:
    app = make_app(NO_LATENCY, max_running_requests=1, max_queue=0)
    app.ctx.engine.scheduler.running = 1  # the one slot is taken
    reply = run(app, "/v1/chat/completions", CHAT)
    assert reply.status == 503 and reply.json()["error"]["code"] == "queue_full"
    assert stats(app)["rejected"] == 1


def test_fail_health_turns_health_checks_503(app: SimApp) -> None:
    run(app, "/sim/faults", {"fail_health": True})
    assert run(app, "/health").status == 503
    assert run(app, "/health_generate").status == 503
    run(app, "/sim/faults", {"reset": True})
    assert run(app, "/health").status == 200


def test_faults_can_be_read_and_bad_updates_are_refused(app: SimApp) -> None:
    assert run(app, "/sim/faults").json()["fail_status"] == 500
    reply = run(app, "/sim/faults", {"fail_rate": 3})
    assert reply.status == 400 and "fail_rate" in reply.json()["error"]["message"]
    assert run(app, "/sim/faults", {"delay_ms": 5}).json()["delay_ms"] == 5.0


def test_stats_record_last_request_per_path_but_not_sim_routes(app: SimApp) -> None:
    headers = [(b"authorization", b"Bearer k"), (b"x-request-id", b"abc")]
    run(app, "/v1/chat/completions", {**CHAT, "model": "unknown"}, headers=headers)
    snapshot = stats(app)
    last = snapshot["last_requests"]["/v1/chat/completions"]
    assert last["headers"]["authorization"] == "Bearer k"
    assert last["body"]["model"] == "unknown"
    assert snapshot["requests"] == {"/v1/chat/completions": 1}
    assert snapshot["completed"] == 1 and snapshot["completion_tokens"] == 8


def test_reset_clears_stats(app: SimApp) -> None:
    run(app, "/v1/chat/completions", CHAT)
    assert run(app, "/sim/reset", {}).status == 200
    assert stats(app)["requests"] == {} and stats(app)["completed"] == 0
