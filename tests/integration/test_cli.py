"""The command line: the original's flags, refusals by name, validation in one pass."""

from __future__ import annotations

import subprocess

import pytest

from tests.procs import SMG


def run_smg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMG, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    "flag", ["--enable-mesh", "--enable-igw", "--service-discovery"]
)
def test_unbuilt_original_flag_is_refused_by_name(flag: str) -> None:
    result = run_smg("launch", flag, "1")
    assert result.returncode == 2
    assert flag in result.stderr and "not support" in result.stderr


def test_bare_form_refuses_unbuilt_flags_too() -> None:
    result = run_smg("--worker-urls", "http://127.0.0.1:9", "--enable-mesh")
    assert result.returncode == 2 and "--enable-mesh" in result.stderr


def test_every_invalid_value_is_reported_at_once() -> None:
    result = run_smg(
        "--port",
        "0",
        "--worker-urls",
        "grpc://x:1",
        "--model-alias",
        "bad",
        "--request-timeout-secs",
        "0",
    )
    assert result.returncode == 2
    for fragment in ("--port", "grpc://x:1", "--model-alias", "--request-timeout-secs"):
        assert fragment in result.stderr


def test_help_is_grouped_like_the_original() -> None:
    result = run_smg("launch", "--help")
    assert result.returncode == 0
    for group in (
        "Worker Configuration:",
        "Routing Policy:",
        "Request Handling:",
        "Logging:",
    ):
        assert group in result.stdout


def test_unknown_flag_is_an_error() -> None:
    result = run_smg("--no-such-flag")
    assert result.returncode == 2 and "--no-such-flag" in result.stderr
