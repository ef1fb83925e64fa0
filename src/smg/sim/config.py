"""The simulated engine's configuration: the only home of its defaults.

`cli.py` maps flags onto these fields. Latency defaults are small enough for quick
tests yet large enough that streams visibly trickle in a demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LatencyConfig:
    # Time to first token = ttft_base + prefill per *uncached* prompt token.
    ttft_base_ms: float = 5.0
    prefill_ms_per_token: float = 0.05
    # Inter-token latency = itl_base + itl_per_running x running requests.
    itl_base_ms: float = 2.0
    itl_ms_per_running: float = 0.05

    @property
    def is_zero(self) -> bool:
        """True when every delay is zero, so the engine may skip sleeping."""
        return not (
            self.ttft_base_ms
            or self.prefill_ms_per_token
            or self.itl_base_ms
            or self.itl_ms_per_running
        )


NO_LATENCY = LatencyConfig(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Start-up fault switches; `POST /sim/faults` changes a live copy."""

    # Share of inference requests answered with `fail_status` (0 disables).
    fail_rate: float = 0.0
    fail_status: int = 500
    # Extra wait before an inference request is served (0 disables).
    delay_ms: float = 0.0
    # Inference requests are never answered (until the client goes away).
    hang: bool = False
    # Close the connection after this many stream chunks; a non-streamed answer
    # is not sent at all. None disables.
    drop_after_chunks: int | None = None
    # Health checks answer 503.
    fail_health: bool = False


@dataclass(frozen=True, slots=True)
class PdConfig:
    """Prefill/decode disaggregation: which half of the work this worker does."""

    # "prefill" or "decode"; None serves whole requests (no disaggregation).
    role: str | None = None
    # Prefill: port of the listener that hands out each room's KV; 0 picks a free
    # one. Decode: where to claim when a request's bootstrap_port is null.
    bootstrap_port: int | None = None
    # vLLM-style KV connector (NixlConnector, MooncakeConnector); None means
    # SGLang-style bootstrap rooms.
    kv_connector: str | None = None
    # A decode worker waits this long for its room's KV before failing.
    claim_timeout_secs: float = 5.0
    # Rooms nobody claims are dropped after this long.
    room_ttl_secs: float = 60.0


@dataclass(frozen=True, slots=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    # Model id served in /v1/models and echoed when a request names none.
    model: str = "sim-model"
    # Seeds output text and injected failures; same seed, same answers.
    seed: int = 0
    # Only reported in server info; the simulator is one scheduler.
    dp_size: int = 1
    # Requests decoding at once; more wait in a FIFO queue.
    max_running_requests: int = 64
    # Waiting requests beyond this bound are answered 503.
    max_queue: int = 2048
    # Prefix cache capacity in tokens; 0 disables caching.
    cache_tokens: int = 262_144
    # KV capacity reported in loads: token_usage = reserved tokens / this.
    max_total_tokens: int = 262_144
    # Completion length when a request sets none.
    max_tokens_default: int = 16
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    pd: PdConfig = field(default_factory=PdConfig)
