"""PD disaggregation end to end: a gateway in front of simulated prefill and
decode workers that really hand KV rooms over their bootstrap port, so a wrong
host, port or room fails the request instead of passing silently."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import http_json, last_request, set_faults, sim_stats
from tests.procs import (
    SMG,
    Proc,
    free_port,
    metrics_flags,
    spawn,
    start_gateway,
    start_sim,
    wait_http,
)

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello there"}]}
# Short claim waits keep failure tests quick; the default is five seconds.
CLAIM = ("--bootstrap-timeout-secs", "0.5")


def post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    """POST JSON; returns (status, decoded body) for errors too."""
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def sim(role: str, *flags: str, name: str) -> Proc:
    return start_sim("--model", MODEL, "--fast", "--pd-role", role, *flags, name=name)


def pd_gateway(procs: list[Proc], *flags: str, ready: bool = True) -> Proc:
    gateway = start_gateway(
        "--pd-disaggregation", "--worker-startup-check-interval", "1", *flags,
        name="pd-gateway", ready=ready,
    )  # fmt: skip
    procs.append(gateway)
    return gateway


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[Proc, Proc, Proc, int]]:
    """The getting-started PD command, bare `smg` form, on loopback ports."""
    bootstrap = free_port()
    prefill = sim("prefill", "--bootstrap-port", str(bootstrap), *CLAIM, name="pre")
    decode = sim("decode", *CLAIM, name="dec")
    port = free_port()
    # smg --pd-disaggregation --prefill http://localhost:8000 8998
    #     --decode http://localhost:8001 --host 0.0.0.0 --port 30000
    gateway = spawn(
        "pd-gs-gateway",
        [
            *SMG,
            "--pd-disaggregation",
            "--prefill", f"http://localhost:{prefill.port}", str(bootstrap),
            "--decode", f"http://localhost:{decode.port}",
            "--host", "0.0.0.0",
            "--port", str(port),
            *metrics_flags(),
        ],
        port,
    )  # fmt: skip
    wait_http(gateway, "/readiness", timeout=30)
    yield gateway, prefill, decode, bootstrap
    for proc in (gateway, prefill, decode):
        proc.stop()


def test_getting_started_pd_command_answers_openai_sdk(fleet: Any) -> None:
    gateway, _, decode, _ = fleet
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused")
    reply = client.chat.completions.create(model=MODEL, messages=CHAT["messages"])
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens == 16

    stream = client.chat.completions.create(
        model=MODEL, messages=CHAT["messages"], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == reply.choices[0].message.content
    assert sim_stats(decode)["pd"]["claim_failures"] == 0


def test_both_legs_share_a_room_and_each_request_gets_a_fresh_one(fleet: Any) -> None:
    gateway, prefill, decode, bootstrap = fleet
    rooms = []
    for _ in range(2):
        status, _ = post(gateway.url + "/v1/chat/completions", CHAT)
        assert status == 200
        sent = last_request(prefill, "/v1/chat/completions")["body"]
        assert sent == last_request(decode, "/v1/chat/completions")["body"]
        assert sent["bootstrap_host"] == "localhost"
        assert sent["bootstrap_port"] == bootstrap
        assert 0 <= sent["bootstrap_room"] < 2**63
        rooms.append(sent["bootstrap_room"])
    assert rooms[0] != rooms[1]


def test_routed_worker_header_names_the_decode_worker(fleet: Any) -> None:
    gateway, _, decode, _ = fleet
    req = urllib.request.Request(
        gateway.url + "/v1/chat/completions",
        json.dumps(CHAT).encode(),
        {"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        routed = resp.headers["x-smg-routed-worker-id"]
    assert routed == f"http://localhost:{decode.port}"


def test_chat_n_sends_one_room_per_choice(fleet: Any) -> None:
    gateway, prefill, decode, _ = fleet
    status, reply = post(gateway.url + "/v1/chat/completions", {**CHAT, "n": 2})
    assert status == 200 and len(reply["choices"]) == 2
    sent = last_request(decode, "/v1/chat/completions")["body"]
    assert sent["bootstrap_host"] == ["localhost", "localhost"]
    assert len(set(sent["bootstrap_room"])) == 2
    assert sent == last_request(prefill, "/v1/chat/completions")["body"]


def test_batched_prompts_send_room_arrays_claimed_by_decode(fleet: Any) -> None:
    gateway, prefill, decode, _ = fleet
    claimed = sim_stats(decode)["pd"]
    before = sim_stats(prefill)["pd"]["rooms_claimed"]
    status, reply = post(gateway.url + "/generate", {"input_ids": [[1, 2, 3], [4, 5]]})
    assert status == 200 and len(reply) == 2
    sent = last_request(decode, "/generate")["body"]
    assert len(sent["bootstrap_room"]) == 2
    assert sent["bootstrap_port"] == [fleet[3], fleet[3]]
    assert sim_stats(prefill)["pd"]["rooms_claimed"] == before + 2
    assert sim_stats(decode)["pd"]["claim_failures"] == claimed["claim_failures"]


@pytest.mark.parametrize("stream", [False, True])
def test_prefill_input_logprobs_come_first(fleet: Any, stream: bool) -> None:
    gateway = fleet[0]
    body = {"text": "The quick brown fox jumps", "return_logprob": True}
    req = urllib.request.Request(
        gateway.url + "/generate",
        json.dumps({**body, "stream": stream}).encode(),
        {"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        raw = resp.read()
    if stream:
        events = [e for e in raw.split(b"\n\n") if e.startswith(b"data: {")]
        doc = json.loads(events[-1][len(b"data: ") :])
    else:
        doc = json.loads(raw)
    logprobs = doc["meta_info"]["input_token_logprobs"]
    # Seven prompt tokens from prefill, then the decode worker's last one.
    assert len(logprobs) == 7 + 1
    assert logprobs[-1] == logprobs[-2]


def test_prefill_failure_is_reported_as_prefill_error(fleet: Any) -> None:
    gateway, prefill, _, _ = fleet
    set_faults(prefill, fail_rate=1.0, fail_status=400)
    try:
        status, reply = post(gateway.url + "/v1/chat/completions", CHAT)
    finally:
        set_faults(prefill, reset=True)
    assert status == 400
    assert reply["error"]["code"] == "prefill_upstream_error"
    assert "prefill worker answered 400" in reply["error"]["message"]


def test_decode_failure_is_reported_as_decode_error(fleet: Any) -> None:
    gateway, _, decode, _ = fleet
    set_faults(decode, fail_rate=1.0, fail_status=400)
    try:
        status, reply = post(gateway.url + "/v1/chat/completions", CHAT)
    finally:
        set_faults(decode, reset=True)
    assert status == 400
    assert reply["error"]["code"] == "decode_upstream_error"


def test_wrong_bootstrap_port_fails_the_kv_claim(procs: list[Proc]) -> None:
    prefill = sim("prefill", "--bootstrap-port", str(free_port()), name="pre")
    decode = sim("decode", *CLAIM, name="dec")
    procs += [prefill, decode]
    wrong = str(free_port())
    gateway = pd_gateway(
        procs, "--prefill", prefill.url, wrong, "--decode", decode.url,
        "--retry-max-retries", "1",
    )  # fmt: skip
    status, reply = post(gateway.url + "/v1/chat/completions", CHAT)
    assert status == 500
    assert reply["error"]["code"] == "decode_upstream_error"
    assert "KV transfer failed" in reply["error"]["message"]


def test_bootstrap_port_none_sends_null(procs: list[Proc]) -> None:
    """A null port makes the decode worker use its own configured one."""
    bootstrap = str(free_port())
    prefill = sim("prefill", "--bootstrap-port", bootstrap, name="pre")
    decode = sim("decode", "--bootstrap-port", bootstrap, *CLAIM, name="dec")
    procs += [prefill, decode]
    gateway = pd_gateway(
        procs, "--prefill", prefill.url, "none", "--decode", decode.url
    )
    status, _ = post(gateway.url + "/v1/chat/completions", CHAT)
    assert status == 200
    assert (
        last_request(decode, "/v1/chat/completions")["body"]["bootstrap_port"] is None
    )
    workers = http_json(gateway.url + "/workers")["workers"]
    assert {w["worker_type"] for w in workers} == {"prefill", "decode"}


def test_dp_aware_pd_names_each_legs_rank(procs: list[Proc]) -> None:
    """With --dp-aware each leg gets its rank; decode also learns the prefill's."""
    bootstrap = str(free_port())
    prefill = sim("prefill", "--bootstrap-port", bootstrap, "--dp-size", "2",
                  name="pre")  # fmt: skip
    decode = sim("decode", "--dp-size", "2", *CLAIM, name="dec")
    procs += [prefill, decode]
    gateway = pd_gateway(
        procs, "--prefill", prefill.url, bootstrap,
        "--decode", decode.url, "--dp-aware", "--policy", "round_robin",
    )  # fmt: skip
    urls = sorted(w["url"] for w in http_json(gateway.url + "/workers")["workers"])
    assert urls == sorted(f"{w.url}@{r}" for w in (prefill, decode) for r in (0, 1))
    seen = set()
    for _ in range(4):
        status, _ = post(gateway.url + "/v1/chat/completions", CHAT)
        assert status == 200
        p_body = last_request(prefill, "/v1/chat/completions")["body"]
        d_body = last_request(decode, "/v1/chat/completions")["body"]
        assert d_body["disagg_prefill_dp_rank"] == p_body["routed_dp_rank"]
        assert d_body["bootstrap_room"] == p_body["bootstrap_room"]
        seen.add((p_body["routed_dp_rank"], d_body["routed_dp_rank"]))
    assert {p for p, _ in seen} == {0, 1} and {d for _, d in seen} == {0, 1}


def test_per_leg_policies_and_pair_retry_when_a_prefill_dies(
    procs: list[Proc],
) -> None:
    ports = [free_port(), free_port()]
    prefills = [sim("prefill", "--bootstrap-port", str(p), name="pre") for p in ports]
    decodes = [sim("decode", *CLAIM, name=f"dec{i}") for i in range(2)]
    procs += [*prefills, *decodes]
    gateway = pd_gateway(
        procs,
        "--prefill", prefills[0].url, str(ports[0]),
        "--prefill", prefills[1].url, str(ports[1]),
        "--decode", decodes[0].url, "--decode", decodes[1].url,
        "--policy", "random", "--prefill-policy", "round_robin",
        "--decode-policy", "round_robin", "--disable-health-check",
    )  # fmt: skip
    for _ in range(4):
        assert post(gateway.url + "/v1/chat/completions", CHAT)[0] == 200
    for worker in (*prefills, *decodes):
        assert sim_stats(worker)["requests"]["/v1/chat/completions"] == 2

    prefills[0].stop()
    for _ in range(3):
        assert post(gateway.url + "/v1/chat/completions", CHAT)[0] == 200
    assert sim_stats(prefills[1])["requests"]["/v1/chat/completions"] == 5


def test_readiness_needs_a_decode_worker(procs: list[Proc]) -> None:
    prefill = sim("prefill", "--bootstrap-port", str(free_port()), name="pre")
    procs.append(prefill)
    dead = f"http://127.0.0.1:{free_port()}"
    gateway = pd_gateway(procs, "--prefill", prefill.url, "--decode", dead, ready=False)
    wait_http(gateway, "/liveness")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(gateway.url + "/readiness", timeout=5)
    assert info.value.code == 503


def test_vllm_sequential_flow_round_trips_kv_transfer_params(
    procs: list[Proc],
) -> None:
    nixl = ("--kv-connector", "NixlConnector")
    prefill = sim("prefill", *nixl, name="vpre")
    decode = sim("decode", *nixl, *CLAIM, name="vdec")
    procs += [prefill, decode]
    gateway = pd_gateway(procs, "--prefill", prefill.url, "--decode", decode.url)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused")
    reply = client.chat.completions.create(
        model=MODEL, messages=CHAT["messages"], stream=True, max_tokens=5
    )
    assert "".join(c.choices[0].delta.content or "" for c in reply if c.choices)

    sent = last_request(prefill, "/v1/chat/completions")["body"]
    assert sent["stream"] is False and sent["max_tokens"] == 1
    assert sent["kv_transfer_params"] == {
        "do_remote_decode": True,
        "do_remote_prefill": False,
    }
    params = last_request(decode, "/v1/chat/completions")["body"]["kv_transfer_params"]
    assert params["do_remote_prefill"] is True
    assert params["remote_port"] == sim_stats(prefill)["pd"]["bootstrap_port"]
    assert sim_stats(prefill)["pd"]["rooms_claimed"] == 1

    status, _ = post(gateway.url + "/v1/chat/completions", {**CHAT, "n": 2})
    assert status == 200
    assert sim_stats(prefill)["requests"]["/v1/chat/completions"] == 1
    assert sim_stats(decode)["pd"]["recomputed"] == 1


def test_pd_metrics_are_exported(fleet: Any) -> None:
    gateway = fleet[0]
    post(gateway.url + "/v1/chat/completions", CHAT)
    log = gateway.log()
    metrics_port = int(
        log.split("metrics listening host=127.0.0.1 port=")[1].split()[0]
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
        text = resp.read().decode()
    assert "smg_pd_ttft_seconds_count" in text
    assert "smg_pd_prefill_duration_seconds_count" in text


def test_serve_starts_a_simulated_pd_fleet(procs: list[Proc]) -> None:
    port = free_port()
    serve = spawn(
        "serve-pd",
        [
            *SMG, "serve", "--backend", "sim", "--pd-disaggregation",
            "--port", str(port), "--worker-base-port", str(free_port()), "--fast",
            "--router-prometheus-host", "127.0.0.1",
            "--router-prometheus-port", str(free_port()),
        ],
        port,
    )  # fmt: skip
    procs.append(serve)
    wait_http(serve, "/readiness", timeout=30)
    workers = http_json(serve.url + "/workers")["workers"]
    assert sorted(w["worker_type"] for w in workers) == ["decode", "prefill"]
    model = http_json(serve.url + "/v1/models")["data"][0]["id"]
    status, reply = post(serve.url + "/v1/chat/completions", {**CHAT, "model": model})
    assert status == 200 and reply["choices"][0]["message"]["content"]
