"""The upstreams the targets send to: nginx with fixed answers, and the smg sim.

nginx answers from memory with no work behind it, so what a gateway adds is all
that is measured. The sim in its no-latency mode streams one token per SSE chunk
as fast as it can, which exercises the gateway's stream relay.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.procs import Child, free_port, pinned, start, wait_ready

MODEL = "bench-model"

MODELS_BODY = (
    '{"object":"list","data":[{"id":"' + MODEL + '","object":"model",'
    '"created":0,"owned_by":"sglang"}]}'
)
CHAT_BODY = (
    '{"id":"chatcmpl-bench","object":"chat.completion","created":0,'
    '"model":"' + MODEL + '","choices":[{"index":0,"message":{"role":"assistant",'
    '"content":"ok"},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}'
)
# SGLang's discovery answers, so the original treats nginx as the engine it is
# built for rather than a generic OpenAI-compatible server.
SERVER_INFO_BODY = (
    '{"served_model_name":"' + MODEL + '","model_path":"' + MODEL + '",'
    '"tokenizer_path":"' + MODEL + '","dp_size":1,"tp_size":1,'
    '"max_running_requests":4096,"page_size":16,"version":"0.0.0"}'
)
MODEL_INFO_BODY = (
    '{"model_path":"' + MODEL + '","tokenizer_path":"' + MODEL + '",'
    '"is_generation":true,"model_type":"bench"}'
)
NOT_FOUND_BODY = '{"error":{"message":"not found","type":"not_found","code":404}}'

# Flag names the sim may use for its no-latency mode, most likely first.
SIM_FAST_FLAGS = ("--fast", "--no-latency", "--zero-latency")

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    # One connection must carry a whole run: wrk and the gateways never reconnect.
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /health {{ return 200 '{{"status":"ok"}}'; }}
        location = /v1/models {{ return 200 '{models}'; }}
        location ~ ^/(get_)?server_info$ {{ return 200 '{server_info}'; }}
        location ~ ^/(get_)?model_info$ {{ return 200 '{model_info}'; }}
        location = /v1/chat/completions {{ return 200 '{chat}'; }}
        location / {{ return 404 '{not_found}'; }}
    }}
}}
"""


def start_nginx(tmp: Path, core: int | None) -> tuple[Child, str]:
    """Start nginx in the foreground on a free port; returns it and its base URL."""
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            tmp=tmp, port=port, models=MODELS_BODY, chat=CHAT_BODY,
            server_info=SERVER_INFO_BODY, model_info=MODEL_INFO_BODY,
            not_found=NOT_FOUND_BODY,
        )
    )  # fmt: skip
    argv = ["nginx", "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "err.log")]
    child = start("nginx", pinned(argv, core), tmp)
    url = f"http://127.0.0.1:{port}"
    wait_ready(child, f"{url}/health", timeout_s=10, body=None)
    return child, url


def sim_fast_flag() -> str:
    """The sim's no-latency flag, read from its --help.

    Raises RuntimeError when the sim is missing or has none of the known flags.
    """
    argv = [sys.executable, "-m", "smg", "sim", "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    for flag in SIM_FAST_FLAGS:
        if flag in result.stdout:
            return flag
    raise RuntimeError(
        "smg sim has no no-latency flag (looked for "
        f"{', '.join(SIM_FAST_FLAGS)}):\n{result.stderr[-2000:]}"
    )


def start_sim(
    tmp: Path, core: int | None, latency_flags: Sequence[str] | None = None
) -> tuple[Child, str]:
    """Start `smg sim`; returns it and its base URL.

    It runs in its no-latency mode unless latency_flags pace it.
    """
    port = free_port()
    argv = [
        sys.executable, "-m", "smg", "sim", "--host", "127.0.0.1",
        "--port", str(port), "--model", MODEL, "--log-level", "warning",
        *(latency_flags if latency_flags is not None else [sim_fast_flag()]),
    ]  # fmt: skip
    child = start("sim", pinned(argv, core), tmp)
    url = f"http://127.0.0.1:{port}"
    wait_ready(child, f"{url}/health", timeout_s=30, body=None)
    return child, url
