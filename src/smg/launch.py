"""`smg launch` (and bare `smg`): parse the original's flags, run the gateway."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from smg.config import (
    ASSIGNMENT_MODES,
    DEFAULT_REQUEST_ID_HEADERS,
    POLICIES,
    POWER_OF_TWO_LOAD_METRICS,
    PREFILL_POLICIES,
    AdmissionConfig,
    CircuitBreakerConfig,
    GatewayConfig,
    HealthConfig,
    LoadMonitorConfig,
    LoggingConfig,
    ObservabilityConfig,
    RetryConfig,
    RoutingConfig,
    SecurityConfig,
    ServerConfig,
    WorkerConfig,
)
from smg.original_flags import ORIGINAL_LAUNCH_FLAGS
from smg.pd_cli import add_pd_arguments, pd_config, pd_problems

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
    _metrics_group(parser, d)
    _tracing_group(parser, d)
    _auth_group(parser)
    _resilience_groups(parser, d)
    _admission_group(parser, d)
    _security_groups(parser, d)
    add_pd_arguments(parser)
    known = set(parser._option_string_actions)
    for flag in sorted(ORIGINAL_LAUNCH_FLAGS - known):
        parser.add_argument(flag, action=_NotBuilt, nargs="*", help=argparse.SUPPRESS)
    return parser


def _worker_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    group = parser.add_argument_group("Worker Configuration")
    group.add_argument("--host", default=d.server.host, help="Address to bind")
    group.add_argument("--port", type=int, default=d.server.port, help="Port to bind")
    group.add_argument(
        "--workers",
        type=int,
        default=d.server.processes,
        help="Gateway processes sharing the port; each keeps its own routing "
        "state, and process i serves metrics on --prometheus-port + i",
    )
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
        "--prefill-policy",
        choices=PREFILL_POLICIES,
        default=r.prefill_policy,
        help="Policy of prefill workers in PD mode; unset uses --policy",
    )
    group.add_argument(
        "--decode-policy",
        choices=POLICIES,
        default=r.decode_policy,
        help="Policy of decode workers in PD mode; unset uses --policy",
    )
    _cache_aware_flags(group, r)
    _load_aware_flags(group, r, d.load_monitor)
    _sticky_flags(group, r)
    group.add_argument(
        "--dp-aware",
        action="store_true",
        default=r.dp_aware,
        help="Route to each data-parallel rank of an engine (from its dp_size) "
        "and name it in data_parallel_rank",
    )
    group.add_argument(
        "--model-alias",
        action="append",
        default=[],
        help="Extra client-facing model name: <alias>=<canonical>",
    )


def _cache_aware_flags(group: argparse._ArgumentGroup, r: RoutingConfig) -> None:
    group.add_argument(
        "--cache-threshold",
        "--cache-match-threshold",
        type=float,
        default=r.cache_threshold,
        help="cache_aware: minimum prefix match ratio to keep affinity",
    )
    group.add_argument(
        "--balance-abs-threshold",
        "--spill-abs-threshold",
        type=int,
        default=r.balance_abs_threshold,
        help="cache_aware: in-flight requests over the mean before spilling "
        "(capped at two standard deviations of the mean, at least 4)",
    )
    group.add_argument(
        "--balance-rel-threshold",
        "--spill-rel-threshold",
        type=float,
        default=r.balance_rel_threshold,
        help="cache_aware: multiple of the mean load before spilling",
    )
    group.add_argument(
        "--max-tree-size",
        type=int,
        default=r.max_tree_size,
        help="cache_aware: characters (tokens) indexed per model",
    )
    group.add_argument(
        "--eviction-interval-secs",
        type=int,
        default=r.eviction_interval_secs,
        help="cache_aware: accepted; the index evicts on insert instead",
    )
    group.add_argument(
        "--block-size",
        type=int,
        default=r.block_size_tokens,
        help="cache_aware: tokens per index page for token-id requests",
    )
    group.add_argument(
        "--prefix-token-count",
        type=int,
        default=r.prefix_token_count,
        help="prefix_hash: token ids hashed (four times as many characters)",
    )
    group.add_argument(
        "--prefix-hash-load-factor",
        type=float,
        default=r.prefix_hash_load_factor,
        help="prefix_hash: multiple of the average load that counts as overloaded",
    )
    group.add_argument(
        "--prefix-hash-balance-abs-threshold",
        type=int,
        default=r.prefix_hash_balance_abs_threshold,
        help="prefix_hash: load over the average that counts as overloaded",
    )


def _load_aware_flags(
    group: argparse._ArgumentGroup, r: RoutingConfig, m: LoadMonitorConfig
) -> None:
    group.add_argument(
        "--least-load-kv-pressure-weight",
        type=float,
        default=r.least_load_kv_pressure_weight,
        help="least_load: seconds of wait charged for KV pressure k/(1-k)",
    )
    group.add_argument(
        "--least-load-default-throughput",
        type=float,
        default=r.least_load_default_throughput,
        help="least_load: tokens/s assumed when a worker reports none",
    )
    group.add_argument(
        "--least-load-mean-prefill-tokens",
        type=int,
        default=r.least_load_mean_prefill_tokens,
        help="least_load: prompt tokens assumed per request sent since a report",
    )
    group.add_argument(
        "--least-load-max-waiting-requests",
        type=int,
        default=r.least_load_max_waiting_requests,
        help="least_load: skip workers with this many waiting requests (0 = off)",
    )
    group.add_argument(
        "--power-of-two-load-metric",
        choices=POWER_OF_TWO_LOAD_METRICS,
        default=r.power_of_two_load_metric,
        help="power_of_two: what the two sampled workers are compared by",
    )
    group.add_argument(
        "--load-monitor-interval",
        type=float,
        default=m.interval_secs,
        help="Seconds between polls of the workers' /v1/loads",
    )
    group.add_argument(
        "--disable-load-monitoring",
        action="store_true",
        help="Poll loads only when the policy uses them",
    )
    group.add_argument(
        "--bucket-adjust-interval-secs",
        type=int,
        default=r.bucket_adjust_interval_secs,
        help="bucket: seconds between boundary adjustments",
    )


def _sticky_flags(group: argparse._ArgumentGroup, r: RoutingConfig) -> None:
    group.add_argument(
        "--max-idle-secs",
        "--sticky-key-idle-secs",
        type=int,
        default=r.max_idle_secs,
        help="manual and sticky sessions: forget keys unused this long",
    )
    group.add_argument(
        "--assignment-mode",
        choices=ASSIGNMENT_MODES,
        default=r.assignment_mode,
        help="How a new routing key gets its worker; unset means random for "
        "manual, delegate for --routing-key-override",
    )
    group.add_argument(
        "--routing-key-override",
        "--sticky-sessions",
        action="store_true",
        help="Sticky sessions on any policy: one worker per routing key or rid",
    )
    group.add_argument(
        "--routing-key-headers",
        nargs="*",
        default=None,
        help="Headers read for the routing key, first valid one wins; unset "
        f"means {' '.join(r.routing_key_headers)}",
    )


def _routing_config(
    args: argparse.Namespace, aliases: tuple[tuple[str, ...], ...]
) -> RoutingConfig:
    headers = args.routing_key_headers or RoutingConfig().routing_key_headers
    return RoutingConfig(
        policy=args.policy,
        model_aliases=aliases,  # type: ignore[arg-type]
        cache_threshold=args.cache_threshold,
        balance_abs_threshold=args.balance_abs_threshold,
        balance_rel_threshold=args.balance_rel_threshold,
        max_tree_size=args.max_tree_size,
        eviction_interval_secs=args.eviction_interval_secs,
        block_size_tokens=args.block_size,
        prefill_policy=args.prefill_policy,
        decode_policy=args.decode_policy,
        prefix_token_count=args.prefix_token_count,
        prefix_hash_load_factor=args.prefix_hash_load_factor,
        prefix_hash_balance_abs_threshold=args.prefix_hash_balance_abs_threshold,
        least_load_kv_pressure_weight=args.least_load_kv_pressure_weight,
        least_load_default_throughput=args.least_load_default_throughput,
        least_load_mean_prefill_tokens=args.least_load_mean_prefill_tokens,
        least_load_max_waiting_requests=args.least_load_max_waiting_requests,
        power_of_two_load_metric=args.power_of_two_load_metric,
        max_idle_secs=args.max_idle_secs,
        assignment_mode=args.assignment_mode,
        routing_key_override=args.routing_key_override,
        routing_key_headers=tuple(h.lower() for h in headers),
        bucket_adjust_interval_secs=args.bucket_adjust_interval_secs,
        dp_aware=args.dp_aware,
    )


def _routing_problems(args: argparse.Namespace) -> list[str]:
    at_least = {
        "--balance-abs-threshold": (args.balance_abs_threshold, 0),
        "--balance-rel-threshold": (args.balance_rel_threshold, 1.0),
        "--max-tree-size": (args.max_tree_size, 1),
        "--block-size": (args.block_size, 1),
        "--prefix-token-count": (args.prefix_token_count, 1),
        "--prefix-hash-load-factor": (args.prefix_hash_load_factor, 1.0),
        "--prefix-hash-balance-abs-threshold": (
            args.prefix_hash_balance_abs_threshold,
            0,
        ),
        "--least-load-kv-pressure-weight": (args.least_load_kv_pressure_weight, 0.0),
        "--least-load-mean-prefill-tokens": (args.least_load_mean_prefill_tokens, 1),
        "--least-load-max-waiting-requests": (args.least_load_max_waiting_requests, 0),
        "--max-idle-secs": (args.max_idle_secs, 1),
        "--bucket-adjust-interval-secs": (args.bucket_adjust_interval_secs, 1),
    }
    problems = [
        f"{flag} must be at least {low}, got {value}"
        for flag, (value, low) in at_least.items()
        if not low <= value < float("inf")
    ]
    for flag, value in (
        ("--least-load-default-throughput", args.least_load_default_throughput),
        ("--load-monitor-interval", args.load_monitor_interval),
    ):
        if not 0 < value < float("inf"):
            problems.append(f"{flag} must be greater than 0, got {value}")
    if args.routing_key_headers is not None and not all(args.routing_key_headers):
        problems.append("--routing-key-headers must name non-empty headers")
    return problems


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
    access = group.add_mutually_exclusive_group()
    access.add_argument(
        "--enable-access-log",
        dest="access_log",
        action="store_true",
        default=d.logging.access_log,
        help="Log one INFO line per request on the smg.access logger (off: the "
        "hot path stays lean; metrics and traces cover most needs)",
    )
    access.add_argument(
        "--disable-access-log",
        dest="access_log",
        action="store_false",
        help="Do not log one line per request (the default)",
    )


def _metrics_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    o = d.observability
    group = parser.add_argument_group("Prometheus Metrics")
    group.add_argument(
        "--prometheus-port",
        type=int,
        default=o.prometheus_port,
        help="Port of the /metrics listener",
    )
    group.add_argument(
        "--prometheus-host",
        default=o.prometheus_host,
        help="Address of the /metrics listener; unset means 0.0.0.0, or :: "
        "when --host is IPv6",
    )
    group.add_argument(
        "--prometheus-duration-buckets",
        type=float,
        nargs="+",
        default=None,
        help="Bucket bounds in seconds of the duration histograms; unset "
        "means 29 bounds from 0.001 to 7200",
    )


def _tracing_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    o = d.observability
    group = parser.add_argument_group("Tracing")
    group.add_argument(
        "--enable-trace",
        action="store_true",
        help="Export OpenTelemetry spans over OTLP gRPC",
    )
    group.add_argument(
        "--otlp-traces-endpoint",
        default=o.otlp_traces_endpoint,
        help="OTLP gRPC collector as host:port, used with --enable-trace",
    )


def _auth_group(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Data Plane Authentication")
    group.add_argument(
        "--api-key", default=None, help="Key sent to workers as a Bearer token"
    )


def _resilience_groups(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    r, cb, h = d.retry, d.circuit_breaker, d.health
    retry = parser.add_argument_group("Retry Configuration")
    retry.add_argument(
        "--retry-max-retries",
        type=int,
        default=r.max_attempts,
        help="Total attempts per request, the first included",
    )
    retry.add_argument(
        "--retry-initial-backoff-ms",
        type=int,
        default=r.initial_backoff_ms,
        help="First backoff",
    )
    retry.add_argument(
        "--retry-max-backoff-ms",
        type=int,
        default=r.max_backoff_ms,
        help="Longest backoff",
    )
    retry.add_argument(
        "--retry-backoff-multiplier",
        type=float,
        default=r.backoff_multiplier,
        help="Backoff growth per attempt",
    )
    retry.add_argument(
        "--retry-jitter-factor",
        type=float,
        default=r.jitter_factor,
        help="Random share added to or taken from each backoff",
    )
    retry.add_argument(
        "--disable-retries", action="store_true", help="One attempt per request"
    )
    breaker = parser.add_argument_group("Circuit Breaker")
    breaker.add_argument(
        "--cb-failure-threshold",
        type=int,
        default=cb.failure_threshold,
        help="Consecutive failures that open a worker's circuit",
    )
    breaker.add_argument(
        "--cb-success-threshold",
        type=int,
        default=cb.success_threshold,
        help="Half-open successes that close it",
    )
    breaker.add_argument(
        "--cb-timeout-duration-secs",
        type=float,
        default=cb.timeout_secs,
        help="Seconds an open circuit waits before a trial",
    )
    breaker.add_argument(
        "--cb-window-duration-secs",
        type=float,
        default=cb.window_secs,
        help="Failure window (kept for "
        "compatibility; failures are counted consecutively)",
    )
    breaker.add_argument(
        "--disable-circuit-breaker",
        action="store_true",
        help="Never stop routing to failing workers",
    )
    health = parser.add_argument_group("Health Checks")
    health.add_argument(
        "--health-failure-threshold",
        type=int,
        default=h.failure_threshold,
        help="Failed probes that make a worker not ready",
    )
    health.add_argument(
        "--health-success-threshold",
        type=int,
        default=h.success_threshold,
        help="Passed probes that make it ready again",
    )
    health.add_argument(
        "--health-check-interval-secs",
        type=float,
        default=h.interval_secs,
        help="Seconds between probes",
    )
    health.add_argument(
        "--disable-health-check", action="store_true", help="No periodic probes"
    )
    health.add_argument(
        "--remove-unhealthy-workers",
        "--worker-auto-recovery",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Remove workers whose health failed for good",
    )


def _admission_group(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    a, s = d.admission, d.server
    group = parser.add_argument_group("Rate Limiting")
    group.add_argument(
        "--max-concurrent-requests",
        type=int,
        default=a.max_concurrent_requests,
        help="Requests in service at once (-1: 1024 per core, "
        "at least 4096; 0: no limit)",
    )
    group.add_argument(
        "--queue-size",
        type=int,
        default=a.queue_size,
        help="Requests waiting for capacity (429 beyond)",
    )
    group.add_argument(
        "--queue-timeout-secs",
        type=float,
        default=a.queue_timeout_secs,
        help="Longest wait in the queue (503 beyond)",
    )
    group.add_argument(
        "--rate-limit-tokens-per-second",
        type=float,
        default=None,
        help="Sustained admissions per second",
    )
    timeouts = parser.add_argument_group("Connection Handling")
    timeouts.add_argument(
        "--shutdown-grace-period-secs",
        type=float,
        default=s.shutdown_grace_period_secs,
        help="Time in-flight requests get after SIGTERM",
    )
    timeouts.add_argument(
        "--header-read-timeout-secs",
        type=float,
        default=s.header_read_timeout_secs,
        help="A request must arrive this soon (0: no limit)",
    )
    timeouts.add_argument(
        "--idle-connection-timeout-secs",
        type=float,
        default=s.idle_connection_timeout_secs,
        help="Idle keep-alive connections close after this",
    )


def _security_groups(parser: argparse.ArgumentParser, d: GatewayConfig) -> None:
    tls = parser.add_argument_group("TLS/mTLS Security")
    tls.add_argument("--tls-cert-path", default=None, help="Gateway certificate (PEM)")
    tls.add_argument("--tls-key-path", default=None, help="Gateway private key (PEM)")
    tls.add_argument(
        "--client-cert-path",
        default=None,
        help="Client certificate presented to https workers (mTLS)",
    )
    tls.add_argument(
        "--client-key-path", default=None, help="Private key of the client certificate"
    )
    tls.add_argument(
        "--ca-cert-paths",
        nargs="*",
        default=[],
        help="CA certificates trusted for https workers",
    )
    control = parser.add_argument_group("Control Plane Authentication")
    control.add_argument(
        "--control-plane-api-keys",
        nargs="*",
        default=[],
        help="Keys for /workers and admin routes: id:name:role:key "
        "(role admin or user)",
    )
    control.add_argument(
        "--cors-allowed-origins",
        nargs="*",
        default=[],
        help="Origins browsers may call from, or '*'",
    )


def config_from_args(args: argparse.Namespace) -> tuple[GatewayConfig, list[str]]:
    """Map parsed flags onto the config tree; also return every problem found."""
    problems = _validate(args) + _observability_problems(args)
    problems += _routing_problems(args)
    problems += pd_problems(args)
    aliases = tuple(tuple(a.split("=", 1)) for a in args.model_alias if "=" in a)
    config = GatewayConfig(
        server=ServerConfig(
            host=args.host,
            port=args.port,
            max_payload_size_bytes=args.max_payload_size,
            request_id_headers=tuple(
                args.request_id_headers or DEFAULT_REQUEST_ID_HEADERS
            ),
            header_read_timeout_secs=args.header_read_timeout_secs,
            idle_connection_timeout_secs=args.idle_connection_timeout_secs,
            shutdown_grace_period_secs=args.shutdown_grace_period_secs,
            processes=args.workers,
        ),
        routing=_routing_config(args, aliases),
        load_monitor=LoadMonitorConfig(
            interval_secs=args.load_monitor_interval,
            only_for_load_policies=args.disable_load_monitoring,
        ),
        workers=WorkerConfig(
            urls=tuple(args.worker_urls),
            model_path=args.model_path,
            request_timeout_secs=args.request_timeout_secs,
            pool_idle_timeout_secs=args.upstream_pool_idle_timeout_secs,
            startup_timeout_secs=args.worker_startup_timeout_secs,
            startup_delay_secs=args.worker_startup_delay,
            startup_check_interval_secs=args.worker_startup_check_interval,
            health_check_endpoint=args.health_check_endpoint,
            health_check_timeout_secs=args.health_check_timeout_secs,
        ),
        retry=_retry_config(args),
        circuit_breaker=_breaker_config(args),
        health=_health_config(args),
        admission=_admission_config(args),
        security=_security_config(args),
        logging=LoggingConfig(
            level=args.log_level,
            json=args.log_json,
            dir=args.log_dir,
            access_log=args.access_log,
        ),
        observability=_observability_config(args),
        pd=pd_config(args),
    )
    return config, problems


def _observability_config(args: argparse.Namespace) -> ObservabilityConfig:
    buckets = args.prometheus_duration_buckets
    return ObservabilityConfig(
        prometheus_host=args.prometheus_host,
        prometheus_port=args.prometheus_port,
        duration_buckets=(
            tuple(sorted(set(buckets)))
            if buckets
            else ObservabilityConfig().duration_buckets
        ),
        enable_trace=args.enable_trace,
        otlp_traces_endpoint=args.otlp_traces_endpoint,
    )


def _observability_problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if not 1 <= args.prometheus_port <= 65535:
        problems.append(
            f"--prometheus-port must be between 1 and 65535, got {args.prometheus_port}"
        )
    for bound in args.prometheus_duration_buckets or ():
        if not 0 < bound < float("inf"):
            problems.append(
                f"--prometheus-duration-buckets must be positive numbers, got {bound}"
            )
    if args.enable_trace and not args.otlp_traces_endpoint:
        problems.append("--otlp-traces-endpoint must be host:port with --enable-trace")
    return problems


def _retry_config(args: argparse.Namespace) -> RetryConfig:
    return RetryConfig(
        max_attempts=1 if args.disable_retries else args.retry_max_retries,
        initial_backoff_ms=args.retry_initial_backoff_ms,
        backoff_multiplier=args.retry_backoff_multiplier,
        max_backoff_ms=args.retry_max_backoff_ms,
        jitter_factor=args.retry_jitter_factor,
    )


def _breaker_config(args: argparse.Namespace) -> CircuitBreakerConfig:
    return CircuitBreakerConfig(
        enabled=not args.disable_circuit_breaker,
        failure_threshold=args.cb_failure_threshold,
        success_threshold=args.cb_success_threshold,
        timeout_secs=args.cb_timeout_duration_secs,
        window_secs=args.cb_window_duration_secs,
    )


def _health_config(args: argparse.Namespace) -> HealthConfig:
    return HealthConfig(
        enabled=not args.disable_health_check,
        interval_secs=args.health_check_interval_secs,
        failure_threshold=args.health_failure_threshold,
        success_threshold=args.health_success_threshold,
        remove_unhealthy=bool(args.remove_unhealthy_workers),
    )


def _admission_config(args: argparse.Namespace) -> AdmissionConfig:
    return AdmissionConfig(
        max_concurrent_requests=args.max_concurrent_requests,
        queue_size=args.queue_size,
        queue_timeout_secs=args.queue_timeout_secs,
        rate_limit_tokens_per_second=args.rate_limit_tokens_per_second,
    )


def _security_config(args: argparse.Namespace) -> SecurityConfig:
    keys = tuple(
        (parts[0], parts[1], parts[2], parts[3])
        for parts in (k.split(":", 3) for k in args.control_plane_api_keys)
        if len(parts) == 4
    )
    return SecurityConfig(
        api_key=args.api_key,
        control_plane_keys=keys,
        cors_allowed_origins=tuple(args.cors_allowed_origins),
        tls_cert_path=args.tls_cert_path,
        tls_key_path=args.tls_key_path,
        client_cert_path=args.client_cert_path,
        client_key_path=args.client_key_path,
        ca_cert_paths=tuple(args.ca_cert_paths),
    )


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
    for key in args.control_plane_api_keys:
        parts = key.split(":", 3)
        if len(parts) != 4 or parts[2] not in ("admin", "user") or not parts[3]:
            problems.append(
                "--control-plane-api-keys entries must be "
                "id:name:role:key with role admin or user"
            )
    if bool(args.tls_cert_path) != bool(args.tls_key_path):
        problems.append("--tls-cert-path and --tls-key-path go together")
    at_least_one = {
        "--workers": args.workers,
        "--retry-max-retries": args.retry_max_retries,
        "--cb-failure-threshold": args.cb_failure_threshold,
        "--cb-success-threshold": args.cb_success_threshold,
        "--health-failure-threshold": args.health_failure_threshold,
        "--health-success-threshold": args.health_success_threshold,
    }
    for flag, value in at_least_one.items():
        if value < 1:
            problems.append(f"{flag} must be at least 1, got {value}")
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

    if config.server.processes > 1:
        from smg.multiprocess import run_processes

        sys.exit(run_processes(config))

    from smg.gateway import run

    sys.exit(run(config))
