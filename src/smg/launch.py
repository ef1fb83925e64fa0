"""`smg launch` (and bare `smg`): parse the original's flags, run the gateway."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from smg.config import (
    DEFAULT_REQUEST_ID_HEADERS,
    POLICIES,
    GatewayConfig,
    LoggingConfig,
    RoutingConfig,
    ServerConfig,
    WorkerConfig,
)
from smg.original_flags import ORIGINAL_LAUNCH_FLAGS

SUPPORTED_SCHEMES = ("http://", "https://")


class _NotBuilt(argparse.Action):
    """Refuses a flag of the original that this gateway does not implement yet."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kw: Any) -> None:
        parser.error(
            f"{self.option_strings[0]} is a flag of the original smg that this "
            "gateway does not support yet; remove it to start"
        )


def build_parser() -> argparse.ArgumentParser:
    d = GatewayConfig()
    parser = argparse.ArgumentParser(
        prog="smg",
        description="Shepherd Model Gateway: routes OpenAI-compatible requests "
        "across LLM inference workers. Commands: launch (default), serve, sim.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _worker_group(parser, d)
    _routing_group(parser, d)
    _request_group(parser, d)
    _startup_group(parser, d)
    _logging_group(parser, d)
    _auth_group(parser)
    known = set(parser._option_string_actions)
    for flag in sorted(ORIGINAL_LAUNCH_FLAGS - known):
        parser.add_argument(flag, action=_NotBuilt, nargs="*", help=argparse.SUPPRESS)
    return parser


def _worker_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    group = parser.add_argument_group("Worker Configuration")
    group.add_argument("--host", default=d.server.host, help="Address to bind")
    group.add_argument("--port", type=int, default=d.server.port, help="Port to bind")
    group.add_argument(
        "--worker-urls",
        nargs="*",
        default=[],
        help="HTTP worker URLs (http://host:port)",
    )


def _routing_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    r = d.routing
    group = parser.add_argument_group("Routing Policy")
    group.add_argument(
        "--policy", choices=POLICIES, default=r.policy, help="Load-balancing policy"
    )
    group.add_argument(
        "--cache-threshold",
        type=float,
        default=r.cache_threshold,
        help="cache_aware: minimum prefix match ratio to keep affinity",
    )
    group.add_argument(
        "--balance-abs-threshold",
        type=int,
        default=r.balance_abs_threshold,
        help="cache_aware: absolute load margin before spilling",
    )
    group.add_argument(
        "--balance-rel-threshold",
        type=float,
        default=r.balance_rel_threshold,
        help="cache_aware: relative load margin before spilling",
    )
    group.add_argument(
        "--max-tree-size",
        type=int,
        default=r.max_tree_size,
        help="cache_aware: characters kept per model tree",
    )
    group.add_argument(
        "--eviction-interval-secs",
        type=int,
        default=r.eviction_interval_secs,
        help="cache_aware: seconds between tree evictions",
    )
    group.add_argument(
        "--model-alias",
        action="append",
        default=[],
        help="Extra client-facing model name: <alias>=<canonical>",
    )


def _request_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    group = parser.add_argument_group("Request Handling")
    group.add_argument(
        "--request-id-headers",
        nargs="*",
        default=None,
        help="Headers checked for a client request id, in order "
        f"(default: {' '.join(DEFAULT_REQUEST_ID_HEADERS)})",
    )
    group.add_argument(
        "--request-timeout-secs",
        type=float,
        default=d.workers.request_timeout_secs,
        help="Upstream timeout: seconds without a byte from the worker",
    )
    group.add_argument(
        "--max-payload-size",
        type=int,
        default=d.server.max_payload_size_bytes,
        help="Largest request body in bytes (413 beyond)",
    )
    group.add_argument(
        "--upstream-pool-idle-timeout-secs",
        type=float,
        default=d.workers.pool_idle_timeout_secs,
        help="Idle timeout of pooled worker connections (0 = forever)",
    )


def _startup_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    w = d.workers
    group = parser.add_argument_group("Worker Startup")
    group.add_argument(
        "--worker-startup-timeout-secs",
        type=float,
        default=w.startup_timeout_secs,
        help="Give up on a startup worker after this long",
    )
    group.add_argument(
        "--worker-startup-delay",
        type=float,
        default=w.startup_delay_secs,
        help="Seconds before the first startup probe",
    )
    group.add_argument(
        "--worker-startup-check-interval",
        type=float,
        default=w.startup_check_interval_secs,
        help="Longest gap between startup probes",
    )
    group.add_argument(
        "--health-check-endpoint",
        default=w.health_check_endpoint,
        help="Worker path probed for health",
    )
    group.add_argument(
        "--health-check-timeout-secs",
        type=float,
        default=w.health_check_timeout_secs,
        help="Timeout of one probe",
    )
    group.add_argument(
        "--model-path",
        default=None,
        help="Model id for workers whose model cannot be discovered",
    )


def _logging_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    group = parser.add_argument_group("Logging")
    group.add_argument(
        "--log-level",
        choices=("debug", "info", "warn", "error"),
        default=d.logging.level,
        help="Log level",
    )
    group.add_argument("--log-json", action="store_true", help="Log JSON lines")
    group.add_argument("--log-dir", default=None, help="Also log to DIR/smg.log")


def _auth_group(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Data Plane Authentication")
    group.add_argument(
        "--api-key", default=None, help="Key sent to workers as a Bearer token"
    )


def config_from_args(args: argparse.Namespace) -> tuple[GatewayConfig, list[str]]:
    """Map parsed flags onto the config tree; also return every problem found."""
    problems = _validate(args)
    aliases = tuple(tuple(a.split("=", 1)) for a in args.model_alias if "=" in a)
    config = GatewayConfig(
        server=ServerConfig(
            host=args.host,
            port=args.port,
            max_payload_size_bytes=args.max_payload_size,
            request_id_headers=tuple(
                args.request_id_headers or DEFAULT_REQUEST_ID_HEADERS
            ),
        ),
        routing=RoutingConfig(
            policy=args.policy,
            model_aliases=aliases,
            cache_threshold=args.cache_threshold,
            balance_abs_threshold=args.balance_abs_threshold,
            balance_rel_threshold=args.balance_rel_threshold,
            max_tree_size=args.max_tree_size,
            eviction_interval_secs=args.eviction_interval_secs,
        ),
        workers=WorkerConfig(
            urls=tuple(args.worker_urls),
            api_key=args.api_key,
            model_path=args.model_path,
            request_timeout_secs=args.request_timeout_secs,
            pool_idle_timeout_secs=args.upstream_pool_idle_timeout_secs,
            startup_timeout_secs=args.worker_startup_timeout_secs,
            startup_delay_secs=args.worker_startup_delay,
            startup_check_interval_secs=args.worker_startup_check_interval,
            health_check_endpoint=args.health_check_endpoint,
            health_check_timeout_secs=args.health_check_timeout_secs,
        ),
        logging=LoggingConfig(
            level=args.log_level, json=args.log_json, dir=args.log_dir
        ),
    )
    return config, problems


def _validate(args: argparse.Namespace) -> list[str]:
    problems = []
    if not 1 <= args.port <= 65535:
        problems.append(f"--port must be between 1 and 65535, got {args.port}")
    for url in args.worker_urls:
        if url.startswith(("grpc://", "grpcs://", "ipc://")):
            problems.append(
                f"--worker-urls {url}: gRPC and ZMQ workers are not "
                "supported yet; use an http:// worker"
            )
        elif not url.startswith(SUPPORTED_SCHEMES):
            problems.append(f"--worker-urls {url}: expected http://host:port")
    for alias in args.model_alias:
        left, sep, right = alias.partition("=")
        if not (sep and left and right):
            problems.append(f"--model-alias must be <alias>=<canonical>, got {alias!r}")
    positive = {
        "--request-timeout-secs": args.request_timeout_secs,
        "--max-payload-size": args.max_payload_size,
        "--worker-startup-check-interval": args.worker_startup_check_interval,
        "--health-check-timeout-secs": args.health_check_timeout_secs,
    }
    for flag, value in positive.items():
        if value <= 0:
            problems.append(f"{flag} must be greater than 0, got {value}")
    if not 0.0 <= args.cache_threshold <= 1.0:
        problems.append(
            f"--cache-threshold must be in [0, 1], got {args.cache_threshold}"
        )
    return problems


def main(argv: Sequence[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    config, problems = config_from_args(args)
    if problems:
        parser.error("; ".join(problems))

    from smg.gateway import run

    sys.exit(run(config))
