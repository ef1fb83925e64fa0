"""The getting-started page's HTTP commands, verbatim, against a simulated worker."""

from __future__ import annotations

import json
import subprocess

from tests.procs import SMG, Proc, free_port, spawn, start_sim, wait_http

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def curl(*args: str) -> str:
    result = subprocess.run(
        ["curl", "-sS", *args], capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout


def test_getting_started_http_commands(procs: list[Proc]) -> None:
    sim = start_sim("--model", MODEL, "--fast")
    procs.append(sim)
    port = free_port()
    # smg --worker-urls http://localhost:8000 --policy round_robin --host 0.0.0.0
    #     --port 30000
    gateway = spawn(
        "gs-gateway",
        [
            *SMG,
            "--worker-urls",
            f"http://localhost:{sim.port}",
            "--policy",
            "round_robin",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        port,
    )
    procs.append(gateway)
    wait_http(gateway, "/readiness")

    reply = json.loads(
        curl(
            f"http://localhost:{port}/v1/chat/completions",
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps(
                {
                    "model": MODEL,
                    "messages": [
                        {"role": "user", "content": "What is the capital of France?"}
                    ],
                    "max_tokens": 50,
                }
            ),
        )
    )
    assert reply["object"] == "chat.completion" and reply["model"] == MODEL
    assert reply["choices"][0]["message"]["role"] == "assistant"
    assert reply["usage"]["total_tokens"] > 0

    assert curl(f"http://localhost:{port}/health") == "OK"
    workers = json.loads(curl(f"http://localhost:{port}/workers"))
    assert workers["workers"][0]["model_id"] == MODEL
    models = json.loads(curl(f"http://localhost:{port}/v1/models"))
    assert models["data"][0]["id"] == MODEL
