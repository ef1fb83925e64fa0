"""Start the gateway from a config and run it until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable

import uvloop

from smg import __version__
from smg.config import GatewayConfig
from smg.context import AppContext
from smg.http.server import HttpServer, ServerLimits
from smg.observability.logging import setup_logging
from smg.server import errors
from smg.server.app import GatewayApp
from smg.workers.startup import bring_up
from smg.workers.worker import Worker

logger = logging.getLogger(__name__)


async def serve(config: GatewayConfig, stop: asyncio.Event) -> None:
    """Serve until `stop` is set. Workers come online in the background."""
    ctx = AppContext.build(config)
    ctx.started_at = time.time()
    await ctx.client.start()
    limits = ServerLimits(max_body_bytes=config.server.max_payload_size_bytes)
    server = HttpServer(GatewayApp(ctx), errors.render_status, limits)
    await server.start(config.server.host, config.server.port)
    logger.info(
        "gateway listening",
        extra={
            "host": config.server.host,
            "port": config.server.port,
            "policy": config.routing.policy,
            "workers": len(config.workers.urls),
            "version": __version__,
        },
    )
    tasks = [
        asyncio.create_task(_add_startup_worker(ctx, url))
        for url in config.workers.urls
    ]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await server.close()
        await ctx.client.close()
        for policy in ctx.policies.all():
            policy.close()


async def _add_startup_worker(ctx: AppContext, url: str) -> None:
    worker = Worker(url, api_key=ctx.config.workers.api_key)
    ctx.registry.add(worker)
    await bring_up(worker, ctx.registry, ctx.client, ctx.config.workers)


def run(config: GatewayConfig) -> int:
    """Run the gateway in this process; returns the exit code."""
    setup_logging(config.logging.level, config.logging.json, config.logging.dir)
    try:
        run_until_signal(config)
    except OSError as exc:
        logger.error("cannot start the gateway", extra={"reason": str(exc)})
        return 1
    return 0


def run_until_signal(config: GatewayConfig) -> int:
    """Serve until SIGINT or SIGTERM; returns the signal's number."""
    received: list[int] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stopper(stop, received, sig))
        await serve(config, stop)

    uvloop.run(main())
    return received[0] if received else 0


def _stopper(stop: asyncio.Event, received: list[int], sig: int) -> Callable[[], None]:
    def handle() -> None:
        received.append(sig)
        stop.set()

    return handle
