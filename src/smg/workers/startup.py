"""Bring startup workers online: probe each until it answers, learn its model.

The gateway serves from the first moment; a worker becomes routable once its
probe succeeds, so `/readiness` stays 503 until the first one does. Probes start
fast and back off up to `--worker-startup-check-interval`, so a worker that is
up at launch is ready within milliseconds and a slow one is not hammered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from smg.config import WorkerConfig
from smg.workers.http_client import HttpWorkerClient, UpstreamError
from smg.workers.registry import WorkerRegistry
from smg.workers.worker import FAILED, READY, UNKNOWN_MODEL, Worker

logger = logging.getLogger(__name__)

FIRST_PROBE_GAP_S = 0.25
# Where each engine family reports its model, tried in this order.
MODEL_SOURCES = ("/get_server_info", "/get_model_info", "/v1/models")


async def bring_up(
    worker: Worker,
    registry: WorkerRegistry,
    client: HttpWorkerClient,
    config: WorkerConfig,
) -> None:
    """Probe `worker` until healthy, then discover its model and mark it ready.

    Gives up after the startup timeout and marks the worker failed.
    """
    if config.startup_delay_secs:
        await asyncio.sleep(config.startup_delay_secs)
    deadline = time.monotonic() + config.startup_timeout_secs
    gap = FIRST_PROBE_GAP_S
    while not await client.probe(
        worker.url,
        config.health_check_endpoint,
        config.health_check_timeout_secs,
        worker.api_key,
    ):
        if time.monotonic() + gap > deadline:
            worker.status = FAILED
            registry.refresh()
            logger.error(
                "worker never became healthy", extra={"worker_url": worker.url}
            )
            return
        await asyncio.sleep(gap)
        gap = min(gap * 2, config.startup_check_interval_secs)

    await discover_model(worker, client, config)
    worker.status = READY
    registry.refresh()
    logger.info(
        "worker ready", extra={"worker_url": worker.url, "model": worker.model_id}
    )


async def discover_model(
    worker: Worker, client: HttpWorkerClient, config: WorkerConfig
) -> None:
    """Fill the worker's model id and labels from the first source that knows."""
    for path in MODEL_SOURCES:
        try:
            info = await client.get_json(
                worker.url, path, config.health_check_timeout_secs, worker.api_key
            )
        except UpstreamError:
            continue
        model = _model_from(path, info, worker)
        if model:
            worker.model_id = model
            return
    worker.model_id = config.model_path or UNKNOWN_MODEL


def _model_from(path: str, info: Any, worker: Worker) -> str | None:
    if not isinstance(info, dict):
        return None
    if path == "/v1/models":
        data = info.get("data")
        if isinstance(data, list) and data and isinstance(data[0], dict):
            model = data[0].get("id")
            if isinstance(model, str) and model:
                worker.runtime_type = _runtime(data[0].get("owned_by"))
                return model
        return None
    for key in (
        "model_path",
        "served_model_name",
        "tokenizer_path",
        "dp_size",
        "version",
        # vLLM PD: the prefill worker's connector picks the KV transfer mode.
        "kv_connector",
        "kv_engine_id",
    ):
        value = info.get(key)
        if value is not None and not isinstance(value, (dict, list)):
            worker.labels[key] = str(value)
    for key in ("model_id", "served_model_name"):
        value = info.get(key)
        if isinstance(value, str) and value:
            return value
    model_path = info.get("model_path")
    if isinstance(model_path, str) and model_path:
        return model_path.rstrip("/").rsplit("/", 1)[-1]
    return None


def _runtime(owned_by: object) -> str:
    return owned_by if owned_by in ("sglang", "vllm", "trtllm") else "sglang"
