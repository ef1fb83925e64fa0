"""`smg sim` as a real process, driven by the OpenAI SDK and plain HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.procs import Proc, start_sim

MODEL = "sim-model"
LONG_PROMPT = "Summarise the following text about caches. " * 40


def http_json(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def sim() -> Iterator[Proc]:
    proc = start_sim("--model", MODEL, name="sim-e2e")
    yield proc
    assert proc.stop() == 0, proc.log()


@pytest.fixture
def client(sim: Proc) -> Iterator[OpenAI]:
    http_json(sim.url + "/sim/faults", {"reset": True})
    with OpenAI(base_url=sim.url + "/v1", api_key="k", max_retries=0) as sdk:
        yield sdk


def test_chat_whole_and_streamed_answers_agree(client: OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "Tell me a story"}]
    whole = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=12
    )
    stream = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert whole.choices[0].message.content == text
    assert whole.choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12


def test_completion_stream_ends_with_a_finish_reason(client: OpenAI) -> None:
    stream = client.completions.create(
        model=MODEL, prompt="Once", max_tokens=5, stream=True
    )
    chunks = list(stream)
    assert len(chunks) == 6 and chunks[-1].choices[0].finish_reason == "length"


def test_cached_tokens_rise_on_a_repeated_prompt(client: OpenAI) -> None:
    def cached() -> int:
        reply = client.completions.create(model=MODEL, prompt=LONG_PROMPT, max_tokens=1)
        details = reply.usage.prompt_tokens_details if reply.usage else None
        return details.cached_tokens or 0 if details else 0

    first, second = cached(), cached()
    assert first == 0 and second > 400


def test_generate_and_rerank_over_plain_http(sim: Proc) -> None:
    body = {"text": "Hello", "sampling_params": {"max_new_tokens": 3}}
    generated = http_json(sim.url + "/generate", body)
    assert generated["meta_info"]["completion_tokens"] == 3
    ranked = http_json(
        sim.url + "/v1/rerank", {"query": "red fox", "documents": ["blue", "red fox"]}
    )
    assert [r["index"] for r in ranked] == [1, 0]


def test_embeddings_through_the_sdk(client: OpenAI) -> None:
    reply = client.embeddings.create(model=MODEL, input=["alpha", "beta"])
    assert [len(item.embedding) for item in reply.data] == [16, 16]
    assert reply.data[0].embedding != reply.data[1].embedding


def test_injected_failure_then_reset(client: OpenAI, sim: Proc) -> None:
    http_json(sim.url + "/sim/faults", {"fail_rate": 1.0, "fail_status": 503})
    with pytest.raises(openai.InternalServerError) as caught:
        client.completions.create(model=MODEL, prompt="x", max_tokens=1)
    assert caught.value.status_code == 503
    http_json(sim.url + "/sim/faults", {"reset": True})
    assert client.completions.create(model=MODEL, prompt="x", max_tokens=1).choices


def test_cut_stream_breaks_the_client(client: OpenAI, sim: Proc) -> None:
    http_json(sim.url + "/sim/faults", {"drop_after_chunks": 2})
    messages: Any = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.APIError):
        list(
            client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        )


def test_client_disconnect_is_counted_as_an_abort(sim: Proc) -> None:
    http_json(sim.url + "/sim/faults", {"reset": True, "hang": True})
    http_json(sim.url + "/sim/reset", {})
    body = json.dumps({"prompt": "x", "max_tokens": 3}).encode()
    with socket.create_connection(("127.0.0.1", sim.port)) as sock:
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: "
            b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert wait_until(lambda: _load(sim) == (0, 1))
    assert wait_until(lambda: http_json(sim.url + "/sim/stats")["aborted"] == 1)
    http_json(sim.url + "/sim/faults", {"reset": True})


def test_requests_beyond_the_limit_wait_in_the_queue() -> None:
    """With one running slot a second request waits, then is served; SIGTERM exits 0."""
    proc = start_sim("--max-running-requests", "1", "--itl-base-ms", "20", name="sim-q")
    body = {"prompt": "x", "max_tokens": 10}
    try:
        threads = [
            threading.Thread(
                target=http_json, args=(proc.url + "/v1/completions", body)
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        assert wait_until(lambda: _load(proc) == (1, 1))
        for thread in threads:
            thread.join(timeout=5)
        assert http_json(proc.url + "/sim/stats")["completed"] == 2
        assert _load(proc) == (0, 0)
    finally:
        assert proc.stop() == 0


def _load(proc: Proc) -> tuple[int, int]:
    load = http_json(proc.url + "/v1/loads")["loads"][0]
    return load["num_running_reqs"], load["num_waiting_reqs"]
