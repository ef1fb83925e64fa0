"""`smg serve --backend sim`: workers and gateway together, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from openai import OpenAI

from tests.procs import SMG, Proc, free_port, spawn, wait_http


def child_pids(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    )
    return [int(p) for p in out.stdout.split()]


def test_serve_sim_fleet_serves_the_openai_sdk_and_stops_on_ctrl_c(
    procs: list[Proc],
) -> None:
    port = free_port()
    serve = spawn(
        "serve",
        [
            *SMG,
            "serve",
            "--backend",
            "sim",
            "--data-parallel-size",
            "2",
            "--port",
            str(port),
            "--worker-base-port",
            str(free_port()),
            "--fast",
            "--router-prometheus-host",
            "127.0.0.1",
            "--router-prometheus-port",
            str(free_port()),
        ],
        port,
    )
    procs.append(serve)
    wait_http(serve, "/readiness", timeout=30)
    workers = child_pids(serve.popen.pid)
    assert len(workers) == 2

    client = OpenAI(base_url=serve.url + "/v1", api_key="x", max_retries=0)
    model = client.models.list().data[0].id
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=5
    )
    assert reply.choices[0].message.content
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=5,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    serve.popen.send_signal(signal.SIGINT)
    assert serve.popen.wait(timeout=40) == 128 + signal.SIGINT
    time.sleep(0.2)
    for pid in workers:
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
