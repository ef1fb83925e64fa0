from __future__ import annotations

import argparse

import pytest

from smg.sim.cli import add_arguments, config_from_args
from smg.sim.config import NO_LATENCY, LatencyConfig, SimConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="smg sim")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_come_from_the_config() -> None:
    assert config_from_args(parse()) == SimConfig()


@pytest.mark.parametrize("flags", [("--fast",), ("--latency", "none")])
def test_fast_and_latency_none_zero_every_delay(flags: tuple[str, ...]) -> None:
    assert config_from_args(parse(*flags)).latency == NO_LATENCY


def test_flags_map_onto_config_fields() -> None:
    config = config_from_args(
        parse(
            "--model-path",
            "org/m",
            "--itl-base-ms",
            "7",
            "--drop-after-chunks",
            "3",
            "--fail-health",
            "--max-running-requests",
            "2",
        )
    )
    assert config.model == "org/m" and config.max_running_requests == 2
    assert config.latency == LatencyConfig(itl_base_ms=7.0)
    assert config.faults.drop_after_chunks == 3 and config.faults.fail_health


def test_every_invalid_flag_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        config_from_args(parse("--fail-rate", "2", "--max-running-requests", "0"))
    message = str(caught.value)
    assert "--fail-rate must be from 0 to 1, got 2.0" in message
    assert "--max-running-requests must be at least 1, got 0" in message
