"""Fixtures that put the gateway in front of a real engine: `mlx_lm.server`.

The engine and its tiny random Llama come from scripts/install-real-workers.sh.
When they are missing the tests skip, unless SMG_REQUIRE_REAL_WORKERS=1 (as in
CI), where a missing install is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openai import OpenAI

from tests.procs import SMG, Proc, free_port, metrics_flags, spawn, wait_http

INSTALL_SCRIPT = "scripts/install-real-workers.sh"

# Generation is a few milliseconds; the margin is for a loaded 2-core CI box.
REQUEST_TIMEOUT_S = 60.0
STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class MlxInstall:
    """Where the install script put the engine and the model."""

    server: Path
    model_dir: Path

    @property
    def model(self) -> str:
        # mlx_lm.server only answers requests whose `model` is "default_model"
        # or exactly the path it was started with; any other name makes it try
        # a hub download.
        return str(self.model_dir)


def real_workers_dir() -> Path:
    default = Path.home() / ".cache" / "smg-real-workers"
    return Path(os.environ.get("SMG_REAL_WORKERS_DIR", default)).resolve()


def _missing_paths(install: MlxInstall) -> list[str]:
    # The marker is written last, so a model without it is incomplete.
    required = (install.server, install.model_dir / ".smg-generated")
    return [str(path) for path in required if not path.exists()]


@pytest.fixture(scope="session")
def mlx_install() -> MlxInstall:
    """The installed engine; skips (or fails when required) if it is missing."""
    base = real_workers_dir()
    install = MlxInstall(
        base / "venv-mlx" / "bin" / "mlx_lm.server", base / "tiny-llama"
    )
    missing = _missing_paths(install)
    if not missing:
        return install

    message = f"real worker not installed; run `bash {INSTALL_SCRIPT}` (missing: "
    message += ", ".join(missing) + ")"
    if os.environ.get("SMG_REQUIRE_REAL_WORKERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _hub_cache_for(listing: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Choose the HF cache dir that gives the wanted `/v1/models` behaviour.

    mlx_lm.server scans the HF cache before listing its local model: an existing
    empty cache gives a proper list holding the model path, while a missing one
    raises inside the handler and leaves a 200 with an empty body.
    """
    cache = tmp_path_factory.mktemp("hf-hub")
    return cache if listing == "models-listed" else cache / "absent"


def _start_until_ready(proc: Proc, path: str) -> Proc:
    """Wait for `proc` to answer `path`; stop it if it never does."""
    try:
        wait_http(proc, path, timeout=STARTUP_TIMEOUT_S)
    except BaseException:
        proc.stop()
        raise
    return proc


@pytest.fixture(scope="module", params=["models-listed", "models-empty"])
def mlx_server(
    request: pytest.FixtureRequest,
    mlx_install: MlxInstall,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Proc]:
    """A running mlx_lm.server, once per `/v1/models` behaviour."""
    port = free_port()
    args = [str(mlx_install.server), "--model", mlx_install.model]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    env = {
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(_hub_cache_for(request.param, tmp_path_factory)),
    }
    proc = _start_until_ready(spawn("mlx-lm-server", args, port, env), "/health")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gateway(mlx_server: Proc) -> Iterator[Proc]:
    """The gateway with the engine as its only worker."""
    port = free_port()
    flags = ["--worker-urls", mlx_server.url, "--policy", "round_robin"]
    flags += ["--worker-startup-check-interval", "1", *metrics_flags()]
    args = [*SMG, "launch", "--host", "127.0.0.1", "--port", str(port), *flags]
    # Started by hand rather than with start_gateway so that a gateway which
    # never becomes ready is stopped instead of outliving the test run.
    proc = _start_until_ready(spawn("gateway-mlx", args, port), "/readiness")
    yield proc
    proc.stop()


def _client(base_url: str) -> OpenAI:
    # No SDK retries: a failed attempt must show up as the failure it is.
    return OpenAI(
        base_url=base_url + "/v1",
        api_key="x",
        max_retries=0,
        timeout=REQUEST_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def client(gateway: Proc) -> OpenAI:
    """An OpenAI SDK client that talks to the gateway."""
    return _client(gateway.url)


@pytest.fixture(scope="module")
def engine_client(mlx_server: Proc) -> OpenAI:
    """An OpenAI SDK client that talks to the engine directly, for reference."""
    return _client(mlx_server.url)


@pytest.fixture(scope="session")
def model(mlx_install: MlxInstall) -> str:
    return mlx_install.model
