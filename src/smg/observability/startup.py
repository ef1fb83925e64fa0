"""Observability as the gateway starts and stops it: one bundle, one listener.

`start_observability` connects the `Observability` bundle to the running
gateway: scrape-time views of workers, connections and admission, secret
redaction in logs, and the Prometheus listener.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from smg.config import GatewayConfig
from smg.observability.logging import redact_secrets
from smg.observability.metrics_server import MetricsServer
from smg.observability.observer import Observability

if TYPE_CHECKING:
    from smg.context import AppContext
    from smg.http.server import HttpServer

logger = logging.getLogger(__name__)


class ObservabilityHandle:
    """The running side: the metrics listener and the trace exporter."""

    def __init__(self, observability: Observability, server: MetricsServer) -> None:
        self.observability = observability
        self.metrics_server = server

    async def close(self) -> None:
        await self.metrics_server.close()
        # Flushing spans may wait on the collector; keep the loop free meanwhile.
        await asyncio.to_thread(self.observability.tracing.shutdown)


async def start_observability(
    ctx: AppContext,
    server: HttpServer,
    observability: Observability | None = None,
) -> ObservabilityHandle:
    """Start the Prometheus listener and hook metrics to the live gateway.

    Builds the bundle from the config when none is given. Raises OSError when
    the metrics address is taken, as the gateway's own address would.
    """
    config = ctx.config
    obs = observability or Observability.build(config)
    redact_secrets(_secrets(config))
    _watch_gateway(obs, ctx, server)

    host = metrics_host(config)
    port = config.observability.prometheus_port
    metrics_server = MetricsServer(obs.metrics.collector)
    try:
        await metrics_server.start(host, port)
    except OSError as exc:
        obs.tracing.shutdown()
        raise OSError(
            exc.errno,
            f"cannot bind the metrics listener on {host}:{port} "
            f"(--prometheus-host/--prometheus-port): {exc.strerror}",
        ) from exc
    logger.info(
        "metrics listening",
        extra={"host": host, "port": port, "tracing": obs.tracing.is_enabled},
    )
    return ObservabilityHandle(obs, metrics_server)


def _watch_gateway(obs: Observability, ctx: AppContext, server: HttpServer) -> None:
    obs.metrics.watch_workers(ctx.registry.all)
    obs.metrics.watch_cache_trees(ctx.policies.tree_sizes)
    obs.metrics.watch_connections(lambda: len(server.connections))
    admission = ctx.admission

    def inflight() -> int:
        # Without a concurrency limit admission hands out no permits to count.
        return admission.in_service if admission.enabled else ctx.in_flight

    obs.metrics.watch_admission(inflight, lambda: admission.queued)


def metrics_host(config: GatewayConfig) -> str:
    """--prometheus-host, else the unspecified address of --host's family."""
    if config.observability.prometheus_host:
        return config.observability.prometheus_host
    return "::" if ":" in config.server.host else "0.0.0.0"


def _secrets(config: GatewayConfig) -> list[str | None]:
    security = config.security
    return [security.api_key, *(entry[3] for entry in security.control_plane_keys)]
