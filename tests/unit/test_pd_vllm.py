"""vLLM KV transfer: mode choice, the prefill leg's body, harvesting params."""

from __future__ import annotations

import pytest

from smg.routers import pd_vllm
from smg.workers.worker import Worker


@pytest.mark.parametrize(
    ("labels", "runtime", "mode"),
    [
        ({"kv_connector": "NixlConnector"}, "sglang", pd_vllm.NIXL),
        ({"kv_connector": "MooncakeConnector"}, "vllm", pd_vllm.MOONCAKE),
        ({"kv_connector": "LMCacheConnector"}, "vllm", pd_vllm.PASSTHROUGH),
        ({}, "vllm", pd_vllm.PASSTHROUGH),
        ({}, "sglang", None),
    ],
)
def test_kv_mode_follows_the_prefill_connector(
    labels: dict[str, str], runtime: str, mode: str | None
) -> None:
    worker = Worker("http://p:1", labels=labels, runtime_type=runtime)
    assert pd_vllm.kv_mode(worker) == mode


def test_prefill_leg_is_whole_single_and_capped_at_one_token() -> None:
    body = {"stream": True, "stream_options": {}, "n": 1, "min_tokens": 4,
            "max_completion_tokens": 50}  # fmt: skip
    leg = pd_vllm.prefill_body(body, "/v1/chat/completions", pd_vllm.NIXL)
    assert leg["stream"] is False and "stream_options" not in leg
    assert "min_tokens" not in leg and leg["max_completion_tokens"] == 1
    assert leg["kv_transfer_params"] == {
        "do_remote_decode": True,
        "do_remote_prefill": False,
    }
    assert body["stream"] is True


def test_mooncake_prefill_names_a_transfer_id() -> None:
    leg = pd_vllm.prefill_body({}, "/v1/responses", pd_vllm.MOONCAKE)
    assert leg["max_output_tokens"] == 1
    assert leg["kv_transfer_params"]["transfer_id"].startswith("xfer-")


def test_harvest_returns_params_or_none() -> None:
    assert pd_vllm.harvest(b'{"kv_transfer_params": {"a": 1}}') == {"a": 1}
    assert pd_vllm.harvest(b'{"choices": []}') is None
    assert pd_vllm.harvest(b"not json") is None


def test_n_above_one_skips_prefill() -> None:
    assert pd_vllm.skips_prefill({"n": 2}) and not pd_vllm.skips_prefill({"n": 1})
