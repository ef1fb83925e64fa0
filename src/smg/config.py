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
POLICIES = ("random", "round_robin", "power_of_two", "passthrough", "cache_aware")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 30000
    # Largest request body accepted; larger ones get 413 before any routing.
    max_payload_size_bytes: int = 536_870_912
    # Headers whose first valid value becomes the request id, in order.
    request_id_headers: tuple[str, ...] = DEFAULT_REQUEST_ID_HEADERS


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
    # cache_aware: bound on characters kept per model tree; oldest go first.
    max_tree_size: int = 67_108_864
    eviction_interval_secs: int = 60


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    urls: tuple[str, ...] = ()
    # Sent as `Authorization: Bearer` to workers when the client sends none.
    api_key: str | None = None
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
class LoggingConfig:
    level: str = "info"
    json: bool = False
    dir: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    server: ServerConfig = field(default_factory=ServerConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    workers: WorkerConfig = field(default_factory=WorkerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
