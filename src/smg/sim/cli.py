"""`smg sim`: run the simulated inference engine as an HTTP server.

Flags map onto `SimConfig`, whose fields hold every default. The server runs on
uvloop until SIGINT or SIGTERM, then closes its connections and exits with 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys

import uvloop

from smg.http.server import HttpServer
from smg.observability.logging import setup_logging
from smg.sim.app import SimApp
from smg.sim.config import (
    NO_LATENCY,
    FaultConfig,
    LatencyConfig,
    PdConfig,
    SimConfig,
)
from smg.sim.context import build_context
from smg.sim.errors import render_status
from smg.sim.pd import ROLES

logger = logging.getLogger(__name__)

_DEFAULT = SimConfig()
_LATENCY = LatencyConfig()
_FAULTS = FaultConfig()
_PD = PdConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_server_arguments(parser)
    _add_engine_arguments(parser.add_argument_group("engine"))
    _add_latency_arguments(parser.add_argument_group("latency model"))
    _add_fault_arguments(parser.add_argument_group("faults (changeable at runtime)"))
    _add_pd_arguments(parser.add_argument_group("prefill/decode disaggregation"))


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=_DEFAULT.host)
    parser.add_argument("--port", type=int, default=_DEFAULT.port)
    parser.add_argument("--tls-cert-path", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key-path", help="private key of --tls-cert-path")
    parser.add_argument(
        "--tls-client-ca-path",
        help="require client certificates signed by this CA (mutual TLS)",
    )
    parser.add_argument(
        "--model",
        "--model-path",
        dest="model",
        default=_DEFAULT.model,
        help="served model id (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
    )
    parser.add_argument("--log-json", action="store_true", help="JSON log lines")


def _add_engine_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--seed", type=int, default=_DEFAULT.seed)
    group.add_argument(
        "--dp-size",
        type=int,
        default=_DEFAULT.dp_size,
        help="only reported in server info",
    )
    group.add_argument(
        "--max-running-requests",
        type=int,
        default=_DEFAULT.max_running_requests,
        help="requests decoding at once; more wait in FIFO order",
    )
    group.add_argument(
        "--max-queue",
        type=int,
        default=_DEFAULT.max_queue,
        help="waiting requests beyond this get 503",
    )
    group.add_argument(
        "--cache-tokens",
        type=int,
        default=_DEFAULT.cache_tokens,
        help="prefix cache capacity in tokens (0 disables)",
    )
    group.add_argument(
        "--max-total-tokens",
        type=int,
        default=_DEFAULT.max_total_tokens,
        help="KV capacity reported in loads (token_usage denominator)",
    )
    group.add_argument(
        "--max-tokens-default",
        type=int,
        default=_DEFAULT.max_tokens_default,
        help="completion length when a request sets none",
    )


def _add_latency_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--latency",
        choices=["model", "none"],
        default="model",
        help="'none' zeroes every delay (same as --fast)",
    )
    group.add_argument(
        "--fast", action="store_true", help="no delays: tokens as fast as possible"
    )
    group.add_argument("--ttft-base-ms", type=float, default=_LATENCY.ttft_base_ms)
    group.add_argument(
        "--prefill-ms-per-token",
        type=float,
        default=_LATENCY.prefill_ms_per_token,
        help="per uncached prompt token",
    )
    group.add_argument("--itl-base-ms", type=float, default=_LATENCY.itl_base_ms)
    group.add_argument(
        "--itl-ms-per-running",
        type=float,
        default=_LATENCY.itl_ms_per_running,
        help="added to each token's time per running request",
    )


def _add_fault_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--fail-rate",
        type=float,
        default=_FAULTS.fail_rate,
        help="share of inference requests answered with --fail-status",
    )
    group.add_argument("--fail-status", type=int, default=_FAULTS.fail_status)
    group.add_argument(
        "--delay-ms",
        type=float,
        default=_FAULTS.delay_ms,
        help="extra wait before serving an inference request",
    )
    group.add_argument(
        "--hang", action="store_true", help="never answer inference requests"
    )
    group.add_argument(
        "--drop-after-chunks",
        type=int,
        default=_FAULTS.drop_after_chunks,
        help="close the connection after N stream chunks (whole answers: unsent)",
    )
    group.add_argument(
        "--fail-health", action="store_true", help="health checks answer 503"
    )


def _add_pd_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--pd-role",
        "--disaggregation-mode",
        dest="pd_role",
        choices=ROLES,
        default=_PD.role,
        help="serve only the prefill or the decode half of each request",
    )
    group.add_argument(
        "--bootstrap-port",
        "--disaggregation-bootstrap-port",
        dest="bootstrap_port",
        type=int,
        default=_PD.bootstrap_port,
        help="prefill: port handing out KV rooms (0 picks one); decode: port "
        "claimed from when a request's bootstrap_port is null",
    )
    group.add_argument(
        "--kv-connector",
        default=_PD.kv_connector,
        help="vLLM-style KV transfer (e.g. NixlConnector, MooncakeConnector) "
        "instead of SGLang bootstrap rooms",
    )
    group.add_argument(
        "--bootstrap-timeout-secs",
        type=float,
        default=_PD.claim_timeout_secs,
        help="decode: how long to wait for a room's KV before failing",
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Build the config; raises ValueError naming every invalid flag at once."""
    problems = _check_ranges(args)
    if problems:
        raise ValueError("; ".join(problems))
    return SimConfig(
        host=args.host,
        port=args.port,
        model=args.model,
        seed=args.seed,
        dp_size=args.dp_size,
        max_running_requests=args.max_running_requests,
        max_queue=args.max_queue,
        cache_tokens=args.cache_tokens,
        max_total_tokens=args.max_total_tokens,
        max_tokens_default=args.max_tokens_default,
        latency=_latency_from(args),
        faults=_faults_from(args),
        pd=PdConfig(
            role=args.pd_role,
            bootstrap_port=args.bootstrap_port,
            kv_connector=args.kv_connector,
            claim_timeout_secs=args.bootstrap_timeout_secs,
        ),
    )


def _latency_from(args: argparse.Namespace) -> LatencyConfig:
    if args.fast or args.latency == "none":
        return NO_LATENCY
    return LatencyConfig(
        args.ttft_base_ms,
        args.prefill_ms_per_token,
        args.itl_base_ms,
        args.itl_ms_per_running,
    )


def _faults_from(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        args.fail_rate,
        args.fail_status,
        args.delay_ms,
        args.hang,
        args.drop_after_chunks,
        args.fail_health,
    )


def _check_ranges(args: argparse.Namespace) -> list[str]:
    checks = [
        ("--port", args.port, 0, 65535),
        ("--dp-size", args.dp_size, 1, None),
        ("--max-running-requests", args.max_running_requests, 1, None),
        ("--max-queue", args.max_queue, 0, None),
        ("--cache-tokens", args.cache_tokens, 0, None),
        ("--max-total-tokens", args.max_total_tokens, 1, None),
        ("--max-tokens-default", args.max_tokens_default, 0, None),
        ("--ttft-base-ms", args.ttft_base_ms, 0, None),
        ("--prefill-ms-per-token", args.prefill_ms_per_token, 0, None),
        ("--itl-base-ms", args.itl_base_ms, 0, None),
        ("--itl-ms-per-running", args.itl_ms_per_running, 0, None),
        ("--fail-rate", args.fail_rate, 0, 1),
        ("--fail-status", args.fail_status, 100, 599),
        ("--delay-ms", args.delay_ms, 0, None),
        ("--bootstrap-timeout-secs", args.bootstrap_timeout_secs, 0, None),
    ]
    if args.bootstrap_port is not None:
        checks.append(("--bootstrap-port", args.bootstrap_port, 0, 65535))
    if args.drop_after_chunks is not None:
        checks.append(("--drop-after-chunks", args.drop_after_chunks, 0, None))
    problems = []
    for flag, value, low, high in checks:
        if value < low or (high is not None and value > high):
            allowed = f"from {low} to {high}" if high is not None else f"at least {low}"
            problems.append(f"{flag} must be {allowed}, got {value}")
    return problems


def run(args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM; exits 2 on bad flags, 1 if it cannot bind."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"smg sim: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging(args.log_level, json=args.log_json)
    try:
        uvloop.run(serve(config, _tls_context(args)))
    except OSError as exc:
        logger.error("cannot listen", extra={"host": config.host, "port": config.port})
        sys.exit(f"smg sim: cannot listen on {config.host}:{config.port}: {exc}")


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert_path:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert_path, args.tls_key_path)
    if args.tls_client_ca_path:
        context.load_verify_locations(args.tls_client_ca_path)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def serve(config: SimConfig, tls: ssl.SSLContext | None = None) -> None:
    """Run the simulator on the current loop until a stop signal arrives."""
    ctx = build_context(config)
    server = HttpServer(SimApp(ctx).handle, render_status)
    await server.start(config.host, config.port, ssl=tls)
    if ctx.pd is not None:
        await ctx.pd.start()
    logger.info(
        "sim engine listening",
        extra={
            "host": config.host,
            "port": server.port,
            "model": config.model,
            "is_fast": config.latency.is_zero,
        },
    )
    scheme = "https" if tls else "http"
    url = f"{scheme}://{config.host}:{server.port}"
    print(f"smg sim: serving {config.model} on {url}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("sim engine stopping")
    await server.close()
    if ctx.pd is not None:
        await ctx.pd.close()
