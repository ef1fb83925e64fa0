from __future__ import annotations

from smg.sim.stats import SimStats, ThroughputMeter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_snapshot_counts_paths_and_decodes_the_last_request() -> None:
    stats = SimStats()
    stats.record("POST", "/generate", [(b"a", b"1")], b'{"text": "x"}')
    headers = [(b"x-request-id", b"r1"), (b"x-tag", b"a"), (b"x-tag", b"b")]
    stats.record("POST", "/generate", headers, b'{"text": "y"}')
    snapshot = stats.snapshot(running=2, waiting=1)
    assert snapshot["requests"] == {"/generate": 2}
    last = snapshot["last_requests"]["/generate"]
    assert last["headers"] == {"x-request-id": "r1", "x-tag": "a, b"}
    assert last["body"] == {"text": "y"} and last["method"] == "POST"
    assert (snapshot["running"], snapshot["waiting"]) == (2, 1)


def test_non_json_body_is_reported_as_null_with_its_size() -> None:
    stats = SimStats()
    stats.record("POST", "/x", [], b"not json")
    assert stats.snapshot(0, 0)["last_requests"]["/x"]["body"] is None
    assert stats.snapshot(0, 0)["last_requests"]["/x"]["body_size"] == 8


def test_reset_clears_counters_but_not_the_stalled_gauge() -> None:
    stats = SimStats()
    stats.record("GET", "/health", [], b"")
    stats.completed, stats.stalled = 3, 1
    stats.reset()
    assert stats.snapshot(0, 0)["requests"] == {} and stats.completed == 0
    assert stats.stalled == 1


def test_cache_hit_rate_is_hit_tokens_over_prompt_tokens() -> None:
    stats = SimStats()
    assert stats.cache_hit_rate == 0.0
    stats.prompt_tokens, stats.cache_hit_tokens = 200, 50
    assert stats.cache_hit_rate == 0.25


def test_throughput_is_read_over_closed_windows() -> None:
    clock = FakeClock()
    meter = ThroughputMeter(window_s=1.0, clock=clock)
    clock.now += 0.5
    assert meter.read(100) == 0.0  # window still open
    clock.now += 1.5
    assert meter.read(400) == 200.0
    clock.now += 0.1
    assert meter.read(500) == 200.0  # unchanged until the next window closes
    assert meter.read(0) == 0.0  # counters reset
