"""Start the gateway from a config and run it until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
import time
from collections.abc import Callable

import uvloop

from smg import __version__
from smg.config import GatewayConfig
from smg.context import AppContext
from smg.http.server import HttpServer, ServerLimits
from smg.observability.logging import setup_logging
from smg.observability.startup import start_observability
from smg.server import errors
from smg.server.app import GatewayApp
from smg.server.auth import warn_if_open
from smg.workers.health import HealthChecker
from smg.workers.load_monitor import start_load_monitor
from smg.workers.pd_startup import start_pd_workers

logger = logging.getLogger(__name__)

# Allocations between young-generation collections. The default (700) runs the
# cyclic collector every few requests; the request path makes few cycles, so
# collecting less often costs little memory and keeps pauses off streams.
GC_YOUNG_THRESHOLD = 20_000

# Requests already on their way when SIGTERM lands get this long to arrive.
SETTLE_MAX_S = 5.0
DRAIN_POLL_S = 0.05


async def serve(config: GatewayConfig, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then drain. Workers come online in the background."""
    ctx = AppContext.build(config)
    ctx.started_at = time.time()
    await ctx.client.start()
    app = GatewayApp(ctx)
    warn_if_open(app.auth)
    server = HttpServer(app, errors.render_status, _limits(config))
    await server.start(
        config.server.host,
        config.server.port,
        reuse_port=config.server.processes > 1,
        ssl=_server_tls(config),
    )
    observability = await start_observability(ctx, server, ctx.observability)
    _settle_heap()
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
    health = HealthChecker(
        ctx.registry,
        ctx.client,
        config.health,
        config.workers,
        on_probe=ctx.observability.metrics.health_check,
    )
    health.start()
    load_monitor = start_load_monitor(ctx)
    tasks = [
        asyncio.create_task(_add_startup_worker(ctx, url))
        for url in config.workers.urls
    ]
    tasks += start_pd_workers(ctx)
    try:
        await stop.wait()
        await _drain(ctx, server)
    finally:
        for task in tasks:
            task.cancel()
        await health.close()
        if load_monitor is not None:
            await load_monitor.close()
        await server.close()
        await observability.close()
        await ctx.client.close()
        for policy in ctx.policies.all():
            policy.close()


async def _drain(ctx: AppContext, server: HttpServer) -> None:
    """Finish in-flight requests before exiting, within the grace period.

    Readiness turns 503 at once so load balancers stop sending; the listener
    stays open briefly for requests already on their way, then closes.
    """
    grace_s = ctx.config.server.shutdown_grace_period_secs
    ctx.draining = True
    logger.info("draining", extra={"in_flight": ctx.in_flight, "grace_s": grace_s})
    deadline = time.monotonic() + grace_s
    if ctx.in_flight:
        # Busy: keep accepting a little longer for requests already on their way.
        await asyncio.sleep(min(grace_s / 2, SETTLE_MAX_S))
    server.stop_accepting()
    while ctx.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(DRAIN_POLL_S)
    if ctx.in_flight:
        logger.warning("grace period over; closing", extra={"in_flight": ctx.in_flight})


def _settle_heap() -> None:
    """Move what start-up made (modules, config, routes) out of the collector's
    sight, so full collections scan only what serving allocates."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _limits(config: GatewayConfig) -> ServerLimits:
    s = config.server
    return ServerLimits(
        max_body_bytes=s.max_payload_size_bytes,
        header_read_timeout_s=s.header_read_timeout_secs,
        idle_timeout_s=s.idle_connection_timeout_secs,
    )


def _server_tls(config: GatewayConfig) -> ssl.SSLContext | None:
    security = config.security
    if not security.tls_cert_path:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(security.tls_cert_path, security.tls_key_path)
    return context


async def _add_startup_worker(ctx: AppContext, url: str) -> None:
    worker = ctx.new_worker(url, api_key=ctx.config.security.api_key)
    ctx.registry.add(worker)
    await ctx.bring_up(worker)


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
