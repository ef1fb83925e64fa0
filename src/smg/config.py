"""The gateway's configuration: one frozen tree, the only home of every default.

`cli.py` maps flags onto these fields; nothing else holds a default value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_REQUEST_ID_HEADERS = (
    "x-request-id",
    "x-correlation-id",
    "x-trace-id",
    "request-id",
)
POLICIES = (
    "random",
    "round_robin",
    "passthrough",
    "cache_aware",
    "power_of_two",
    "least_load",
    "manual",
    "consistent_hashing",
    "prefix_hash",
)
# `bucket` splits by request length and is meant for prefill workers only.
PREFILL_POLICIES = (*POLICIES, "bucket")
POWER_OF_TWO_LOAD_METRICS = ("expected_wait", "requests", "least_requests")
ASSIGNMENT_MODES = ("random", "min_load", "min_group", "delegate")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 30000
    # Largest request body accepted; larger ones get 413 before any routing.
    max_payload_size_bytes: int = 536_870_912
    # Headers whose first valid value becomes the request id, in order.
    request_id_headers: tuple[str, ...] = DEFAULT_REQUEST_ID_HEADERS
    # A connection must send a full request head this soon (slowloris guard).
    header_read_timeout_secs: float = 30.0
    # Keep-alive connections idle this long are closed; 0 keeps them.
    idle_connection_timeout_secs: float = 90.0
    # On SIGTERM, in-flight requests get this long to finish.
    shutdown_grace_period_secs: float = 180.0
    # Gateway processes sharing the port (SO_REUSEPORT), each with its own
    # routing state; 1 runs the gateway in this process (--workers).
    processes: int = 1


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    # Load-balancing policy for every model.
    policy: str = "cache_aware"
    # Client-facing model names mapped to the canonical ones (alias, canonical).
    model_aliases: tuple[tuple[str, str], ...] = ()
    # cache_aware: a prefix match above this ratio keeps the request on its holder.
    cache_threshold: float = 0.3
    # cache_aware: spill to the least-loaded worker when the holder's load exceeds
    # both mean + abs and mean * rel.
    balance_abs_threshold: int = 64
    balance_rel_threshold: float = 1.5
    # cache_aware: bound on characters (tokens for token-id requests) kept per
    # model index; least recently used prefix tails go first.
    max_tree_size: int = 67_108_864
    # cache_aware: accepted for compatibility; eviction happens on insert, so the
    # bound holds at every moment rather than once per interval.
    eviction_interval_secs: int = 60
    # cache_aware: tokens per index block for token-id requests (engine page size).
    block_size_tokens: int = 16
    # PD prefill and decode policies; None uses `policy`. Stored until PD exists.
    prefill_policy: str | None = None
    decode_policy: str | None = None
    # prefix_hash: token ids hashed (four times as many characters for text).
    prefix_token_count: int = 256
    # prefix_hash: a ring target is overloaded above max(avg * factor, avg + abs).
    prefix_hash_load_factor: float = 1.25
    prefix_hash_balance_abs_threshold: int = 10
    # least_load and power_of_two: expected wait = queued tokens / throughput
    # + weight * k / (1 - k), k the KV-cache usage.
    least_load_kv_pressure_weight: float = 0.15
    least_load_default_throughput: float = 2000.0
    least_load_mean_prefill_tokens: int = 1024
    # least_load: skip workers with this many waiting requests; 0 disables.
    least_load_max_waiting_requests: int = 0
    # power_of_two: expected_wait, requests (in flight here) or least_requests.
    power_of_two_load_metric: str = "expected_wait"
    # manual and sticky sessions: keys unused this long are forgotten.
    max_idle_secs: int = 14_400
    # manual and sticky sessions: how a new key gets its worker; None picks
    # random for manual and delegate for the routing-key override.
    assignment_mode: str | None = None
    # Sticky sessions on any policy but manual and consistent_hashing.
    routing_key_override: bool = False
    # Headers read for the routing key, first valid one wins.
    routing_key_headers: tuple[str, ...] = ("x-smg-routing-key",)
    # bucket: seconds of request sizes behind each boundary adjustment.
    bucket_adjust_interval_secs: int = 5
    # One routable entry per data-parallel rank, the rank sent in the body.
    dp_aware: bool = False


@dataclass(frozen=True, slots=True)
class LoadMonitorConfig:
    # Seconds between polls of every ready worker's /v1/loads.
    interval_secs: float = 10.0
    # Poll only when the policy uses loads (--disable-load-monitoring).
    only_for_load_policies: bool = False


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    urls: tuple[str, ...] = ()
    # Model id for workers whose model cannot be discovered.
    model_path: str | None = None
    # Upstream timeout: no byte from the worker for this long gives 504.
    request_timeout_secs: float = 1800.0
    # Idle pooled connections to workers are closed after this long; keep it
    # under the engines' own keep-alive (5 s for SGLang and vLLM). 0 = forever.
    pool_idle_timeout_secs: float = 3.0
    # Startup probing: first probe after the delay, then with growing gaps up to
    # the check interval, until the timeout gives up on the worker.
    startup_timeout_secs: float = 1800.0
    startup_delay_secs: float = 0.0
    startup_check_interval_secs: float = 30.0
    health_check_endpoint: str = "/health"
    health_check_timeout_secs: float = 5.0


@dataclass(frozen=True, slots=True)
class RetryConfig:
    # Total attempts per request, the first included; 1 disables retries.
    max_attempts: int = 5
    initial_backoff_ms: int = 50
    backoff_multiplier: float = 1.5
    max_backoff_ms: int = 30_000
    # Each backoff is scaled by a random factor in [1 - jitter, 1 + jitter].
    jitter_factor: float = 0.2
    retryable_status_codes: tuple[int, ...] = (408, 429, 500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    # --disable-circuit-breaker turns it off.
    enabled: bool = True
    # Consecutive failures that open the circuit.
    failure_threshold: int = 10
    # Consecutive half-open successes that close it again.
    success_threshold: int = 3
    # Time an open circuit waits before letting a trial request through.
    timeout_secs: float = 60.0
    window_secs: float = 120.0
    # Statuses that mean "busy", counted neither as success nor as failure.
    capacity_status_codes: tuple[int, ...] = (429,)


@dataclass(frozen=True, slots=True)
class HealthConfig:
    # --disable-health-check turns periodic probing off.
    enabled: bool = True
    interval_secs: float = 60.0
    failure_threshold: int = 3
    success_threshold: int = 2
    # Failed workers are dropped from the registry instead of kept listed.
    remove_unhealthy: bool = False


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    # Requests served at once; 0 disables the limit, -1 derives it from the
    # host (1024 per core, at least 4096).
    max_concurrent_requests: int = -1
    # Requests waiting for a slot; beyond it 429. 0 rejects at once.
    queue_size: int = 100
    queue_timeout_secs: float = 60.0
    # Sustained admissions per second; unset means no rate limit.
    rate_limit_tokens_per_second: float | None = None


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    # Serving routes need `Authorization: Bearer <api_key>` when set; it is also
    # sent to workers when the client sends no Authorization of its own.
    api_key: str | None = None
    # Control-plane keys: (id, name, role, key); role is admin or user.
    control_plane_keys: tuple[tuple[str, str, str, str], ...] = ()
    cors_allowed_origins: tuple[str, ...] = ()
    tls_cert_path: str | None = None
    tls_key_path: str | None = None
    # mTLS to workers: the gateway's client identity and the CAs it trusts.
    client_cert_path: str | None = None
    client_key_path: str | None = None
    ca_cert_paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "info"
    json: bool = False
    dir: str | None = None
    # One INFO line per request on the `smg.access` logger, with
    # --enable-access-log; off by default to keep the hot path lean.
    access_log: bool = False


DEFAULT_DURATION_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
    30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 480.0, 900.0, 1200.0,
    1800.0, 2700.0, 3600.0, 5400.0, 7200.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    # Address of the Prometheus /metrics listener; None binds the unspecified
    # address of the serving host's family (:: for IPv6, else 0.0.0.0).
    prometheus_host: str | None = None
    prometheus_port: int = 29000
    # Bucket bounds of every *_duration_seconds and *_ttft_seconds histogram.
    duration_buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS
    # OpenTelemetry spans over OTLP gRPC; off unless --enable-trace.
    enable_trace: bool = False
    otlp_traces_endpoint: str = "localhost:4317"


@dataclass(frozen=True, slots=True)
class PdConfig:
    # --pd-disaggregation: each request goes to a prefill and a decode worker.
    enabled: bool = False
    # Prefill workers: (url, SGLang bootstrap port or None for null).
    prefill: tuple[tuple[str, int | None], ...] = ()
    decode_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    server: ServerConfig = field(default_factory=ServerConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    load_monitor: LoadMonitorConfig = field(default_factory=LoadMonitorConfig)
    workers: WorkerConfig = field(default_factory=WorkerConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    pd: PdConfig = field(default_factory=PdConfig)
